from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .models import Organization

SESSION_KEY = "organization_id"


class OrganizationMiddleware:
    """Sets `request.organizations` (the user's) and `request.organization` (the one they
    work in, kept in the session; the first one until they switch)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organizations = []
        request.organization = None
        if request.user.is_authenticated:
            request.organizations = list(Organization.objects.for_user(request.user))
            chosen = request.session.get(SESSION_KEY)
            request.organization = next(
                (org for org in request.organizations if org.pk == chosen),
                request.organizations[0] if request.organizations else None,
            )
        return self.get_response(request)


class LanguageMiddleware:
    """Korean unless the user chose otherwise with the language switch (its cookie).

    Unlike Django's LocaleMiddleware this ignores the browser's Accept-Language: the
    console's users are Korean operators first, whatever their browser was set up with.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
