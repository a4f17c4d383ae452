"""The columns of the two export layouts, and how a database row becomes their cells: in
Python for xlsx and CSV, and the same in SQL beside it for PostgreSQL's COPY.
`tests/test_exports.py` and `tests/test_masking.py` keep each SQL twin equal to its Python
original. Recipients' numbers and names are masked unless the export was asked for with
them in full (`Export.unmasked`, with a reason)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, F, Q, Value, When
from django.db.models import TextField as Text
from django.db.models.functions import Concat, Left
from django.db.models.lookups import In
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from ..dates import wall_clock, wall_clock_sql
from ..masking import mask_name, mask_name_sql, mask_phone, mask_phone_sql
from ..models import Channel, Delivery, Organization, SenderProfile, SendRequest, Source
from ..phones import format_phone, format_phone_sql
from ..result_codes import (
    CARRIER_CODES,
    KAKAO_CODES,
    REQUEST_FAILED,
    REQUEST_FAILED_EXPLANATION,
    explain,
)

# Text that Excel or LibreOffice could take for a formula (or DDE command) when opened.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    header: Any  # a lazy translation, resolved in the export's language
    width: float
    kind: str = "text"  # or "date", "number": how the cell is written


CHANNEL = Column(_("Channel"), 9)
SOURCE = Column(_("Source"), 7)
SEND_COLUMNS = [
    Column(_("Requested at"), 18, kind="date"),
    Column(_("Scheduled at"), 18, kind="date"),
    CHANNEL,
    SOURCE,
    Column(_("Sender info"), 22),
    Column(_("Title"), 20),
    Column(_("Message body"), 60),
    Column(_("Processing status"), 11),
    Column(_("Recipients"), 9, kind="number"),
    Column(_("Success"), 9, kind="number"),
    Column(_("Failure"), 9, kind="number"),
    Column(pgettext_lazy("outcome", "Sending"), 9, kind="number"),
    # Messages that never went out: neither a success nor a failure, so columns of their own.
    Column(pgettext_lazy("outcome", "Waiting"), 9, kind="number"),
    Column(pgettext_lazy("outcome", "Cancelled"), 9, kind="number"),
    Column(_("Points charged"), 11, kind="number"),
    Column(_("Points refunded"), 11, kind="number"),
    Column(_("Fallback text"), 9),
    Column(_("Platform id"), 24),
]
SEND_FIELDS = [
    "requested_at",
    "scheduled_at",
    "channel",
    "source",
    "sender__kind",
    "sender__value",
    "sender__label",
    "title",
    "body",
    "status",
    "recipient_count",
    "success_count",
    "failure_count",
    "sending_count",
    "waiting_count",
    "cancelled_count",
    "points_charged",
    "points_refunded",
    "fallback",
    "external_id",
]
DELIVERY_COLUMNS = [
    Column(_("Requested at"), 18, kind="date"),
    CHANNEL,
    SOURCE,
    Column(_("Sender info"), 22),
    Column(_("Message body"), 50),
    Column(_("Recipient"), 15),
    Column(_("Recipient name"), 12),
    Column(_("Delivery status"), 9),
    Column(_("Result code"), 9),
    Column(_("Result"), 36),
    Column(_("Sent by"), 9),
    Column(_("Carrier"), 8),
    Column(_("Completed at"), 18, kind="date"),
    Column(_("Points charged"), 11, kind="number"),
    Column(_("Points refunded"), 11, kind="number"),
]
DELIVERY_FIELDS = [
    "requested_at",  # the delivery's copy of its send's
    "send_request__channel",
    "send_request__source",
    "send_request__sender__kind",
    "send_request__sender__value",
    "send_request__sender__label",
    "send_request__body",
    "recipient",
    "recipient_name",
    "status",
    "result_code",
    "result_message",
    "final_channel",
    "carrier",
    "completed_at",
    "points_charged",
    "points_refunded",
]
# The same, read in two parts: the send's columns, then the recipient's.
SEND_PART = [f.removeprefix("send_request__") for f in DELIVERY_FIELDS[:7]]
DELIVERY_PART = DELIVERY_FIELDS[7:]


class Cells:
    """Turns database rows into cells. Labels, senders and explanations repeat across
    millions of rows, so each is worked out once per file."""

    def __init__(self, *, unmasked: bool = False) -> None:
        # Numbers and names in full only in an export asked for so; masked by default.
        self.unmasked = unmasked
        self.zone = timezone.get_current_timezone()
        self.channel = {value: str(label) for value, label in Channel.choices}
        self.source = {value: str(label) for value, label in Source.choices}
        self.status = {value: str(label) for value, label in SendRequest.Status.choices}
        self.outcome = {value: str(label) for value, label in Delivery.Status.choices}
        self.on, self.off = gettext("On"), gettext("Off")
        self.senders: dict[tuple[str, str, str], str] = {}
        self.results: dict[tuple[str, str, str], str] = {}

    def send(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        (
            requested_at,
            scheduled_at,
            channel,
            source,
            kind,
            value,
            label,
            title,
            body,
            status,
            recipients,
            success,
            failure,
            sending,
            waiting,
            cancelled,
            charged,
            refunded,
            fallback,
            external_id,
        ) = row
        return (
            self.time(requested_at),
            self.time(scheduled_at),
            self.channel[channel],
            self.source[source],
            self.sender(kind, value, label),
            title,
            body,
            self.status[status],
            recipients,
            success,
            failure,
            sending,
            waiting,
            cancelled,
            charged,
            refunded,
            self.on if fallback else self.off,
            external_id,
        )

    def delivery(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        (
            requested_at,
            channel,
            source,
            kind,
            value,
            label,
            body,
            recipient,
            recipient_name,
            outcome,
            code,
            message,
            final_channel,
            carrier,
            completed_at,
            charged,
            refunded,
        ) = row
        return (
            self.time(requested_at),
            self.channel[channel],
            self.source[source],
            self.sender(kind, value, label),
            body,
            format_phone(recipient) if self.unmasked else mask_phone(recipient),
            recipient_name if self.unmasked else mask_name(recipient_name),
            self.outcome[outcome],
            code,
            self.result(code, final_channel, message),
            self.channel[final_channel],
            carrier,
            self.time(completed_at),
            charged,
            refunded,
        )

    def send_sql(self, organization: Organization) -> list[Any]:
        """`send` as SQL expressions (PostgreSQL), column for column."""
        return [
            wall_clock_sql("requested_at"),
            wall_clock_sql("scheduled_at"),
            label_sql("channel", self.channel),
            label_sql("source", self.source),
            self.sender_sql("sender_id", organization),
            safe_text_sql("title"),
            safe_text_sql("body"),
            label_sql("status", self.status),
            F("recipient_count"),
            F("success_count"),
            F("failure_count"),
            F("sending_count"),
            F("waiting_count"),
            F("cancelled_count"),
            F("points_charged"),
            F("points_refunded"),
            Case(
                When(fallback=True, then=Value(self.on)),
                default=Value(self.off),
                output_field=Text(),
            ),
            safe_text_sql("external_id"),
        ]

    def delivery_sql(self, organization: Organization) -> list[Any]:
        """`delivery` as SQL expressions (PostgreSQL), column for column."""
        return [
            wall_clock_sql("requested_at"),  # the delivery's copy of its send's
            label_sql("send_request__channel", self.channel),
            label_sql("send_request__source", self.source),
            self.sender_sql("send_request__sender_id", organization),
            safe_text_sql("send_request__body"),
            # A number the platform stored oddly (+82…) is text a spreadsheet could run.
            safe_text_sql(
                format_phone_sql("recipient") if self.unmasked else mask_phone_sql("recipient")
            ),
            safe_text_sql("recipient_name" if self.unmasked else mask_name_sql("recipient_name")),
            label_sql("status", self.outcome),
            safe_text_sql("result_code"),
            self.result_sql(),
            label_sql("final_channel", self.channel),
            safe_text_sql("carrier"),
            wall_clock_sql("completed_at"),
            F("points_charged"),
            F("points_refunded"),
        ]

    def sender_sql(self, field: str, organization: Organization) -> Case:
        profiles = SenderProfile.objects.filter(organization=organization)
        return Case(
            *[
                When(**{field: p.pk}, then=Value(safe_text(self.sender(p.kind, p.value, p.label))))
                for p in profiles
            ],
            default=Value(""),
            output_field=Text(),
        )

    def result_sql(self) -> Case:
        kakao = [Channel.ALIMTALK, Channel.FRIENDTALK]
        summary = Value(str(REQUEST_FAILED_EXPLANATION.summary))
        request_failed = [
            When(result_code=REQUEST_FAILED, result_message="", then=summary),
            When(result_code=REQUEST_FAILED, then=safe_text_sql("result_message")),
        ]
        kakao_codes = [
            When(result_code=code, final_channel__in=kakao, then=Value(str(e.summary)))
            for code, e in KAKAO_CODES.items()
        ]
        carrier_codes = [
            When(Q(result_code=code) & ~Q(final_channel__in=kakao), then=Value(str(e.summary)))
            for code, e in CARRIER_CODES.items()
        ]
        whens = request_failed + kakao_codes + carrier_codes
        return Case(*whens, default=safe_text_sql("result_message"), output_field=Text())

    def time(self, value: dt.datetime | None) -> dt.datetime | None:
        return wall_clock(value, self.zone)

    def sender(self, kind: str, value: str, label: str) -> str:
        key = (kind, value, label)
        if key not in self.senders:
            self.senders[key] = str(SenderProfile(kind=kind, value=value, label=label))
        return self.senders[key]

    def result(self, code: str, channel: str, message: str) -> str:
        """Our explanation of the code where we know it, else the platform's own text.

        A request that failed as a whole says why in each message's text (the reason the
        platform gave for the request): that, not our general words, is what to act on."""
        key = (code, channel, message)
        if key not in self.results:
            if code == REQUEST_FAILED and message:
                explanation = None
            else:
                explanation = explain(code, channel) if code else None
            self.results[key] = str(explanation.summary) if explanation else message
        return self.results[key]


def label_sql(field: str, labels: dict[str, str]) -> Case:
    return Case(
        *[When(**{field: value}, then=Value(label)) for value, label in labels.items()],
        default=F(field),
        output_field=Text(),
    )


def safe_text_sql(field: str | Any) -> Case:
    """`'` before formula-like text, as write_csv does: of a field, or of an expression."""
    text = F(field) if isinstance(field, str) else field
    return Case(
        When(
            In(Left(text, 1), list(FORMULA_PREFIXES)),
            then=Concat(Value("'"), text, output_field=Text()),
        ),
        default=text,
        output_field=Text(),
    )


def is_risky_text(value: object) -> bool:
    """Text a spreadsheet could run as a formula: written by outsiders, so never trusted."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def safe_text(value: Any) -> Any:
    """Formula-like text with a leading `'`, the usual defence where cells have no types."""
    return f"'{value}" if is_risky_text(value) else value
