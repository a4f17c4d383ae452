"""Delivering the outbox to the platform: one signed POST per try, retried with back-off
for up to a day until the platform answers.

The platform's answers:
- 2xx: accepted. It confirms what it then did through the ingest API's status endpoint.
- 409 or 422: refused, with a reason (JSON {"reason": "…"}, or the body's text): the
  send goes back to what it was and the reason is shown on it.
- anything else (another status, a timeout, no connection): tried again after
  RETRY_AFTER[n] seconds; after the last, the console gives up as for a refusal.

A try first takes a lease on the message (its next try moved past the try's own time), so
two workers never post it at once and a worker killed mid-try leaves it to be tried again
when the lease ends. Every try of one message carries the same Idempotency-Key.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import OutboxMessage, PlatformEndpoint
from . import actions, signing
from .addresses import (
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    Refused,
    check_url,
)

logger = logging.getLogger(__name__)

# Seconds before each try after the first: 23 hours and 51 minutes in all.
RETRY_AFTER = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 28800)
REFUSALS = (409, 422)
ANSWER_BYTES = 10_000  # what is read of an answer
REASON_CHARACTERS = 300
USER_AGENT = "sendon-results-console"
State = OutboxMessage.State


@dataclass(frozen=True)
class Try:
    status: int | None  # the HTTP status, None when no answer came
    ms: int
    text: str = ""  # the answer's body
    error: str = ""  # what went wrong
    final: bool = False  # not worth another try (an address the console may not use)


def deliver_due(limit: int = 100) -> int:
    """Try every pending message whose time has come (beat, every minute); returns how
    many were tried."""
    due = OutboxMessage.objects.filter(state=State.PENDING, next_try_at__lte=timezone.now())
    tried = 0
    for message_id in due.order_by("next_try_at").values_list("id", flat=True)[:limit]:
        tried += deliver(message_id)
    return tried


def deliver(message_id: int, *, waited_for: bool = False) -> bool:
    """One try of the message, when it is pending, due and no one else is trying it. A
    request someone waits for (a test: no next try, so no round of beat's takes it)
    is tried at once."""
    message = _lease(message_id, waited_for=waited_for)
    if message is None:
        return False
    endpoint = PlatformEndpoint.objects.filter(organization_id=message.organization_id).first()
    if endpoint is None:
        result = Try(None, 0, error=_("No platform endpoint is set."))
    else:
        result = _post(endpoint, message)
    record_try(message_id, result)
    return True


def _lease(message_id: int, *, waited_for: bool = False) -> OutboxMessage | None:
    now = timezone.now()
    due = Q(next_try_at__isnull=True) if waited_for else Q(next_try_at__lte=now)
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(due, pk=message_id, state=State.PENDING)
            .first()
        )
        if message is None:
            return None
        lease = dt.timedelta(
            seconds=settings.PLATFORM_TIMEOUT_SECONDS + settings.PLATFORM_LEASE_SECONDS
        )
        OutboxMessage.objects.filter(pk=message.pk).update(next_try_at=now + lease)
    return message


def _post(endpoint: PlatformEndpoint, message: OutboxMessage) -> Try:
    body = json.dumps(message.body, ensure_ascii=False, separators=(",", ":")).encode()
    secrets = [endpoint.secret]
    if endpoint.previous_until and endpoint.previous_until > timezone.now():
        secrets.append(endpoint.previous_secret)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": str(message.key),
        signing.HEADER: signing.header_value(secrets, body),
    }
    url = endpoint.notify_url if message.kind == OutboxMessage.Kind.NOTIFY else endpoint.url
    if not url:
        return Try(None, 0, error=_("No result notification URL is set."), final=True)
    timeout = float(settings.PLATFORM_TIMEOUT_SECONDS)
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        # Checked again at every try: the settings, and what the name resolves to now.
        address = check_url(url)
    except Refused as refused:
        return Try(None, elapsed(), error=str(refused), final=True)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = PinnedHTTPSConnection if https else PinnedHTTPConnection
    connection = kind(parts.hostname or "", port, address=address, timeout=timeout)
    # The whole exchange within the timeout: a platform that answers a byte at a time,
    # in its headers or its body, gets its connection cut when the time is up.
    # (The socket is kept here: the connection lets go of it once the answer has begun.)
    cut = threading.Event()
    opened: list[socket.socket] = []

    def cut_off() -> None:
        cut.set()
        for sock in opened:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, cut_off)
    timer.start()
    try:
        connection.connect()
        opened.append(connection.sock)
        if cut.is_set():  # the time ran out while connecting
            raise TimeoutError
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        text = response.read(ANSWER_BYTES).decode("utf-8", "replace")
        if cut.is_set():  # what came before the cut is not the whole answer
            raise TimeoutError
    except (OSError, HTTPException) as problem:
        if cut.is_set() or isinstance(problem, TimeoutError):
            error = _("No answer within %(seconds)d seconds.") % {
                "seconds": settings.PLATFORM_TIMEOUT_SECONDS
            }
        else:
            error = _("The connection failed (%(kind)s).") % {"kind": type(problem).__name__}
        logger.info("platform request %s not delivered: %s", message.key, type(problem).__name__)
        return Try(None, elapsed(), error=error)
    finally:
        timer.cancel()
        connection.close()
    return Try(response.status, elapsed(), text=text)


def record_try(message_id: int, result: Try) -> None:
    """The try, on the message; and what it settles, on the message and its send."""
    now = timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=message_id)
        if message.state != State.PENDING:
            return  # settled meanwhile by a try whose lease this one outlived
        message.tries = [
            *message.tries,
            {
                "at": now.isoformat(),
                "status": result.status,
                "ms": result.ms,
                **({"error": error} if (error := result.error or _failed_answer(result)) else {}),
            },
        ]
        if result.status is not None and 200 <= result.status < 300:
            message.state = State.ACCEPTED
        elif result.status in REFUSALS:
            message.state = State.REFUSED
            message.answer = _reason(result.text) or _("Refused without a reason.")
        elif result.final:
            message.state = State.GAVE_UP
            message.answer = result.error
        elif len(message.tries) > len(RETRY_AFTER):
            message.state = State.GAVE_UP
            message.answer = _("The platform did not accept the request within a day.")
        else:
            wait = RETRY_AFTER[len(message.tries) - 1]
            message.next_try_at = now + dt.timedelta(seconds=wait)
        if message.state != State.PENDING:
            message.next_try_at = None
            message.settled_at = now
        message.save()
        if message.state in (State.REFUSED, State.GAVE_UP):
            actions.give_back(message)


def _failed_answer(result: Try) -> str:
    """What an answer that is neither an acceptance nor a refusal said, for its try."""
    if result.status is None or 200 <= result.status < 300 or result.status in REFUSALS:
        return ""
    return " ".join(result.text.split())[:REASON_CHARACTERS]


def _reason(text: str) -> str:
    """The refusal's reason: JSON's "reason" (or "message"), else the text itself; plain
    text, cut short (the page escapes it)."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        found = answer.get("reason") or answer.get("message")
        text = found if isinstance(found, str) else ""
    elif isinstance(answer, str):
        text = answer
    return " ".join(text.split())[:REASON_CHARACTERS]
