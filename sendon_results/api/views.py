"""The sending platform's JSON API: send requests and results in, in any order, exactly once.

Every call is authenticated by an organization's API key and validated whole before
anything is stored; errors name the field (`recipients[3].phone`). Results change a
delivery only forwards: a replay changes nothing, a non-final result never replaces a
final one, an older final result never replaces a newer one. Counts and status of the
send change in the same transaction, under a row lock on the send.

Each call is one transaction: an error of any kind (4xx or 5xx) leaves nothing stored.
Every moment is checked against a window around now, so no row the API accepts can push
a page out of order or past what dates can hold.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from ..models import (
    Channel,
    Delivery,
    Organization,
    PendingResult,
    SenderProfile,
    SendRequest,
    Source,
)
from ..pagination import Cursor, InvalidCursor, paginate
from ..phones import STORED, normalize_phone
from ..result_codes import REQUEST_FAILED
from ..results.filters import SendRequestFilter
from ..retention import kept
from .errors import ApiError, error
from .keys import authenticate

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000
MAX_RESULTS = 10_000
MAX_BODY = 4_000  # characters: more than any LMS/MMS or KakaoTalk message holds
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
FINAL = {Delivery.Status.SUCCESS, Delivery.Status.FAILURE}
# A result tells what a carrier did; waiting and cancelled (never sent) come only from the
# send's status moves.
RESULT_OUTCOMES = [Delivery.Status.SUCCESS, Delivery.Status.FAILURE, Delivery.Status.SENDING]
# How far from now (and from the send) a moment may lie: a send is recorded when it is
# made, a reservation is for at most a year ahead, and clocks differ by less than a day.
CLOCK_SKEW = dt.timedelta(days=1)
LONGEST_RESERVATION = dt.timedelta(days=365)
# Reservation moves the platform reports; anything else is a conflict (409).
TRANSITIONS = {
    SendRequest.Status.RESERVED: {"sending_now", "cancelling", "cancelled", "failed"},
    SendRequest.Status.CANCELLING: {"cancelled", "failed"},
    SendRequest.Status.SENDING_NOW: {"failed"},
    SendRequest.Status.IN_PROGRESS: {"failed"},
}
PAGE_SIZE = 100
CHANNELS = list(Channel.values)
DELIVERY_PAGE_SIZE = 1_000


# Validation ------------------------------------------------------------------------------


class Checker:
    """Collects every problem of a payload, each with the path of its field."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append({"field": field, "message": message})

    def text(
        self, data: dict[str, Any], name: str, path: str, *, required: bool = True,
        max_length: int = 100,
    ) -> str:  # fmt: skip
        value = data.get(name)
        if value is None or value == "":
            if required:
                self.fail(path, "This field is required.")
            return ""
        if not isinstance(value, str):
            self.fail(path, "Must be a string.")
            return ""
        if len(value) > max_length:
            self.fail(path, f"At most {max_length} characters (got {len(value)}).")
        if "\x00" in value:
            self.fail(path, "Must not contain NUL characters.")
        elif not _is_unicode(value):  # JSON's \ud800 escapes: no database could store them
            self.fail(path, "Must be valid Unicode text (no lone surrogates).")
        return value

    def choice(self, data: dict[str, Any], name: str, path: str, choices: list[str]) -> str:
        value = data.get(name)
        if value not in choices:
            self.fail(path, f"Must be one of: {', '.join(choices)}.")
            return ""
        return str(value)

    def moment(
        self,
        data: dict[str, Any],
        name: str,
        path: str,
        *,
        required: bool = True,
        within: tuple[dt.datetime, dt.datetime] | None = None,
        window: str = "",
    ) -> dt.datetime | None:
        """An ISO 8601 date and time with an offset, inside `within` when given (`window`
        says in words what the bounds are)."""
        value = data.get(name)
        if value is None:
            if required:
                self.fail(path, "This field is required.")
            return None
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:  # well formed, but no such moment: minute 61, month 13
            parsed = None
        if parsed is None:
            self.fail(path, "Must be an ISO 8601 date and time, e.g. 2026-11-27T14:03:00+09:00.")
        elif parsed.tzinfo is None:
            self.fail(path, "Must carry a time zone offset, e.g. +09:00 or Z.")
            return None
        elif within and not within[0] <= parsed <= within[1]:
            # Compared, never converted: 9999-12-31T23:59:59-14:00 has no UTC a date holds.
            self.fail(path, f"Must lie {window}: from {_utc(within[0])} to {_utc(within[1])}.")
            return None
        return parsed

    def amount(self, data: dict[str, Any], name: str, path: str) -> Decimal:
        value = data.get(name, 0)
        try:
            amount = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0 or amount >= 10**8:
            self.fail(path, "Must be a number of points from 0 to 99,999,999.99.")
            return Decimal(0)
        if amount != amount.quantize(Decimal("0.01")):
            self.fail(path, "At most two decimal places.")
        return amount.quantize(Decimal("0.01"))

    def phone(self, data: dict[str, Any], name: str, path: str) -> str:
        value = self.text(data, name, path, max_length=30)
        digits = normalize_phone(value) if value else ""
        if value and not STORED.match(digits):
            self.fail(path, "Must be a Korean phone number, e.g. 010-1234-5678.")
        return digits

    def check(self) -> None:
        if self.errors:
            raise ApiError(400, self.errors)


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_send(data: Any) -> dict[str, Any]:
    check = Checker()
    if not isinstance(data, dict):
        raise error(400, "", "The body must be a JSON object.")
    now = timezone.now()
    requested_at = check.moment(
        data,
        "requested_at",
        "requested_at",
        within=(now - dt.timedelta(days=settings.RETENTION_DAYS), now + CLOCK_SKEW),
        window="within the records kept, and not more than a day ahead of now",
    )
    send: dict[str, Any] = {
        "external_id": check.text(data, "external_id", "external_id"),
        "requested_at": requested_at,
        "source": check.choice(data, "source", "source", list(Source.values)),
        "channel": check.choice(data, "channel", "channel", list(Channel.values)),
        "title": check.text(data, "title", "title", required=False, max_length=200),
        "body": check.text(data, "body", "body", max_length=MAX_BODY),
        "scheduled_at": check.moment(
            data,
            "scheduled_at",
            "scheduled_at",
            required=False,
            within=(requested_at, requested_at + LONGEST_RESERVATION) if requested_at else None,
            window="from requested_at to a year after it",
        ),
        "points_per_message": check.amount(data, "points_per_message", "points_per_message"),
    }
    fallback = data.get("fallback", False)
    if not isinstance(fallback, bool):
        check.fail("fallback", "Must be true or false.")
    send["fallback"] = bool(fallback)
    sender = data.get("sender")
    if not isinstance(sender, dict):
        check.fail("sender", "Must be an object with kind and value.")
        sender = {}
    kind = check.choice(sender, "kind", "sender.kind", list(SenderProfile.Kind.values))
    send["sender"] = {
        "kind": kind,
        "value": (
            check.phone(sender, "value", "sender.value") if kind == SenderProfile.Kind.PHONE
            else check.text(sender, "value", "sender.value")
        ),
        "label": check.text(sender, "label", "sender.label", required=False),
    }  # fmt: skip
    if kind and send["channel"]:
        if (kind == SenderProfile.Kind.KAKAO) != Channel.is_kakao(send["channel"]):
            check.fail(
                "sender.kind", "KakaoTalk channels need a kakao sender, SMS/LMS/MMS a phone."
            )
    recipients = data.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        check.fail("recipients", "Must be a non-empty list.")
        recipients = []
    elif len(recipients) > MAX_RECIPIENTS:
        check.fail("recipients", f"At most {MAX_RECIPIENTS:,} per call (got {len(recipients):,}).")
        recipients = []
    send["recipients"] = []
    seen: set[str] = set()
    for index, item in enumerate(recipients):
        path = f"recipients[{index}]"
        if not isinstance(item, dict):
            check.fail(path, "Must be an object with external_id and phone.")
            continue
        recipient = {
            "external_id": check.text(item, "external_id", f"{path}.external_id"),
            "phone": check.phone(item, "phone", f"{path}.phone"),
            "name": check.text(item, "name", f"{path}.name", required=False),
        }
        if recipient["external_id"] in seen:
            check.fail(f"{path}.external_id", "Appears twice in this send.")
        seen.add(recipient["external_id"])
        send["recipients"].append(recipient)
        if len(check.errors) > 100:  # enough to act on; the rest would only repeat
            break
    check.check()
    return send


def parse_results(data: Any) -> list[dict[str, Any]]:
    check = Checker()
    items = data.get("results") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise error(400, "results", "Must be a non-empty list.")
    if len(items) > MAX_RESULTS:
        raise error(400, "results", f"At most {MAX_RESULTS:,} per call (got {len(items):,}).")
    results = []
    now = timezone.now()
    # The send's own requested_at bounds it more tightly when the result is applied.
    completed_window = (
        now - dt.timedelta(days=settings.RETENTION_DAYS) - CLOCK_SKEW,
        now + CLOCK_SKEW,
    )
    for index, item in enumerate(items):
        path = f"results[{index}]"
        if not isinstance(item, dict):
            check.fail(path, "Must be an object.")
            continue

        def at(name: str, path: str = path) -> str:
            return f"{path}.{name}"

        result = {
            "send_external_id": check.text(item, "send_external_id", at("send_external_id")),
            "recipient_external_id": check.text(
                item, "recipient_external_id", at("recipient_external_id")
            ),
            "outcome": check.choice(item, "outcome", at("outcome"), RESULT_OUTCOMES),
            "result_code": check.text(
                item, "result_code", at("result_code"), required=False, max_length=20
            ),
            "result_message": check.text(
                item, "result_message", at("result_message"), required=False, max_length=300
            ),
            "carrier": check.text(item, "carrier", at("carrier"), required=False, max_length=20),
            "final_channel": (
                check.choice(item, "final_channel", at("final_channel"), CHANNELS)
                if item.get("final_channel") is not None
                else ""
            ),
            "completed_at": check.moment(
                item,
                "completed_at",
                at("completed_at"),
                within=completed_window,
                window="within the records kept, and not more than a day ahead of now",
            ),
            "points_refunded": check.amount(item, "points_refunded", at("points_refunded")),
        }
        results.append(result)
        if len(check.errors) > 100:
            break
    check.check()
    return results


# Storing ----------------------------------------------------------------------------------


def content_hash(send: dict[str, Any]) -> str:
    """SHA-256 of the send's content in one canonical form: instants in UTC, numbers as
    digits and amounts with two decimals (parse_send normalised those), so the same send
    written another way is the same send."""
    canonical = {
        **send,
        "requested_at": _utc(send["requested_at"]),
        "scheduled_at": _utc(send["scheduled_at"]) if send["scheduled_at"] else None,
    }
    return _digest(canonical)


def _digest(send: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(send, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


def create_send(
    organization: Organization, send: dict[str, Any]
) -> tuple[SendRequest, bool, dict[str, int]]:
    """The send and its deliveries, and any results that came first; returns (send,
    created, what became of the early results)."""
    digest = content_hash(send)
    _take_turns(organization, [send["external_id"]])
    existing = SendRequest.objects.filter(
        organization=organization, external_id=send["external_id"]
    ).first()
    if existing is None:
        try:
            with transaction.atomic():
                row, early = _insert_send(organization, send, digest)
                return row, True, early
        except IntegrityError:  # the same send, posted at the same moment by a retry
            existing = SendRequest.objects.get(
                organization=organization, external_id=send["external_id"]
            )
    # Sends stored before instants were hashed in UTC carry the hash of the form posted.
    if existing.content_hash not in (digest, _digest(send)):
        raise ApiError(409, [{
            "field": "external_id",
            "message": "A send with this external_id exists with other content.",
        }])  # fmt: skip
    return existing, False, {"applied": 0, "unchanged": 0, "dropped": 0}


def _insert_send(
    organization: Organization, send: dict[str, Any], digest: str
) -> tuple[SendRequest, dict[str, int]]:
    sender, _ = SenderProfile.objects.get_or_create(
        organization=organization, kind=send["sender"]["kind"], value=send["sender"]["value"],
        defaults={"label": send["sender"]["label"]},
    )  # fmt: skip
    count = len(send["recipients"])
    scheduled = send["scheduled_at"]
    # A reservation's messages wait for their time; the others are with the carriers.
    reserved = scheduled is not None and scheduled > timezone.now()
    outcome = Delivery.Status.WAITING if reserved else Delivery.Status.SENDING
    row = SendRequest.objects.create(
        organization=organization, external_id=send["external_id"],
        requested_at=send["requested_at"], source=send["source"], channel=send["channel"],
        sender=sender, title=send["title"], body=send["body"], scheduled_at=scheduled,
        fallback=send["fallback"],
        status=SendRequest.Status.RESERVED if reserved else SendRequest.Status.IN_PROGRESS,
        points_charged=send["points_per_message"] * count, recipient_count=count,
        **{f"{outcome}_count": count}, content_hash=digest,
    )  # fmt: skip
    Delivery.objects.bulk_create(
        [
            Delivery(
                send_request=row,
                organization=organization,
                external_id=r["external_id"],
                recipient=r["phone"],
                recipient_name=r["name"],
                status=outcome,
                final_channel=send["channel"],
                points_charged=send["points_per_message"],
            )  # fmt: skip
            for r in send["recipients"]
        ],
        batch_size=2_000,
    )
    waiting = PendingResult.objects.filter(
        organization=organization, send_external_id=send["external_id"]
    )
    early = [
        (index, _revive(pending.result)) for index, pending in enumerate(waiting.order_by("id"))
    ]
    summary = {"applied": 0, "unchanged": 0, "dropped": 0}
    if early:
        # Results that fit no recipient of the send as it came (or break its rules) are
        # dropped and counted: they must not keep the send from being recorded.
        summary.update(_apply_to_send(row, early, drop_invalid=True))
        waiting.delete()
    return row, summary


def _revive(result: dict[str, Any]) -> dict[str, Any]:
    """A result kept as JSON, with its types back."""
    return {
        **result,
        "completed_at": parse_datetime(result["completed_at"]),
        "points_refunded": Decimal(result["points_refunded"]),
    }


def apply_results(organization: Organization, results: list[dict[str, Any]]) -> dict[str, int]:
    """Apply a batch in one transaction; returns how many changed, were already applied
    (or older than what is known) and are waiting for their send."""
    summary = {"applied": 0, "unchanged": 0, "pending": 0}
    with transaction.atomic():
        by_send: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for index, result in enumerate(results):
            by_send[result["send_external_id"]].append((index, result))
        # Locked in id order, so two batches touching the same sends cannot deadlock.
        sends = _locked_sends(organization, list(by_send))
        if missing := [external_id for external_id in by_send if external_id not in sends]:
            # Take turns with the recording of those sends, then look again: a send
            # recorded meanwhile gets its results now, not as early results it has missed.
            _take_turns(organization, missing)
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
        for external_id, send in sends.items():
            counted = _apply_to_send(send, by_send[external_id])
            summary["applied"] += counted["applied"]
            summary["unchanged"] += counted["unchanged"]
    return summary


def _locked_sends(organization: Organization, external_ids: list[str]) -> dict[str, SendRequest]:
    return {
        send.external_id: send
        for send in SendRequest.objects.select_for_update()
        .filter(organization=organization, external_id__in=external_ids)
        .order_by("id")
    }


def _take_turns(organization: Organization, external_ids: list[str]) -> None:
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
    """429 when an organization's results waiting for their sends would pass the limit:
    results for sends that never come must not pile up without end."""
    # Counted no further than the limit: a full count would read every waiting result.
    limit = settings.PENDING_RESULT_LIMIT
    waiting = PendingResult.objects.filter(organization=organization)[: limit + 1].count()
    if waiting + adding > limit:
        raise ApiError(429, [{
            "field": "results",
            "message": (
                f"Too many results are waiting for sends not recorded yet (at most "
                f"{limit:,}). Record those sends first; results "
                f"wait {settings.PENDING_RESULT_DAYS} days for their send."
            ),
        }])  # fmt: skip


def _apply_to_send(
    send: SendRequest, items: list[tuple[int, dict[str, Any]]], *, drop_invalid: bool = False
) -> dict[str, int]:
    """Apply one send's results. A result that fits no recipient, refunds more than was
    charged, or is dated more than a day before the send is refused (the whole call), or
    with `drop_invalid` left out and counted as dropped."""
    # No row locks here: every writer of a send's deliveries holds the send's row lock.
    deliveries = {
        d.external_id: d
        for d in send.deliveries.filter(
            external_id__in=[result["recipient_external_id"] for _, result in items]
        ).only(*RESULT_FIELDS, "external_id", "points_charged")
    }
    problems = [
        problem
        for index, result in items
        if (
            problem := _problem(
                send, deliveries.get(result["recipient_external_id"]), index, result
            )
        )
    ]
    if problems and not drop_invalid:
        status = 400 if any(status == 400 for status, _, _ in problems) else 422
        raise ApiError(status, [error for _, error, _ in problems])
    dropped = {index for _, _, index in problems}
    usable = [(index, result) for index, result in items if index not in dropped]
    counts = dict.fromkeys(Delivery.Status.values, 0)
    refunded = Decimal(0)
    changed: dict[int, Delivery] = {}
    unchanged = 0
    # Oldest first, so a batch holding both a result and its correction ends on the latter.
    for _, result in sorted(usable, key=lambda item: item[1]["completed_at"]):
        delivery = deliveries[result["recipient_external_id"]]
        if not _moves_forward(delivery, result):
            unchanged += 1
            continue
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
        changed[delivery.pk] = delivery
    if changed:
        _save_results(list(changed.values()))
        for outcome, change in counts.items():
            setattr(send, f"{outcome}_count", getattr(send, f"{outcome}_count") + change)
        send.points_refunded += refunded
        send.status = _status_after_results(send)
        send.save(update_fields=[*COUNT_FIELDS, "points_refunded", "status", "updated_at"])
    return {"applied": len(changed), "unchanged": unchanged, "dropped": len(dropped)}


COUNT_FIELDS = [f"{outcome}_count" for outcome in Delivery.Status.values]


def _problem(
    send: SendRequest, delivery: Delivery | None, index: int, result: dict[str, Any]
) -> tuple[int, dict[str, str], int] | None:
    """Why a result cannot apply to this send: (status, error, index), or None."""
    path = f"results[{index}]"
    if delivery is None:
        return (
            422,
            {
                "field": f"{path}.recipient_external_id",
                "message": f"Not a recipient of send {send.external_id}.",
            },
            index,
        )
    if result["points_refunded"] > delivery.points_charged:
        return (
            400,
            {
                "field": f"{path}.points_refunded",
                "message": f"At most the {delivery.points_charged:.2f} points charged for it.",
            },
            index,
        )
    if not send.requested_at - CLOCK_SKEW <= result["completed_at"] <= timezone.now() + CLOCK_SKEW:
        return (
            400,
            {
                "field": f"{path}.completed_at",
                "message": "Must lie from a day before the send's requested_at "
                f"({_utc(send.requested_at)}) to a day after now.",
            },
            index,
        )
    return None


def _status_after_results(send: SendRequest) -> str:
    """A send whose messages are out is in progress until none is sending, then completed;
    a reservation stays one while any message waits for its time. Failed, cancelled and
    cancelling sends keep their status: it came from the platform."""
    Status = SendRequest.Status
    if send.status == Status.RESERVED and send.waiting_count:
        return send.status
    if send.status in (Status.RESERVED, Status.SENDING_NOW, Status.IN_PROGRESS, Status.COMPLETED):
        return Status.IN_PROGRESS if send.sending_count or send.waiting_count else Status.COMPLETED
    return send.status


RESULT_FIELDS = ["status", "result_code", "result_message", "carrier", "final_channel",
                 "completed_at", "points_refunded"]  # fmt: skip


def _save_results(deliveries: list[Delivery]) -> None:
    """Write the changed deliveries in one statement. On PostgreSQL an UPDATE … FROM
    unnest(arrays): Django's bulk_update builds a CASE per field and row and took a second
    for a batch of 1,000; one placeholder per value still cost a third of that in parsing."""
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_update(deliveries, RESULT_FIELDS)
        return
    types = ["bigint", "varchar", "varchar", "varchar", "varchar", "varchar", "timestamptz",
             "numeric"]  # fmt: skip
    columns = [[d.pk for d in deliveries]] + [
        [getattr(d, name) for d in deliveries] for name in RESULT_FIELDS
    ]
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    assignments = ", ".join(f"{name} = v.{name}" for name in RESULT_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} AS d SET {assignments} "
            f"FROM unnest({arrays}) AS v(id, {', '.join(RESULT_FIELDS)}) WHERE d.id = v.id",
            columns,
        )


def _moves_forward(delivery: Delivery, result: dict[str, Any]) -> bool:
    """Whether a result tells something newer than the delivery knows."""
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
    return not same and result["completed_at"] > delivery.completed_at


def change_status(send: SendRequest, status: str, reason: str) -> SendRequest:
    """A reservation move or a request-level failure; 409 when it cannot happen now.

    Released now (sending_now), a reservation's waiting messages go to the carriers;
    cancelled, they are never sent and refunded; a failed request's unsent messages (those
    waiting, and those no carrier has answered for) fail with its reason as their result,
    refunded too. Messages a carrier has taken wait for its answer.
    """
    with transaction.atomic():
        send = SendRequest.objects.select_for_update().get(pk=send.pk)
        if status == send.status:
            return send  # a replay
        if status not in TRANSITIONS.get(send.status, set()):
            raise ApiError(409, [{
                "field": "status",
                "message": f"Cannot move from {send.status} to {status}.",
                "current_status": send.status,
            }])  # fmt: skip
        Outcome = Delivery.Status
        waiting = send.deliveries.filter(status=Outcome.WAITING)
        if status == SendRequest.Status.SENDING_NOW:
            _move_deliveries(send, waiting, Outcome.SENDING)
        elif status == SendRequest.Status.CANCELLED:
            _move_deliveries(send, waiting, Outcome.CANCELLED, refund=True)
        elif status == SendRequest.Status.FAILED:
            unanswered = Q(status=Outcome.SENDING, carrier="", completed_at__isnull=True)
            _move_deliveries(
                send,
                send.deliveries.filter(Q(status=Outcome.WAITING) | unanswered),
                Outcome.FAILURE,
                refund=True,
                result_code=REQUEST_FAILED,
                result_message=reason[:300],
                completed_at=timezone.now(),
            )
        send.status = status
        send.failure_reason = reason[:500] if status == SendRequest.Status.FAILED else ""
        send.save()
    return send


def _move_deliveries(
    send: SendRequest,
    moving: QuerySet[Delivery],
    target: str,
    *,
    refund: bool = False,
    **fields: Any,
) -> None:
    """Move these deliveries of the send to `target`, and its counts with them."""
    if refund:
        owed = moving.aggregate(owed=Sum(F("points_charged") - F("points_refunded")))["owed"]
        send.points_refunded += owed or 0
        fields["points_refunded"] = F("points_charged")
    for source, count in _count_by_status(moving).items():
        setattr(send, f"{source}_count", getattr(send, f"{source}_count") - count)
        setattr(send, f"{target}_count", getattr(send, f"{target}_count") + count)
    moving.update(status=target, **fields)


def _count_by_status(deliveries: QuerySet[Delivery]) -> dict[str, int]:
    rows = deliveries.order_by().values_list("status").annotate(n=Count("id"))
    return dict(rows)


# Views ------------------------------------------------------------------------------------


def _api(view: Any) -> Any:
    """JSON in and out, a key instead of a session, errors as {"errors": [...]}; the whole
    call in one transaction, so an error leaves nothing behind."""

    @csrf_exempt
    @login_not_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            # Outside the call's transaction: the key's last use is written at once, not
            # held locked while a long call runs.
            organization = authenticate(request)
            with transaction.atomic():
                return view(request, organization, *args, **kwargs)
        except ApiError as error:
            return JsonResponse({"errors": error.errors}, status=error.status)
        except (OperationalError, InterfaceError):
            logger.exception("API call failed: the database cannot be reached")
            return _unexpected(503, "The database is not available. Nothing was stored; retry.")
        except Exception:
            logger.exception("API call failed")
            return _unexpected(500, "An unexpected error. Nothing was stored; retry later.")

    return wrapper


def _unexpected(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"errors": [{"field": "", "message": message}]}, status=status)
    if status == 503:
        response["Retry-After"] = "30"
    return response


def _body(request: HttpRequest) -> Any:
    if request.content_type != "application/json":
        raise error(415, "Content-Type", "Send JSON with 'Content-Type: application/json'.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise error(413, "", "The request is too large.") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as problem:
        raise error(400, "", f"Malformed JSON: {problem}") from None


def _send_json(send: SendRequest) -> dict[str, Any]:
    return {
        "external_id": send.external_id,
        "requested_at": send.requested_at.isoformat(),
        "source": send.source,
        "channel": send.channel,
        "sender": {
            "kind": send.sender.kind,
            "value": send.sender.value,
            "label": send.sender.label,
        },  # fmt: skip
        "title": send.title,
        "body": send.body,
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
        "fallback": send.fallback,
        "status": send.status,
        "failure_reason": send.failure_reason,
        "points_charged": f"{send.points_charged:.2f}",
        "points_refunded": f"{send.points_refunded:.2f}",
        "counts": {
            "recipients": send.recipient_count,
            **{outcome: getattr(send, f"{outcome}_count") for outcome in Delivery.Status.values},
        },
    }


def _get_send(organization: Organization, external_id: str) -> SendRequest:
    """The organization's send, 404 when it has none (or only an expired one, which the
    list no longer shows either)."""
    send = (
        kept(SendRequest.objects.select_related("sender"))
        .filter(organization=organization, external_id=external_id)
        .first()
        if "\x00" not in external_id  # no id holds one, and PostgreSQL refuses to look
        else None
    )
    if send is None:
        raise error(404, "external_id", "No send with this external_id.")
    return send


@_api
def send_requests(request: HttpRequest, organization: Organization) -> HttpResponse:
    if request.method == "POST":
        send, created, early = create_send(organization, parse_send(_body(request)))
        send = _get_send(organization, send.external_id)
        return JsonResponse(
            {**_send_json(send), "early_results": early}, status=201 if created else 200
        )
    if request.method != "GET":
        raise error(405, "", "Use GET or POST.")
    filterset = SendRequestFilter(
        request.GET,
        queryset=SendRequest.objects.for_org(organization).select_related("sender"),
        organization=organization,
    )
    if not filterset.is_valid():
        raise ApiError(400, [
            {"field": field, "message": " ".join(messages)}
            for field, messages in filterset.errors.items()
        ])  # fmt: skip
    page = paginate(
        filterset.qs, key=("requested_at", "id"), descending=not filterset.oldest_first,
        cursor=filterset.cursor, size=PAGE_SIZE,
    )  # fmt: skip
    return JsonResponse(
        {"results": [_send_json(send) for send in page.rows], "next_cursor": page.next_cursor}
    )


@_api
def send_request_detail(
    request: HttpRequest, organization: Organization, external_id: str
) -> HttpResponse:
    if request.method != "GET":
        raise error(405, "", "Use GET.")
    send = _get_send(organization, external_id)
    token = request.GET.get("cursor", "")
    try:
        cursor = Cursor.decode(token) if token else None
        page = paginate(send.deliveries.all(), key=("id",), descending=False, cursor=cursor,
                        size=DELIVERY_PAGE_SIZE)  # fmt: skip
    except InvalidCursor:
        raise error(400, "cursor", "Not a cursor this API gave out.") from None
    return JsonResponse({
        **_send_json(send),
        "deliveries": [
            {"external_id": d.external_id, "phone": d.recipient, "name": d.recipient_name,
             "outcome": d.status, "result_code": d.result_code,
             "result_message": d.result_message, "final_channel": d.final_channel,
             "carrier": d.carrier,
             "completed_at": d.completed_at.isoformat() if d.completed_at else None,
             "points_charged": f"{d.points_charged:.2f}",
             "points_refunded": f"{d.points_refunded:.2f}"}
            for d in page.rows
        ],
        "next_cursor": page.next_cursor,
    })  # fmt: skip


@_api
def send_request_status(
    request: HttpRequest, organization: Organization, external_id: str
) -> HttpResponse:
    if request.method != "POST":
        raise error(405, "", "Use POST.")
    data = _body(request)
    check = Checker()
    body = data if isinstance(data, dict) else {}
    status = check.choice(
        body, "status", "status", sorted({s for t in TRANSITIONS.values() for s in t})
    )
    reason = check.text(body, "reason", "reason", required=status == "failed", max_length=500)
    check.check()
    send = change_status(_get_send(organization, external_id), status, reason)
    return JsonResponse(_send_json(_get_send(organization, send.external_id)))


@_api
def results(request: HttpRequest, organization: Organization) -> HttpResponse:
    if request.method != "POST":
        raise error(405, "", "Use POST.")
    return JsonResponse(apply_results(organization, parse_results(_body(request))))


@csrf_exempt
@login_not_required
def not_found(request: HttpRequest, path: str) -> HttpResponse:
    """Any other /api/ address: a JSON 404, as the platform's client expects everywhere."""
    return JsonResponse(
        {"errors": [{"field": "", "message": f"No API at {request.path}."}]}, status=404
    )


@csrf_exempt
@login_not_required
def openapi(request: HttpRequest) -> HttpResponse:
    return HttpResponse(OPENAPI_FILE.read_bytes(), content_type="application/json")
