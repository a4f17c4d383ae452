from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .models import Membership

SESSION_KEY = "organization_id"


class OrganizationMiddleware:
    """Sets `request.organizations` (the user's) and `request.organization` (the one they
    work in, kept in the session; the first one until they switch)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organizations = []
        request.organization = None
        request.is_owner = False
        if request.user.is_authenticated:
            memberships = list(
                Membership.objects.filter(user=request.user)
                .select_related("organization")
                .order_by("organization__name", "organization_id")
            )
            request.organizations = [m.organization for m in memberships]
            chosen = request.session.get(SESSION_KEY)
            current = next(
                (m for m in memberships if m.organization_id == chosen),
                memberships[0] if memberships else None,
            )
            if current is not None:
                request.organization = current.organization
                request.is_owner = current.role == Membership.Role.OWNER
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
