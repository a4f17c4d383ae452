"""Site-wide views: the health check, and the page for a database that does not answer."""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from .celery import app as celery_app


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a friendly 503 while the database cannot be reached (pages work again by
    themselves when it is back), Django's plain 500 page otherwise."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        # A page of its own: base.html would touch the session and user, i.e. the database.
        response = render(request, "unavailable.html", status=503)
        response["Retry-After"] = "30"
        return response
    return defaults.server_error(request)


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
