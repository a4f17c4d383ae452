"""Site-wide views: the health check, and the error pages (400, 403, 404, 500, a refused
form, a database that does not answer). The error pages touch neither the database nor the
session, so they render whatever failed; under /api/ they answer JSON, like the API."""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .celery import app as celery_app

API_PREFIX = "/api/"
# What the API's clients read instead of a page (the API speaks English, as its errors do).
API_MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    500: "An unexpected error. Nothing was stored; retry later.",
    503: "The database is not available. Nothing was stored; retry.",
}
UNAVAILABLE_RETRY_AFTER = "30"  # seconds; unavailable.html reloads itself as often


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: a request the console cannot make sense of (a broken form, a bad header)."""
    return _error_page(request, 400, "errors/400.html")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403. (A role's refusal has its own page, accounts/forbidden.html.)"""
    return _error_page(request, 403, "errors/403.html")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a mistyped address, or a row that is not the organization's."""
    return _error_page(request, 404, "errors/404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500 (Django calls it while handling the exception)."""
    return server_error_page(request, sys.exc_info()[1])


def server_error_page(request: HttpRequest, error: BaseException | None) -> HttpResponse:
    """A 503 that reloads itself while the database cannot be reached (pages work again by
    themselves when it is back); the 500 page for anything else."""
    if isinstance(error, OperationalError | InterfaceError):
        response = _error_page(request, 503, "unavailable.html")
        response["Retry-After"] = UNAVAILABLE_RETRY_AFTER
        return response
    return _error_page(request, 500, "errors/500.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form the console refused to take (a page open too long, a
    sign-in or sign-out in another tab, cookies blocked). The reason stays in the log."""
    return _error_page(request, 403, "errors/csrf.html")


def _error_page(request: HttpRequest, status: int, template: str) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        message = API_MESSAGES[status]
        return JsonResponse({"errors": [{"field": "", "message": message}]}, status=status)
    # Only the request and the language: no user, session, messages nor organization, each
    # of which would ask the database that may be what failed.
    return render(request, template, {"status": status}, status=status)


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database (and the broker, when one is configured) answers; else 503."""
    checks = {"database": _reachable(_ping_database)}
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _reachable(_ping_broker)
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)


def _reachable(ping: Callable[[], None]) -> str:
    try:
        ping()
    except Exception as error:  # any failure to answer is "down", with its reason
        return f"error: {type(error).__name__}"
    return "ok"


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping_broker() -> None:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
