"""Per-recipient results, in any order, exactly once.

A batch is applied in one transaction under row locks on its sends (taken in id order, so
two batches touching the same sends cannot deadlock); a send's counts, points and status
change with its deliveries. A result for a send not recorded yet waits as a PendingResult
until the send comes (`sends.create_send` applies it then).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..handoff import notifications
from ..models import Delivery, Organization, PendingResult, SendRequest
from ..tallies import TallyChanges
from .errors import Invalid, TooManyWaiting, UnknownRecipient
from .payloads import EarlySummary, NewResult, Summary
from .rules import (
    CLOCK_SKEW,
    COUNT_FIELDS,
    RESULT_FIELDS,
    iso_utc,
    moves_forward,
    status_after_results,
)

# A result of a batch with its place in the batch, for the errors' field paths.
Numbered = tuple[int, NewResult]


def apply_results(*, organization: Organization, results: list[NewResult]) -> Summary:
    """Apply a batch in one transaction; returns how many changed a delivery, were already
    applied (or older than what is known) and are waiting for their send. Raises Invalid or
    UnknownRecipient, storing nothing, when a result cannot apply to its send, and
    TooManyWaiting when the organization has too many results waiting for sends."""
    summary: Summary = {"applied": 0, "unchanged": 0, "pending": 0}
    with transaction.atomic():
        by_send: dict[str, list[Numbered]] = defaultdict(list)
        for index, result in enumerate(results):
            by_send[result["send_external_id"]].append((index, result))
        # Locked in id order, so two batches touching the same sends cannot deadlock.
        sends = _locked_sends(organization, list(by_send))
        if missing := [external_id for external_id in by_send if external_id not in sends]:
            # Take turns with the recording of those sends, then look again: a send
            # recorded meanwhile gets its results now, not as early results it has missed.
            take_turns(organization=organization, external_ids=missing)
            sends.update(_locked_sends(organization, missing))
        early = [
            PendingResult(
                organization=organization,
                send_external_id=external_id,
                recipient_external_id=result["recipient_external_id"],
                result=json.loads(json.dumps(result, default=str)),
            )
            for external_id, items in by_send.items()
            if external_id not in sends
            for _, result in items
        ]
        if early:
            _check_pending_room(organization, len(early))
            PendingResult.objects.bulk_create(early)
            summary["pending"] = len(early)
        changes = TallyChanges()
        before = {send.pk: send.status for send in sends.values()}
        for external_id, send in sends.items():
            counted = apply_to_send(send=send, items=by_send[external_id], changes=changes)
            summary["applied"] += counted["applied"]
            summary["unchanged"] += counted["unchanged"]
        changes.save()
        notifications.finished(
            organization.pk, [s for s in sends.values() if s.status != before[s.pk]]
        )
    return summary


def revive(result: dict[str, str]) -> NewResult:
    """A result kept as JSON (PendingResult.result), with its types back."""
    completed_at = parse_datetime(result["completed_at"])
    if completed_at is None:  # apply_results wrote it from a validated moment
        raise ValueError(f"A waiting result without a moment: {result!r}")
    return {
        "send_external_id": result["send_external_id"],
        "recipient_external_id": result["recipient_external_id"],
        "outcome": result["outcome"],
        "result_code": result["result_code"],
        "result_message": result["result_message"],
        "carrier": result["carrier"],
        "final_channel": result["final_channel"],
        "completed_at": completed_at,
        "points_refunded": Decimal(result["points_refunded"]),
    }


def _locked_sends(organization: Organization, external_ids: list[str]) -> dict[str, SendRequest]:
    return {
        send.external_id: send
        for send in SendRequest.objects.select_for_update()
        .filter(organization=organization, external_id__in=external_ids)
        .order_by("id")
    }


def take_turns(*, organization: Organization, external_ids: list[str]) -> None:
    """Hold, until the transaction ends, a lock per send id of the organization: recording
    a send and keeping early results for it take turns, so a send never reads the waiting
    results while another call is about to add one. PostgreSQL only: SQLite runs one
    writing transaction at a time anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for external_id in sorted(external_ids):  # one order for all: no deadlock
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                [organization.pk % 2**31, external_id],
            )


def _check_pending_room(organization: Organization, adding: int) -> None:
    """Refused when an organization's results waiting for their sends would pass the
    limit: results for sends that never come must not pile up without end."""
    # Counted no further than the limit: a full count would read every waiting result.
    limit = settings.PENDING_RESULT_LIMIT
    waiting = PendingResult.objects.filter(organization=organization)[: limit + 1].count()
    if waiting + adding > limit:
        raise TooManyWaiting(
            [
                {
                    "field": "results",
                    "message": (
                        f"Too many results are waiting for sends not recorded yet (at most "
                        f"{limit:,}). Record those sends first; results "
                        f"wait {settings.PENDING_RESULT_DAYS} days for their send."
                    ),
                }
            ]
        )


@dataclass(slots=True)
class KnownDelivery:
    """A delivery as applying results reads and writes it: a row's columns, not a model
    instance (reading 1,000 deliveries as models took 14 ms of Python, as rows 3.6 ms)."""

    pk: int
    send_request_id: int
    requested_at: dt.datetime
    status: str
    result_code: str
    result_message: str
    carrier: str
    final_channel: str
    completed_at: dt.datetime | None
    points_refunded: Decimal
    points_charged: Decimal


# What is read of each delivery a batch names, after its external_id, in KnownDelivery's
# order from status on: what a result writes, and what it may refund.
KNOWN_COLUMNS = (*RESULT_FIELDS, "points_charged")


def apply_to_send(
    *,
    send: SendRequest,
    items: list[Numbered],
    changes: TallyChanges,
    drop_invalid: bool = False,
) -> EarlySummary:
    """Apply one send's results; the caller holds the send's row lock and saves the
    `changes` to the tallies. A result that fits no recipient, refunds more than was
    charged, or is dated more than a day before the send is refused (the whole call), or
    with `drop_invalid` left out and counted as dropped."""
    deliveries = _known_deliveries(send, {result["recipient_external_id"] for _, result in items})
    # Each moment compared with the window once: a batch's results share a few, and an
    # aware moment's comparison with another offset's is slow.
    window = (send.requested_at - CLOCK_SKEW, timezone.now() + CLOCK_SKEW)
    inside: dict[dt.datetime, bool] = {}
    problems = []
    for index, result in items:
        delivery = deliveries.get(result["recipient_external_id"])
        moment = result["completed_at"]
        if (fits := inside.get(moment)) is None:
            fits = inside[moment] = window[0] <= moment <= window[1]
        if delivery is None or result["points_refunded"] > delivery.points_charged or not fits:
            problems.append(_problem(send, delivery, index, result, fits))
    if problems and not drop_invalid:
        errors = [error for _, error, _ in problems]
        if any(kind is Invalid for kind, _, _ in problems):
            raise Invalid(errors)
        raise UnknownRecipient(errors)
    dropped = {index for _, _, index in problems}
    usable = [result for index, result in items if index not in dropped]
    counts = dict.fromkeys(Delivery.Status.values, 0)
    refunded = Decimal(0)
    # The tallies' differences by (final_channel, status, result_code, carrier): a batch's
    # results fall into a handful of groups, added to the tallies once each.
    groups: dict[tuple[str, str, str, str], list[Any]] = defaultdict(lambda: [0, 0, 0])
    changed: dict[int, KnownDelivery] = {}
    unchanged = 0
    # Oldest first, so a batch holding both a result and its correction ends on the latter.
    for result in sorted(usable, key=_completed_at):
        delivery = deliveries[result["recipient_external_id"]]
        if not moves_forward(delivery=delivery, result=result):
            unchanged += 1
            continue
        was = groups[
            (delivery.final_channel, delivery.status, delivery.result_code, delivery.carrier)
        ]
        was[0] -= 1
        was[1] -= delivery.points_charged
        was[2] -= delivery.points_refunded
        counts[delivery.status] -= 1
        counts[result["outcome"]] += 1
        refunded += result["points_refunded"] - delivery.points_refunded
        delivery.status = result["outcome"]
        delivery.result_code = result["result_code"]
        delivery.result_message = result["result_message"]
        delivery.carrier = result["carrier"]
        delivery.final_channel = result["final_channel"] or send.channel
        delivery.completed_at = result["completed_at"]
        delivery.points_refunded = result["points_refunded"]
        now_is = groups[
            (delivery.final_channel, delivery.status, delivery.result_code, delivery.carrier)
        ]
        now_is[0] += 1
        now_is[1] += delivery.points_charged
        now_is[2] += delivery.points_refunded
        changed[delivery.pk] = delivery
    if changed:
        save_results(list(changed.values()))
        changes.delivery_groups(send, groups)
        changes.send(send, -1)
        for outcome, change in counts.items():
            setattr(send, f"{outcome}_count", getattr(send, f"{outcome}_count") + change)
        send.points_refunded += refunded
        send.status = status_after_results(send)
        send.updated_at = timezone.now()
        fields = [*COUNT_FIELDS, "points_refunded", "status", "updated_at"]
        # By its partition's key too: by id alone PostgreSQL plans the UPDATE for every
        # month's partition kept (3 ms of planning per batch, for one row).
        updated = SendRequest.objects.filter(pk=send.pk, requested_at=send.requested_at).update(
            **{name: getattr(send, name) for name in fields}
        )
        if updated != 1:  # as save(update_fields=…) would: counts must never go unsaved
            raise DatabaseError(f"Send {send.pk} was not updated ({updated} rows)")
        changes.send(send)
    return {"applied": len(changed), "unchanged": unchanged, "dropped": len(dropped)}


def _completed_at(result: NewResult) -> dt.datetime:
    return result["completed_at"]


def _known_deliveries(send: SendRequest, wanted: set[str]) -> dict[str, KnownDelivery]:
    """The send's deliveries that `wanted` names, by external_id. No row locks: every
    writer of a send's deliveries holds the send's row lock."""
    deliveries = Delivery.objects.of_send(send)
    # A batch naming most of a send's recipients reads them all, by the send's index,
    # rather than sending a thousand ids to look up one by one.
    if len(wanted) * 2 < send.recipient_count:
        deliveries = deliveries.filter(external_id__in=wanted)
    send_id, requested_at = send.pk, send.requested_at
    return {
        external_id: KnownDelivery(pk, send_id, requested_at, *row)
        for external_id, pk, *row in deliveries.order_by().values_list(
            "external_id", "id", *KNOWN_COLUMNS
        )
    }


def _problem(
    send: SendRequest,
    delivery: KnownDelivery | None,
    index: int,
    result: NewResult,
    in_window: bool,
) -> tuple[type[Invalid | UnknownRecipient], dict[str, str], int]:
    """Why a result cannot apply to this send: (kind, error, index)."""
    if delivery is None:
        return (
            UnknownRecipient,
            {
                "field": f"results[{index}].recipient_external_id",
                "message": f"Not a recipient of send {send.external_id}.",
            },
            index,
        )
    if result["points_refunded"] > delivery.points_charged:
        return (
            Invalid,
            {
                "field": f"results[{index}].points_refunded",
                "message": f"At most the {delivery.points_charged:.2f} points charged for it.",
            },
            index,
        )
    if not in_window:
        return (
            Invalid,
            {
                "field": f"results[{index}].completed_at",
                "message": "Must lie from a day before the send's requested_at "
                f"({iso_utc(send.requested_at)}) to a day after now.",
            },
            index,
        )
    raise ValueError(f"results[{index}] has no problem")


# The SQL type of each field a result writes (RESULT_FIELDS), in the order it is sent.
SQL_TYPES = {
    "status": "varchar",
    "result_code": "varchar",
    "result_message": "varchar",
    "carrier": "varchar",
    "final_channel": "varchar",
    "completed_at": "timestamptz",
    "points_refunded": "numeric",
}


class Written(Protocol):
    """What save_results reads of a delivery: a Delivery, or a KnownDelivery."""

    @property
    def pk(self) -> Any: ...
    @property
    def send_request_id(self) -> int: ...
    @property
    def requested_at(self) -> dt.datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def result_code(self) -> str: ...
    @property
    def result_message(self) -> str: ...
    @property
    def carrier(self) -> str: ...
    @property
    def final_channel(self) -> str: ...
    @property
    def completed_at(self) -> dt.datetime | None: ...
    @property
    def points_refunded(self) -> Decimal: ...


def save_results(deliveries: Sequence[Written]) -> None:
    """Write the changed deliveries (with their send and requested_at) in one statement.
    On PostgreSQL an UPDATE … FROM unnest(arrays): Django's bulk_update builds a CASE per
    field and row and took a second for a batch of 1,000; one placeholder per value still
    cost a third of that in parsing. Each array goes as its text form, written here:
    psycopg quoting the lists value by value took 9 ms of Python per 1,000 rows, and a
    JSON array instead cost the server 5 ms more to take apart."""
    if not deliveries:
        return
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_update(
            [
                d
                if isinstance(d, Delivery)
                else Delivery(pk=d.pk, **{name: getattr(d, name) for name in RESULT_FIELDS})
                for d in deliveries
            ],
            RESULT_FIELDS,
        )
        return
    # A batch's rows share a few moments and texts: each is written out once.
    elements: dict[Any, str] = {None: "NULL"}

    def element(value: object) -> str:
        if (text := elements.get(value)) is None:
            text = elements[value] = _array_element(
                value.isoformat() if isinstance(value, dt.datetime) else str(value)
            )
        return text

    columns = [[str(d.pk) for d in deliveries], [element(d.requested_at) for d in deliveries]]
    for name, kind in SQL_TYPES.items():
        values = [getattr(d, name) for d in deliveries]
        columns.append(
            [str(v) for v in values] if kind == "numeric" else list(map(element, values))
        )
    arrays = ", ".join(f"%s::{kind}[]" for kind in ["bigint", "timestamptz", *SQL_TYPES.values()])
    assignments = ", ".join(f"{name} = v.{name}" for name in SQL_TYPES)
    requested = [d.requested_at for d in deliveries]
    # The sends, and the range of their requested_at, as constants: the planner then
    # updates the months' partitions in that range only (one, for a send's results), not
    # every month kept — 0.09 s instead of 0.65 s for 1,000 results — and finds the rows
    # by their send, never among every delivery of that moment (a hash join over all the
    # month's rows when its statistics are behind).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} AS d SET {assignments} "
            f"FROM unnest({arrays}) AS v(id, requested_at, {', '.join(SQL_TYPES)}) "
            "WHERE d.id = v.id AND d.requested_at = v.requested_at "
            "AND d.send_request_id = ANY(%s::bigint[]) AND d.requested_at BETWEEN %s AND %s",
            [
                *("{" + ",".join(column) + "}" for column in columns),
                sorted({d.send_request_id for d in deliveries}),
                min(requested),
                max(requested),
            ],
        )


def _array_element(text: str) -> str:
    """One element of an array's text form: in double quotes, inside which only \\ and "
    are special (so NULL, commas, braces and spaces stay text)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
