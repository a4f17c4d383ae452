from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.functional import empty

from .models import Membership

SESSION_KEY = "organization_id"
request_log = logging.getLogger("sendon_results.requests")


class OrganizationMiddleware:
    """Sets `request.organizations` (the user's) and `request.organization` (the one they
    work in, kept in the session; the first one until they switch).

    Only for views that need a signed-in user: /healthz and the public pages never touch
    the session, so they answer even while the database does not.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organizations = []
        request.organization = None
        request.is_owner = False
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], *args: object
    ) -> None:
        if getattr(view_func, "login_required", True) and request.user.is_authenticated:
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


class RequestLogMiddleware:
    """One log line per request: method, path, status, milliseconds, user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if getattr(user, "_wrapped", None) is empty:
            user = None  # not loaded by the request: do not query the session just to log
        request_log.info(
            "method=%s path=%s status=%s ms=%.1f user=%s",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            user.pk if user is not None and user.is_authenticated else "-",
        )
        return response
