"""The console's error pages whatever DEBUG says.

With DEBUG on (the embedded default that `make run` serves) Django answers a mistyped
address with a page listing every URL pattern, and an error with its traceback and
settings. A developer finds the same traceback in the console's log (Django logs every
uncaught exception with it); the browser gets the page a user would get in production.
Only Django's own answers to an exception are replaced: a view's deliberate 400 (a form's
errors) or 404 stays as the view made it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import get_nonce
from django.utils import translation
from django.utils.csp import CSP, build_policy

from . import views

# Where the exception Django turned into an answer is kept on the request.
ERROR_ATTR = "_error_page_exception"
REPLACED_STATUSES = (400, 404, 500)  # the statuses of Django's technical pages


def _remember(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent for an exception anywhere (a middleware's too, such as the session or the user
    # loaded from a database that does not answer), while it is being handled.
    if request is not None:
        setattr(request, ERROR_ATTR, sys.exc_info()[1])


got_request_exception.connect(_remember, dispatch_uid="sendon_results.errorpages")


class ErrorPagesMiddleware:
    """Under DEBUG, puts the console's page in place of Django's technical 400/404/500 —
    on the same answer, so the headers of the middleware inside (no-store, frame options,
    the language) stay, and with the Content-Security-Policy Django's pages go
    without. Without DEBUG Django already calls the handlers in urls.py."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not settings.DEBUG or response.streaming:
            return response
        if response.status_code not in REPLACED_STATUSES:
            return response
        error = getattr(request, ERROR_ATTR, None)
        # No view was found for the address (Resolver404), or one failed: Django's page.
        if error is None and request.resolver_match is not None:
            return response
        language = getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE)
        with translation.override(language):
            page = _page(request, response.status_code, error)
        response.status_code = page.status_code
        response.content = page.content
        for header in ("Content-Type", "Retry-After"):
            if header in page:
                response[header] = page[header]
        if "Content-Length" in response:  # set inside for Django's page
            response["Content-Length"] = str(len(response.content))
        # Django's pages opt out of the Content-Security-Policy; the console's do not.
        if settings.SECURE_CSP and CSP.HEADER_ENFORCE not in response:
            policy = build_policy(settings.SECURE_CSP, get_nonce(request))
            response.headers[str(CSP.HEADER_ENFORCE)] = policy
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # A view's Http404 or BadRequest sends no signal: keep it here. Django still
        # answers (and logs) it as usual.
        setattr(request, ERROR_ATTR, exception)


def _page(request: HttpRequest, status: int, error: BaseException | None) -> HttpResponse:
    if status == 404:
        return views.page_not_found(request)
    if status == 400:
        return views.bad_request(request)
    return views.server_error_page(request, error)
