"""How long a sign-in lasts: SESSION_IDLE_MINUTES without activity, and SESSION_MAX_HOURS
after signing in whatever the activity. Past either, the next page signs the user out and
sends them to the sign-in page with a message saying why.

Polling is not activity: a list that refreshes a running job's row by itself (exports,
statements, the list page's export notice) is an open tab, not a person at it. Such a
request is still answered while the session lasts, and one that comes after the limit
signs out like any other (the whole page goes to the sign-in page, through HX-Redirect).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.http import urlencode
from django.utils.translation import ngettext

SIGNED_IN_AT = "signed_in_at"  # session keys, in seconds since the epoch
ACTIVE_AT = "active_at"
# The session is written for activity at most once a minute, not on every page.
ACTIVITY_RESOLUTION = 60
# Views that htmx polls on its own while a job runs: answered, but no sign of a person.
POLLING_VIEWS = frozenset(
    {
        "export_row",
        "export_notice",
        "statement_row",
        "confirmation_row",
        "result_row",
        "result_progress",
    }
)


@receiver(user_logged_in, dispatch_uid="sendon_results.sessions.signed_in")
def _start_clocks(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[SIGNED_IN_AT] = now
        request.session[ACTIVE_AT] = now


def _expiry_message(request: HttpRequest, now: int) -> str | None:
    """Why this session is over, or None while it lasts (and then note the activity)."""
    session = request.session
    signed_in_at = session.setdefault(SIGNED_IN_AT, now)  # a session older than this module
    active_at = session.setdefault(ACTIVE_AT, now)
    if now - signed_in_at > settings.SESSION_MAX_HOURS * 3600:
        return ngettext(
            "You were signed out %(count)d hour after signing in. Sign in again.",
            "You were signed out %(count)d hours after signing in. Sign in again.",
            settings.SESSION_MAX_HOURS,
        ) % {"count": settings.SESSION_MAX_HOURS}
    if now - active_at > settings.SESSION_IDLE_MINUTES * 60:
        return ngettext(
            "You were signed out after %(count)d minute without activity. Sign in again.",
            "You were signed out after %(count)d minutes without activity. Sign in again.",
            settings.SESSION_IDLE_MINUTES,
        ) % {"count": settings.SESSION_IDLE_MINUTES}
    match = request.resolver_match
    polling = match is not None and match.url_name in POLLING_VIEWS
    if not polling and now - active_at >= ACTIVITY_RESOLUTION:
        session[ACTIVE_AT] = now
    return None


def _sign_in_again(request: HttpRequest) -> HttpResponse:
    """To the sign-in page, back to this page afterwards. An htmx request is a fragment of
    the page the browser shows: that page goes to the sign-in page, and comes back."""
    if request.headers.get("HX-Request") != "true":
        return redirect_to_login(request.get_full_path())
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    following = (current.path or "/") + (f"?{current.query}" if current.query else "")
    response = HttpResponse(status=204)
    response["HX-Redirect"] = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': following})}"
    return response


class SessionTimeoutMiddleware:
    """Signs out a session past its idle or absolute limit, on the pages that need a
    signed-in user (the public ones never touch the session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], *args: object
    ) -> HttpResponse | None:
        if not getattr(view_func, "login_required", True) or not request.user.is_authenticated:
            return None
        message = _expiry_message(request, int(time.time()))
        if message is None:
            return None
        logout(request)
        messages.info(request, message, fail_silently=True)
        return _sign_in_again(request)
