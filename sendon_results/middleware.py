"""Site-wide middleware: the language, one log line per request, and the headers that keep
pages out of caches and the browser's features off."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.functional import empty

request_log = logging.getLogger("sendon_results.requests")

# Browser features the console never uses, off for it and anything it could be made to
# embed. (Only features Chromium knows: an unknown one is an error in its console.)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
# A 429 whose view did not say how long to wait (RFC 6585 says to say it).
DEFAULT_RETRY_AFTER = "60"


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


class PrivacyHeadersMiddleware:
    """Permissions-Policy on every answer; `Cache-Control: no-store` on every answer that
    does not set its caching itself (pages, downloads and API answers hold phone numbers
    and message texts: no shared cache, nor the browser's disk, nor its back button may
    keep them), and on every answer to a signed-in user even if it does; Retry-After on a
    429 that lacks one. Static files keep WhiteNoise's caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if "Cache-Control" not in response.headers:
            response["Cache-Control"] = "no-store"
        elif _signed_in(request):
            patch_cache_control(response, no_store=True)
        if response.status_code == 429:
            response.headers.setdefault("Retry-After", DEFAULT_RETRY_AFTER)
        return response


def _signed_in(request: HttpRequest) -> bool:
    # Only a user the request already loaded: asking now would query the session (the
    # database) for a static file or a 503 page.
    user = getattr(request, "user", None)
    if user is None or getattr(user, "_wrapped", None) is empty:
        return False
    return bool(user.is_authenticated)
