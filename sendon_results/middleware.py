"""Site-wide middleware: the language, and one log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.functional import empty

request_log = logging.getLogger("sendon_results.requests")


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
