"""Sign-in throttling for `/login/` and `/admin/login/`.

Two things are counted, in the shared cache (Redis through `CACHE_URL` in production, so
every web process sees the same counts; this process's memory when embedded):

- **one username from one address** (the pair): the first FREE_FAILURES failures cost
  nothing, each further one makes the next attempt wait twice as long (1 s, 2 s, 4 s …),
  and the LOGIN_FAILURE_LIMIT-th locks the pair for LOGIN_LOCKOUT_MINUTES;
- **one address, whatever the usernames**: LOGIN_ADDRESS_FAILURE_LIMIT failures lock the
  address for LOGIN_LOCKOUT_MINUTES (one address trying many usernames).

While a wait or a lock holds, an attempt is refused before the password is even checked
(429 with Retry-After, the right password included), and a refused attempt counts for
nothing: it neither extends the lock nor starts a new one, so a lock always ends
LOGIN_LOCKOUT_MINUTES after the failure that set it. The username alone, across every
address, is deliberately not locked: whoever knows it could then keep its owner out for as
long as they liked. A success forgets the pair's failures (never the address's).

A failure is counted before the password is checked (an atomic increment), so that forty
attempts sent at once are still forty attempts, not forty first ones.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import ngettext

from .addresses import client_address

logger = logging.getLogger(__name__)

FREE_FAILURES = 3  # failures of a pair before the first wait
FIRST_WAIT = 1  # seconds after the FREE_FAILURES-th failure; doubled by each further one
USERNAME_FIELD = "username"  # the field of both sign-in forms (the console's, the admin's)
PASSWORD_FIELD = "password"
ATTEMPT_ATTR = "_signin_attempt"  # set on a request whose attempt was counted
SUCCESS_ATTR = "_signin_succeeded"  # set on it by user_logged_in


@dataclass(frozen=True)
class Subject:
    """What failures are counted against: a pair or an address, with its limit."""

    key: str
    limit: int
    waits: bool  # the pair waits longer after each failure; an address is only locked

    @property
    def count_key(self) -> str:
        return f"{self.key}:n"

    @property
    def until_key(self) -> str:
        return f"{self.key}:until"


@dataclass
class Attempt:
    """An attempt that went through to the password check: the count each subject reached."""

    subjects: list[Subject]
    counts: list[int]


def address_block(address: str) -> str:
    """The unit an address is counted by: itself for IPv4, its /64 for IPv6 (one
    subscriber usually holds a whole /64, and could otherwise change address per try)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def normalize_username(username: str) -> str:
    """One count for every spelling of a name: NFKC like Django's forms, and case-folded."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def subjects_for(username: str, address: str) -> list[Subject]:
    """The pair and the address, keyed by a digest (no username is kept in the cache)."""
    block = address_block(address)
    pair = hashlib.sha256(f"{normalize_username(username)}\0{block}".encode()).hexdigest()
    place = hashlib.sha256(block.encode()).hexdigest()
    return [
        Subject(f"signin:pair:{pair}", settings.LOGIN_FAILURE_LIMIT, waits=True),
        Subject(f"signin:addr:{place}", settings.LOGIN_ADDRESS_FAILURE_LIMIT, waits=False),
    ]


def lockout_seconds() -> int:
    return settings.LOGIN_LOCKOUT_MINUTES * 60


def wait_after(subject: Subject, failures: int) -> int:
    """Seconds the next attempt must wait after `failures` failures of this subject."""
    if failures >= subject.limit:
        return lockout_seconds()
    if subject.waits and failures >= FREE_FAILURES:
        return min(FIRST_WAIT * 2 ** (failures - FREE_FAILURES), lockout_seconds())
    return 0


def reserve_attempt(subjects: list[Subject], now: float) -> tuple[int, Attempt | None]:
    """Seconds to wait before trying again, or 0 and the attempt, counted in advance."""
    for subject in subjects:
        until = cache.get(subject.until_key)
        if until is not None and until > now:
            return math.ceil(until - now), None
    counts = []
    for subject in subjects:
        # A fixed window: failures are forgotten LOGIN_LOCKOUT_MINUTES after the first.
        cache.add(subject.count_key, 0, timeout=lockout_seconds())
        try:
            count = cache.incr(subject.count_key)
        except ValueError:  # expired between the two calls
            cache.set(subject.count_key, 1, timeout=lockout_seconds())
            count = 1
        counts.append(count)
    for subject, count in zip(subjects, counts, strict=True):
        if count > subject.limit:
            # Sent alongside the one that reached the limit, before it set the lock.
            return lockout_seconds(), None
    return 0, Attempt(subjects, counts)


def record_outcome(attempt: Attempt, *, succeeded: bool, now: float) -> None:
    """After the password check: a success forgets the pair and gives the address its
    attempt back; a failure sets the wait its count calls for."""
    for subject, count in zip(attempt.subjects, attempt.counts, strict=True):
        if succeeded:
            if subject.waits:
                cache.delete_many([subject.count_key, subject.until_key])
            else:
                try:
                    cache.decr(subject.count_key)
                except ValueError:  # already forgotten
                    pass
            continue
        wait = wait_after(subject, count)
        if wait:
            until = now + wait
            current = cache.get(subject.until_key)
            if current is None or current < until:
                cache.set(subject.until_key, until, timeout=wait)


@receiver(user_logged_in, dispatch_uid="sendon_results.throttle.succeeded")
def _mark_success(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None:
        setattr(request, SUCCESS_ATTR, True)


def _sign_in_paths() -> set[str]:
    return {reverse("login"), reverse("admin:login")}


def refused(request: HttpRequest, wait: int) -> HttpResponse:
    """The page a refused attempt gets: 429, how long to wait, and Retry-After."""
    if wait >= 60:
        minutes = math.ceil(wait / 60)
        message = ngettext(
            "Too many failed sign-in attempts. Try again in %(count)d minute.",
            "Too many failed sign-in attempts. Try again in %(count)d minutes.",
            minutes,
        ) % {"count": minutes}
    else:
        message = ngettext(
            "Too many failed sign-in attempts. Try again in %(count)d second.",
            "Too many failed sign-in attempts. Try again in %(count)d seconds.",
            wait,
        ) % {"count": wait}
    following = request.POST.get("next", "") or request.GET.get("next", "")
    retry_url = request.path + (f"?{urlencode({'next': following})}" if following else "")
    context = {"message": message, "retry_url": retry_url}
    response = render(request, "registration/throttled.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response


class SignInThrottleMiddleware:
    """Counts sign-in attempts on both sign-in pages and refuses them while a wait or a
    lock holds. In process_view, so that a request CSRF refused is not an attempt."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        attempt: Attempt | None = getattr(request, ATTEMPT_ATTR, None)
        if attempt is not None:
            succeeded = getattr(request, SUCCESS_ATTR, False)
            try:
                record_outcome(attempt, succeeded=succeeded, now=time.time())
            except Exception:  # the cache server, whatever its client raises
                logger.error("sign-in outcome not counted: the cache cannot be reached")
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], *args: object
    ) -> HttpResponse | None:
        if request.method != "POST" or request.path_info not in _sign_in_paths():
            return None
        username = request.POST.get(USERNAME_FIELD, "")
        if not username or not request.POST.get(PASSWORD_FIELD, ""):
            return None  # the form refuses it without checking any password
        try:
            wait, attempt = reserve_attempt(
                subjects_for(username, client_address(request)), time.time()
            )
        except Exception:  # the cache server, whatever its client raises
            # Sign-in stays open while the cache is down rather than closed to everyone.
            logger.error("sign-in not throttled: the cache cannot be reached", exc_info=True)
            return None
        if attempt is None:
            logger.warning("sign-in refused for %s s: too many failures", wait)
            # A refused attempt is a failed sign-in like any other for the access record;
            # the credentials are cleansed as django.contrib.auth.authenticate does.
            credentials = {USERNAME_FIELD: username, PASSWORD_FIELD: "********************"}
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            return refused(request, wait)
        setattr(request, ATTEMPT_ATTR, attempt)
        return None
