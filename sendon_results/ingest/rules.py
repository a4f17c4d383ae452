"""The rules of ingest that need no database: how far a moment may lie from now, which
moves a send's status may make, when a result tells something new, what status a send's
counts give it, and when two posted sends are the same send."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Protocol

from ..models import Delivery, SendRequest
from .payloads import NewResult, NewSend

# How far from now (and from the send) a moment may lie: a send is recorded when it is
# made, a reservation is for at most a year ahead, and clocks differ by less than a day.
CLOCK_SKEW = dt.timedelta(days=1)
LONGEST_RESERVATION = dt.timedelta(days=365)
FINAL: set[str] = {Delivery.Status.SUCCESS, Delivery.Status.FAILURE}
# A result tells what a carrier did; waiting and cancelled (never sent) come only from the
# send's status moves.
RESULT_OUTCOMES: list[str] = [
    Delivery.Status.SUCCESS,
    Delivery.Status.FAILURE,
    Delivery.Status.SENDING,
]
# Reservation moves the platform reports; anything else is a conflict.
TRANSITIONS: dict[str, set[str]] = {
    SendRequest.Status.RESERVED: {"sending_now", "cancelling", "cancelled", "failed"},
    # A cancellation asked for too late: the reservation went out after all.
    SendRequest.Status.CANCELLING: {"cancelled", "failed", "sending_now"},
    SendRequest.Status.SENDING_NOW: {"failed"},
    SendRequest.Status.IN_PROGRESS: {"failed"},
}
# Every status the platform may move a send to.
STATUS_MOVES = sorted({status for targets in TRANSITIONS.values() for status in targets})
COUNT_FIELDS = [f"{outcome}_count" for outcome in Delivery.Status.values]
RESULT_FIELDS = [
    "status",
    "result_code",
    "result_message",
    "carrier",
    "final_channel",
    "completed_at",
    "points_refunded",
]


def iso_utc(moment: dt.datetime) -> str:
    """2026-11-20T01:00:00Z: one writing of an instant, whatever offset it came with."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def content_hash(send: NewSend) -> str:
    """SHA-256 of the send's content in one canonical form: instants in UTC, numbers as
    digits and amounts with two decimals (validation normalised those), so the same send
    written another way is the same send."""
    canonical = {
        **send,
        "requested_at": iso_utc(send["requested_at"]),
        "scheduled_at": iso_utc(send["scheduled_at"]) if send["scheduled_at"] else None,
    }
    return _digest(canonical)


def posted_hash(send: NewSend) -> str:
    """The hash sends stored before instants were hashed in UTC carry: of the form
    posted, instants with the offset they came with."""
    return _digest(send)


def _digest(send: Mapping[str, object]) -> str:
    return hashlib.sha256(
        json.dumps(send, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


class Known(Protocol):
    """What is known of a delivery when a result comes: a Delivery, or ingest's own
    reading of its row."""

    @property
    def status(self) -> str: ...
    @property
    def result_code(self) -> str: ...
    @property
    def completed_at(self) -> dt.datetime | None: ...


def moves_forward(*, delivery: Known, result: NewResult) -> bool:
    """Whether a result tells something newer than the delivery knows: a replay changes
    nothing, a non-final result never replaces a final one, an older final result never
    replaces a newer one."""
    if delivery.status == Delivery.Status.CANCELLED:
        return False  # never sent: no carrier can have an answer for it
    if delivery.status not in FINAL:
        if result["outcome"] not in FINAL and delivery.completed_at:
            return result["completed_at"] > delivery.completed_at
        return True
    if result["outcome"] not in FINAL:
        return False  # a late "still sending" never reopens a final outcome
    same = (
        delivery.status == result["outcome"]
        and delivery.result_code == result["result_code"]
        and delivery.completed_at == result["completed_at"]
    )
    # A final outcome of unknown time (not one the API stored: it always has a time) is
    # older than any result that has one.
    known = delivery.completed_at
    return not same and (known is None or result["completed_at"] > known)


def status_after_results(send: SendRequest) -> str:
    """A send whose messages are out is in progress until none is sending, then completed;
    a reservation, or a release not yet confirmed, stays one while any message waits.
    Failed, cancelled and cancelling sends keep their status: it came from the platform
    (or, cancelling, from the console, until the platform answers)."""
    Status = SendRequest.Status
    # A release asked for from the console (즉시 발송중) waits for the platform's word too.
    if send.status in (Status.RESERVED, Status.SENDING_NOW) and send.waiting_count:
        return send.status
    if send.status in (Status.RESERVED, Status.SENDING_NOW, Status.IN_PROGRESS, Status.COMPLETED):
        return Status.IN_PROGRESS if send.sending_count or send.waiting_count else Status.COMPLETED
    return send.status
