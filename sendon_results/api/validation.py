"""Everything a call posts is checked whole before anything is stored, and every problem
is named by the path of its field (`recipients[3].phone`), so the platform can fix all of
them at once. What comes out is what ingest takes: text within its limits, phone numbers
as digits (`phones`), instants with an offset and inside their windows, amounts with two
decimals.

Every moment is checked against a window around now, so no row the API accepts can push a
page out of order or past what dates can hold.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..ingest import NewResult, NewSend
from ..ingest.rules import (
    CLOCK_SKEW,
    LONGEST_RESERVATION,
    RESULT_OUTCOMES,
    STATUS_MOVES,
    iso_utc,
)
from ..models import Channel, SenderProfile, Source
from ..phones import STORED, normalize_phone
from .errors import ApiError, error

MAX_RECIPIENTS = 10_000
MAX_RESULTS = 10_000
MAX_BODY = 4_000  # characters: more than any LMS/MMS or KakaoTalk message holds
MAX_ERRORS = 100  # enough to act on; the rest would only repeat
CHANNELS = list(Channel.values)
IN_RECORDS_KEPT = "within the records kept, and not more than a day ahead of now"
CENT = Decimal("0.01")


class Checker:
    """Collects every problem of a payload, each with the path of its field."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        # Prepended to every field's path: the item of a list being checked.
        self.prefix = ""
        # A batch's results share a few moments and amounts: each is parsed and compared
        # once (an aware moment's comparison with another offset's costs more than its
        # parsing). A moment is kept with the window it was compared with.
        self._moments: dict[
            str, tuple[tuple[dt.datetime, dt.datetime] | None, dt.datetime | None, bool]
        ] = {}
        self._amounts: dict[str | int, Decimal] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.append({"field": self.prefix + field, "message": message})

    def text(
        self,
        data: dict[str, Any],
        name: str,
        path: str,
        *,
        required: bool = True,
        max_length: int = 100,
    ) -> str:
        value = data.get(name)
        if (
            value.__class__ is str
            and 0 < len(value) <= max_length
            and value.isascii()
            and "\x00" not in value
        ):
            return value  # what nearly every value is: nothing to look into
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
        known = self._moments.get(value) if isinstance(value, str) else None
        if known is not None and known[0] is within:
            _, parsed, inside = known
        else:
            try:
                parsed = parse_datetime(value) if isinstance(value, str) else None
            except ValueError:  # well formed, but no such moment: minute 61, month 13
                parsed = None
            # Compared, never converted: 9999-12-31T23:59:59-14:00 has no UTC a date holds.
            inside = (
                parsed is None
                or parsed.tzinfo is None
                or not within
                or within[0] <= parsed <= within[1]
            )
            if isinstance(value, str):
                self._moments[value] = (within, parsed, inside)
        if parsed is None:
            self.fail(path, "Must be an ISO 8601 date and time, e.g. 2026-11-27T14:03:00+09:00.")
        elif parsed.tzinfo is None:
            self.fail(path, "Must carry a time zone offset, e.g. +09:00 or Z.")
            return None
        elif within and not inside:
            self.fail(
                path, f"Must lie {window}: from {iso_utc(within[0])} to {iso_utc(within[1])}."
            )
            return None
        return parsed

    def amount(self, data: dict[str, Any], name: str, path: str) -> Decimal:
        value = data.get(name, 0)
        # By class too: True == 1, and a bool is not an amount.
        plain = value.__class__ is str or value.__class__ is int
        if plain and (known := self._amounts.get(value)) is not None:
            return known
        try:
            amount = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0 or amount >= 10**8:
            self.fail(path, "Must be a number of points from 0 to 99,999,999.99.")
            return Decimal(0)
        quantized = amount.quantize(CENT)
        if amount != quantized:
            self.fail(path, "At most two decimal places.")
        elif plain:
            self._amounts[value] = quantized
        return quantized

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


def parse_send(data: Any) -> NewSend:
    """A send with its recipients, or a 400 naming every field that is wrong."""
    check = Checker()
    if not isinstance(data, dict):
        raise error(400, "", "The body must be a JSON object.")
    now = timezone.now()
    requested_at = check.moment(
        data,
        "requested_at",
        "requested_at",
        within=(now - dt.timedelta(days=settings.RETENTION_DAYS), now + CLOCK_SKEW),
        window=IN_RECORDS_KEPT,
    )
    send: dict[str, Any] = {
        "external_id": check.text(data, "external_id", "external_id"),
        "requested_at": requested_at,
        "source": check.choice(data, "source", "source", list(Source.values)),
        "channel": check.choice(data, "channel", "channel", CHANNELS),
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
    send["sender"] = _sender(check, data)
    kind = send["sender"]["kind"]
    if kind and send["channel"]:
        if (kind == SenderProfile.Kind.KAKAO) != Channel.is_kakao(send["channel"]):
            check.fail(
                "sender.kind", "KakaoTalk channels need a kakao sender, SMS/LMS/MMS a phone."
            )
    send["recipients"] = _recipients(check, data)
    if resend_of := check.text(data, "resend_of", "resend_of", required=False):
        send["resend_of"] = resend_of
    check.check()
    return cast(NewSend, send)


def _sender(check: Checker, data: dict[str, Any]) -> dict[str, str]:
    sender = data.get("sender")
    if not isinstance(sender, dict):
        check.fail("sender", "Must be an object with kind and value.")
        sender = {}
    kind = check.choice(sender, "kind", "sender.kind", list(SenderProfile.Kind.values))
    if kind == SenderProfile.Kind.PHONE:
        value = check.phone(sender, "value", "sender.value")
    else:
        value = check.text(sender, "value", "sender.value")
    return {
        "kind": kind,
        "value": value,
        "label": check.text(sender, "label", "sender.label", required=False),
    }


def _recipients(check: Checker, data: dict[str, Any]) -> list[dict[str, str]]:
    recipients = data.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        check.fail("recipients", "Must be a non-empty list.")
        recipients = []
    elif len(recipients) > MAX_RECIPIENTS:
        check.fail("recipients", f"At most {MAX_RECIPIENTS:,} per call (got {len(recipients):,}).")
        recipients = []
    parsed = []
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
        parsed.append(recipient)
        if len(check.errors) > MAX_ERRORS:
            break
    return parsed


def parse_results(data: Any) -> list[NewResult]:
    """A batch of results, or a 400 naming every field that is wrong. Whether each fits
    its send (a recipient it has, a refund within the charge) ingest decides."""
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
        check.prefix = ""
        if not isinstance(item, dict):
            check.fail(f"results[{index}]", "Must be an object.")
            continue
        # Each field's path in full only for a field that is wrong.
        check.prefix = f"results[{index}]."
        result = {
            "send_external_id": check.text(item, "send_external_id", "send_external_id"),
            "recipient_external_id": check.text(
                item, "recipient_external_id", "recipient_external_id"
            ),
            "outcome": check.choice(item, "outcome", "outcome", RESULT_OUTCOMES),
            "result_code": check.text(
                item, "result_code", "result_code", required=False, max_length=20
            ),
            "result_message": check.text(
                item, "result_message", "result_message", required=False, max_length=300
            ),
            "carrier": check.text(item, "carrier", "carrier", required=False, max_length=20),
            "final_channel": (
                check.choice(item, "final_channel", "final_channel", CHANNELS)
                if item.get("final_channel") is not None
                else ""
            ),
            "completed_at": check.moment(
                item,
                "completed_at",
                "completed_at",
                within=completed_window,
                window=IN_RECORDS_KEPT,
            ),
            "points_refunded": check.amount(item, "points_refunded", "points_refunded"),
        }
        results.append(cast(NewResult, result))
        if len(check.errors) > MAX_ERRORS:
            break
    check.prefix = ""
    check.check()
    return results


def parse_status_change(data: Any) -> tuple[str, str]:
    """(status, reason) of a status move, or a 400; a failure must say why."""
    check = Checker()
    body = data if isinstance(data, dict) else {}
    status = check.choice(body, "status", "status", STATUS_MOVES)
    reason = check.text(body, "reason", "reason", required=status == "failed", max_length=500)
    check.check()
    return status, reason
