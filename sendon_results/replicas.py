"""Reads from hot standbys of the primary (DATABASE_REPLICA_URLS), writes to the primary.

Who reads where:
- A page (GET or HEAD, not the API) reads from a replica that answers and is streaming
  from the primary. A browser that wrote (posted a form) carries the primary's log
  position after its write in a cookie, and reads from a replica only once that replica
  has replayed the log up to it, from the primary until then: it always sees its own
  change — `ReplicaReadsMiddleware`.
- Exports, statements and confirmations read from a replica that has replayed the
  primary's log up to the moment the worker took the job (later than the moment it was
  asked for), waiting up to REPLICA_CATCH_UP_SECONDS for one; otherwise from the primary —
  `caught_up_reads`.
- Everything else reads from the primary: the API (the platform reads what it just
  wrote), writes and every read inside a transaction on the primary (a SELECT … FOR UPDATE
  cannot run on a standby, and a check-then-write must see the primary), who may do what
  (sessions, users, memberships, invitations, API keys: a removed member is out at once),
  beat's jobs and commands.

A replica that does not answer is left alone for REPLICA_RETRY_SECONDS by this process;
a page during which a replica failed (stopped, or cancelled a query for a conflict with
what it replays) is made again from the primary. With no replica configured every read
goes to the primary and nothing here costs a query.
"""

from __future__ import annotations

import contextvars
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REPLICA_PREFIX = "replica"
# The primary's log position (an LSN) after the browser's last write. Not a secret:
# forging it only sends one's own pages to the primary.
PIN_COOKIE = "primary_lsn"
LSN_PATTERN = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}")
# Tables always read from the primary: who is signed in and what they may do.
PRIMARY_APPS = frozenset({"auth", "sessions", "contenttypes"})
PRIMARY_MODELS = frozenset(
    {"sendon_results.membership", "sendon_results.invitation", "sendon_results.apikey"}
)
# How long this process trusts a replica's "streaming from the primary" before asking again.
STREAMING_CHECK_SECONDS = 1.0
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_reading: contextvars.ContextVar[str | None] = contextvars.ContextVar("replica", default=None)
# Replicas this process found not answering, and when to try them again.
_down_until: dict[str, float] = {}
# Whether each replica was streaming from the primary, and until when that answer holds.
_streaming: dict[str, tuple[float, bool]] = {}


def aliases() -> list[str]:
    """The configured replicas' database aliases."""
    return [alias for alias in connections.settings if alias.startswith(REPLICA_PREFIX)]


def healthy() -> list[str]:
    now = time.monotonic()
    return [alias for alias in aliases() if _down_until.get(alias, 0.0) <= now]


def mark_down(alias: str) -> None:
    _down_until[alias] = time.monotonic() + settings.REPLICA_RETRY_SECONDS
    try:
        connections[alias].close()
    except DatabaseError:
        pass  # already broken; closed all the same
    logger.warning("replica %s does not answer; reading from the primary", alias)


def answering(alias: str, *, again: bool = False) -> bool:
    """Whether the replica answers (Django's health check of a kept connection: one round
    trip per request, or a new connection); `again` checks even if this request did already.
    Marks it down when it does not answer."""
    connection = connections[alias]
    try:
        if again and connection.connection is not None and not connection.is_usable():
            connection.close()
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError:
        mark_down(alias)
        return False
    return True


@contextmanager
def reads_from(alias: str | None) -> Iterator[None]:
    """Reads in this block go to `alias` (None: the primary)."""
    token = _reading.set(alias)
    try:
        yield
    finally:
        _reading.reset(token)


def pick(after: str | None = None) -> str | None:
    """An answering replica that streams from the primary and, when `after` (an LSN) is
    given, has replayed the primary's log up to it; None when there is none."""
    candidates = healthy()
    random.shuffle(candidates)
    for alias in candidates:
        if not answering(alias) or not streaming(alias):
            continue
        if after is None or caught_up(alias, after):
            return alias
    return None


# How far behind the primary a replica is, in seconds: none when it has replayed all it
# received, else the age of the last transaction it replayed (a replica whose replay
# stalls, behind a long query or a recovery conflict, grows older while it receives on).
LAG_SQL = """
    SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
           END
"""


def streaming(alias: str) -> bool:
    """Whether the replica's WAL receiver streams from the primary (a standby cut off from
    it would serve an ever older copy) and its replay is at most REPLICA_MAX_LAG_SECONDS
    behind; asked at most once a second by this process."""
    now = time.monotonic()
    checked = _streaming.get(alias)
    if checked is not None and checked[0] > now:
        return checked[1]
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            row = cursor.fetchone()
    except DatabaseError:
        mark_down(alias)
        return False
    receiving, lag = bool(row and row[0]), float(row[1] or 0) if row else 0.0
    fresh = receiving and lag <= settings.REPLICA_MAX_LAG_SECONDS
    if not receiving:
        logger.warning("replica %s does not stream from the primary; not reading it", alias)
    elif not fresh:
        logger.warning("replica %s replays %.0f s behind the primary; not reading it", alias, lag)
    _streaming[alias] = (now + STREAMING_CHECK_SECONDS, fresh)
    return fresh


def caught_up(alias: str, position: str) -> bool:
    """Whether the replica has replayed the primary's log up to `position` (an LSN)."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            row = cursor.fetchone()
    except DatabaseError:
        mark_down(alias)
        return False
    return bool(row and row[0])


def primary_position() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return str(cursor.fetchone()[0])


def caught_up_replica(timeout: float | None = None) -> str | None:
    """A replica that has replayed everything the primary had written by now, waiting up to
    `timeout` seconds (REPLICA_CATCH_UP_SECONDS) for one; None when none has."""
    if not healthy():
        return None
    position = primary_position()
    deadline = time.monotonic() + (
        settings.REPLICA_CATCH_UP_SECONDS if timeout is None else timeout
    )
    while True:
        for alias in healthy():
            if caught_up(alias, position):
                return alias
        if time.monotonic() >= deadline:
            logger.info("no replica caught up within its wait; reading from the primary")
            return None
        time.sleep(0.05)


@contextmanager
def caught_up_reads() -> Iterator[None]:
    """A job's reads: from a replica that has seen everything written before the job
    began (so also the moment it was asked for), else from the primary."""
    with reads_from(caught_up_replica()):
        yield


class ReplicaRouter:
    """Writes and migrations on the primary; reads where the context says (see above)."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        # The primary is named, never left to Django ("no opinion" would read an object's
        # relations from wherever the object came from, a replica included).
        alias = _reading.get()
        if alias is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        meta = model._meta
        if meta.app_label in PRIMARY_APPS or meta.label_lower in PRIMARY_MODELS:
            return DEFAULT_DB_ALIAS
        return alias

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same rows on every copy

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


class ReplicaReadsMiddleware:
    """Pages read from a replica (see the module's rules); a browser that wrote reads what
    has its write."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not aliases():
            return self.get_response(request)
        alias = self.replica_for(request)
        with reads_from(alias):
            response = self.get_response(request)
        if alias is not None and response.status_code >= 500 and self.failed(alias):
            # The replica failed during the page (Django has already turned the error into
            # a 500): the page is made again from the primary. Only pages that read are
            # sent to a replica, so making one twice changes nothing; the access record
            # keeps what the request did once (audit.record).
            response = self.get_response(request)
        if request.method in UNSAFE_METHODS and not _is_api(request):
            response.set_cookie(
                PIN_COOKIE,
                _position_after_write(),
                max_age=settings.REPLICA_PIN_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    def replica_for(self, request: HttpRequest) -> str | None:
        if request.method not in ("GET", "HEAD") or _is_api(request):
            return None
        pin = request.COOKIES.get(PIN_COOKIE)
        if pin is None:
            return pick()
        if not LSN_PATTERN.fullmatch(pin):
            return None  # not a position this console wrote: the primary, to be sure
        return pick(after=pin)

    @staticmethod
    def failed(alias: str) -> bool:
        """Whether the replica's connection failed during the page: it stopped answering,
        or cancelled a query (a conflict with what it replays), which Django notes."""
        errors = connections[alias].errors_occurred
        stopped = not answering(alias, again=True)  # marks it down when it does not answer
        return errors or stopped


def _position_after_write() -> str:
    try:
        return primary_position()
    except DatabaseError:
        return "FFFFFFFF/FFFFFFFF"  # unknown: the primary for the whole pin


def _is_api(request: HttpRequest) -> bool:
    from .views import API_PREFIX

    return request.path.startswith(API_PREFIX)
