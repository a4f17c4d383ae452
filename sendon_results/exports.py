"""Excel and CSV exports of the results list: a filter in, a file out.

Rows stream from a server-side cursor into xlsxwriter's constant-memory workbook or a CSV
writer (on PostgreSQL, CSV comes straight out of COPY), so memory stays flat whatever the
size. The file is written to a temporary file and handed to Django's storage only when
complete: a half-written file is never offered.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import itertools
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, Count, F, Func, Max, Min, Q, QuerySet, Sum, Value, When
from django.db.models import TextField as Text
from django.db.models.functions import Coalesce, Concat, Left, NullIf
from django.db.models.lookups import In
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from . import statements
from .filters import SendRequestFilter
from .models import (
    Channel,
    Delivery,
    Export,
    Membership,
    Organization,
    SenderProfile,
    SendRequest,
    Source,
    format_phone,
)
from .result_codes import (
    CARRIER_CODES,
    KAKAO_CODES,
    REQUEST_FAILED,
    REQUEST_FAILED_EXPLANATION,
    explain,
)
from .retention import korea_day_start

logger = logging.getLogger(__name__)

# Excel's limit is 1,048,576 rows a sheet, one of them the header. Past it the export goes
# on in a further sheet ("발송결과 (2)") instead of refusing a user who asked for a big period.
XLSX_MAX_DATA_ROWS = 1_048_575
# Text that Excel or LibreOffice could take for a formula (or DDE command) when opened.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ITERATOR_CHUNK = 5_000
SENDS_PER_QUERY = 500  # deliveries are fetched for this many sends at a time, ~5,000 rows
PROGRESS_EVERY = 10_000  # rows between progress reports
DUPLICATE_WINDOW = dt.timedelta(minutes=1)
# Every CSV record ends in CRLF, as RFC 4180, csv.writer and Excel have it; a line break
# inside a cell stays the LF it was typed with (Excel writes its own CSV files that way).
CSV_LINE_END = "\r\n"
COPY_BUFFER = 1 << 20  # bytes of COPY output given their line ends at a time
# format_phone's rules as regular expressions, applied in turn (02 before other areas).
PHONE_PATTERNS = [
    (r"^(1[568][0-9]{2})([0-9]{4})$", r"\1-\2"),
    (r"^(02)([0-9]{3,4})([0-9]{4})$", r"\1-\2-\3"),
    (r"^(0[0-9]{2})([0-9]{3,4})([0-9]{4})$", r"\1-\2-\3"),
]  # the same export asked again is the same job


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
    "requested_at", "scheduled_at", "channel", "source", "sender__kind", "sender__value",
    "sender__label", "title", "body", "status", "recipient_count", "success_count",
    "failure_count", "sending_count", "waiting_count", "cancelled_count", "points_charged",
    "points_refunded", "fallback", "external_id",
]  # fmt: skip
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
    "send_request__requested_at", "send_request__channel", "send_request__source",
    "send_request__sender__kind", "send_request__sender__value", "send_request__sender__label",
    "send_request__body", "recipient", "recipient_name", "status", "result_code",
    "result_message", "final_channel", "carrier", "completed_at", "points_charged",
    "points_refunded",
]  # fmt: skip
# The same, read in two parts: the send's columns, then the recipient's.
SEND_PART = [f.removeprefix("send_request__") for f in DELIVERY_FIELDS[:7]]
DELIVERY_PART = DELIVERY_FIELDS[7:]


@dataclass
class Rows:
    """What a file is made of: columns, how many rows to expect, the rows themselves, and
    the first and last day they cover (for the file's name)."""

    columns: list[Column]
    total: int
    rows: Iterator[tuple[Any, ...]]
    first_day: dt.date | None
    last_day: dt.date | None
    # The same rows as SQL expressions over the ordered queryset, for PostgreSQL's COPY.
    queryset: QuerySet[Any]
    sql_cells: list[Any]


def _filterset(export: Export) -> SendRequestFilter:
    """The list's own FilterSet over the export's saved parameters."""
    data = QueryDict(mutable=True)
    for name, values in export.filters.items():
        data.setlist(name, values)
    filterset = SendRequestFilter(data, organization=export.organization)
    # The window moves on while the job waits: a saved filter that began inside it stays
    # the same filter. The FilterSet still leaves out what has expired by the time it runs.
    filterset.form.within_window = False
    return filterset


def describe_filters(export: Export) -> list[dict[str, str]]:
    return _filterset(export).active_filters()


def export_rows(export: Export) -> Rows:
    """The export's rows, from the list's own FilterSet re-applied to today's data.

    Call with the export's language active: labels are resolved once, not per row.
    """
    filterset = _filterset(export)
    if not filterset.is_valid():
        raise ValueError(
            gettext("The saved filter is not valid any more: %(errors)s")
            % {"errors": filterset.errors.as_text()}
        )
    sends = filterset.qs
    newest_first = not filterset.oldest_first
    cells = _Cells()
    span = _span(sends, filterset.outcomes)
    if export.kind == Export.Kind.SENDS:
        ordered = sends.order_by(*_ordering("", newest_first))
        values = ordered.values_list(*SEND_FIELDS).iterator(chunk_size=ITERATOR_CHUNK)
        return Rows(
            SEND_COLUMNS, span["sends"], map(cells.send, values), *span["days"],
            queryset=ordered, sql_cells=cells.send_sql(export.organization),
        )  # fmt: skip
    deliveries = _deliveries_of(export, sends, filterset)
    # The sends' counts cannot tell how many of their messages went to given numbers.
    total = deliveries.count() if filterset.recipients else span["deliveries"]
    ordered = deliveries.order_by(*_ordering("send_request__", newest_first), "id")
    values = _in_send_order(export, sends.order_by(*_ordering("", newest_first)), filterset)
    return Rows(
        DELIVERY_COLUMNS, total, map(cells.delivery, values), *span["days"],
        queryset=ordered, sql_cells=cells.delivery_sql(export.organization),
    )  # fmt: skip


def _in_send_order(
    export: Export, sends: QuerySet[SendRequest], filterset: SendRequestFilter
) -> Iterator[tuple[Any, ...]]:
    """The deliveries' DELIVERY_FIELDS, sends in the order of `sends` and each send's
    recipients in id order, a few hundred sends a query.

    As one query the database would join and sort every row before handing over the first
    (three seconds of CPU for a million rows, taken from the pages being browsed). Here
    the sends come in order from their own index, and each chunk's deliveries from the
    (send, id) index, without a join: a send's columns are read once, not per recipient.
    """
    send_rows = sends.values_list("id", *SEND_PART).iterator(chunk_size=ITERATOR_CHUNK)
    for chunk in itertools.batched(send_rows, SENDS_PER_QUERY):
        of_send = {send_id: (tuple(send), []) for send_id, *send in chunk}
        deliveries = _narrowed(
            Delivery.objects.filter(organization=export.organization,
                                    send_request_id__in=list(of_send)),
            filterset,
        )  # fmt: skip
        for send_id, *delivery in deliveries.order_by("send_request_id", "id").values_list(
            "send_request_id", *DELIVERY_PART
        ):
            of_send[send_id][1].append(delivery)
        for send, recipients in of_send.values():  # dicts keep the order of `sends`
            for delivery in recipients:
                yield send + tuple(delivery)


def _span(sends: QuerySet[SendRequest], outcomes: list[str]) -> dict[str, Any]:
    """How many sends and deliveries (in `outcomes`, or all) the export holds, and the days
    it covers, in one pass over the sends: their denormalised counts spare a count of the
    deliveries."""
    outcomes = outcomes or list(Delivery.Status.values)
    span = sends.aggregate(
        sends=Count("id"),
        deliveries=Coalesce(Sum(sum((F(f"{o}_count") for o in outcomes), Value(0))), 0),
        first=Min("requested_at"),
        last=Max("requested_at"),
    )
    span["days"] = tuple(
        timezone.localdate(span[key]) if span[key] else None for key in ("first", "last")
    )
    return span


def _ordering(prefix: str, newest_first: bool) -> list[str]:
    sign = "-" if newest_first else ""
    return [f"{sign}{prefix}requested_at", f"{sign}{prefix}id"]


def _deliveries_of(
    export: Export, sends: QuerySet[SendRequest], filterset: SendRequestFilter
) -> QuerySet[Delivery]:
    """Deliveries of the filtered sends, narrowed as _narrowed says."""
    deliveries = Delivery.objects.filter(
        organization=export.organization, send_request__in=sends.order_by().values("id")
    )
    return _narrowed(deliveries, filterset)


def _narrowed(deliveries: QuerySet[Delivery], filterset: SendRequestFilter) -> QuerySet[Delivery]:
    """Deliveries narrowed by the outcome and recipient filters too, as the list's FilterSet
    read them: a "failure" export lists the failed numbers, not every number of a send with
    one; a recipient export the messages to any of the numbers, not the rest of each send."""
    if outcomes := filterset.outcomes:
        deliveries = deliveries.filter(status__in=outcomes)
    if numbers := filterset.recipients:
        deliveries = deliveries.filter(recipient__in=numbers)
    return deliveries


class _Cells:
    """Turns database rows into cells. Labels, senders and explanations repeat across
    millions of rows, so each is worked out once per file."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        self.channel = {value: str(label) for value, label in Channel.choices}
        self.source = {value: str(label) for value, label in Source.choices}
        self.status = {value: str(label) for value, label in SendRequest.Status.choices}
        self.outcome = {value: str(label) for value, label in Delivery.Status.choices}
        self.on, self.off = gettext("On"), gettext("Off")
        self.senders: dict[tuple[str, str, str], str] = {}
        self.results: dict[tuple[str, str, str], str] = {}

    def send(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        (requested_at, scheduled_at, channel, source, kind, value, label, title, body, status,
         recipients, success, failure, sending, waiting, cancelled, charged, refunded, fallback,
         external_id) = row  # fmt: skip
        return (
            self.korea_time(requested_at), self.korea_time(scheduled_at), self.channel[channel],
            self.source[source], self.sender(kind, value, label), title, body,
            self.status[status], recipients, success, failure, sending, waiting, cancelled,
            charged, refunded, self.on if fallback else self.off, external_id,
        )  # fmt: skip

    def delivery(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        (requested_at, channel, source, kind, value, label, body, recipient, recipient_name,
         outcome, code, message, final_channel, carrier, completed_at, charged,
         refunded) = row  # fmt: skip
        return (
            self.korea_time(requested_at), self.channel[channel], self.source[source],
            self.sender(kind, value, label), body, format_phone(recipient), recipient_name,
            self.outcome[outcome], code, self.result(code, final_channel, message),
            self.channel[final_channel], carrier, self.korea_time(completed_at), charged,
            refunded,
        )  # fmt: skip

    def send_sql(self, organization: Organization) -> list[Any]:
        """`send` as SQL expressions (PostgreSQL), column for column."""
        return [
            self.korea_time_sql("requested_at"), self.korea_time_sql("scheduled_at"),
            _label_sql("channel", self.channel), _label_sql("source", self.source),
            self.sender_sql("sender_id", organization), _safe_text_sql("title"),
            _safe_text_sql("body"), _label_sql("status", self.status), F("recipient_count"),
            F("success_count"), F("failure_count"), F("sending_count"), F("waiting_count"),
            F("cancelled_count"), F("points_charged"), F("points_refunded"),
            Case(When(fallback=True, then=Value(self.on)), default=Value(self.off),
                 output_field=Text()),
            _safe_text_sql("external_id"),
        ]  # fmt: skip

    def delivery_sql(self, organization: Organization) -> list[Any]:
        """`delivery` as SQL expressions (PostgreSQL), column for column."""
        return [
            self.korea_time_sql("send_request__requested_at"),
            _label_sql("send_request__channel", self.channel),
            _label_sql("send_request__source", self.source),
            self.sender_sql("send_request__sender_id", organization),
            _safe_text_sql("send_request__body"), _phone_sql("recipient"),
            _safe_text_sql("recipient_name"), _label_sql("status", self.outcome),
            _safe_text_sql("result_code"), self.result_sql(),
            _label_sql("final_channel", self.channel),
            _safe_text_sql("carrier"), self.korea_time_sql("completed_at"), F("points_charged"),
            F("points_refunded"),
        ]  # fmt: skip

    def korea_time_sql(self, field: str) -> Func:
        local = Func(Value(str(self.zone)), F(field), function="timezone", output_field=Text())
        return Func(local, Value("YYYY-MM-DD HH24:MI:SS"), function="to_char", output_field=Text())

    def sender_sql(self, field: str, organization: Organization) -> Case:
        profiles = SenderProfile.objects.filter(organization=organization)
        return Case(
            *[When(**{field: p.pk}, then=Value(_csv_text(self.sender(p.kind, p.value, p.label))))
              for p in profiles],
            default=Value(""),
            output_field=Text(),
        )  # fmt: skip

    def result_sql(self) -> Case:
        kakao = [Channel.ALIMTALK, Channel.FRIENDTALK]
        summary = Value(str(REQUEST_FAILED_EXPLANATION.summary))
        request_failed = [
            When(result_code=REQUEST_FAILED, result_message="", then=summary),
            When(result_code=REQUEST_FAILED, then=_safe_text_sql("result_message")),
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
        return Case(*whens, default=_safe_text_sql("result_message"), output_field=Text())

    def korea_time(self, value: dt.datetime | None) -> dt.datetime | None:
        # Spreadsheets know no time zones: write the wall-clock time in Korea.
        return value.astimezone(self.zone).replace(tzinfo=None) if value else None

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


def _label_sql(field: str, labels: dict[str, str]) -> Case:
    return Case(
        *[When(**{field: value}, then=Value(label)) for value, label in labels.items()],
        default=F(field),
        output_field=Text(),
    )


def _safe_text_sql(field: str) -> Case:
    """`'` before formula-like text, as write_csv does."""
    return Case(
        When(
            In(Left(F(field), 1), list(FORMULA_PREFIXES)),
            then=Concat(Value("'"), F(field), output_field=Text()),
        ),
        default=F(field),
        output_field=Text(),
    )


def _phone_sql(field: str) -> Func:
    """format_phone in SQL: 1588-1234, 02-123-4567, 010-1234-5678."""
    expression: Any = F(field)
    for pattern, replacement in PHONE_PATTERNS:
        expression = Func(
            expression, Value(pattern), Value(replacement), function="regexp_replace",
            output_field=Text(),
        )  # fmt: skip
    return expression


def is_risky_text(value: object) -> bool:
    """Text a spreadsheet could run as a formula: written by outsiders, so never trusted."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def write_xlsx(
    path: Path,
    rows: Rows,
    *,
    split_column: Column | None = None,
    on_progress: Callable[[int], None] = lambda written: None,
) -> int:
    """Write `rows` to an .xlsx at `path`; returns the number of data rows written.

    A frozen header row, an autofilter, set widths, real dates and numbers. Text that
    starts like a formula is stored as text with Excel's quote prefix, so it shows as
    typed and is never evaluated, not even after an edit.
    """
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # rows go to disk as written: flat memory at any size
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    formats = _Formats(workbook)
    title = str(_("Send results"))
    sheets: dict[str, _Sheet] = {}
    split_at = rows.columns.index(split_column) if split_column else None
    written = 0
    try:
        for row in rows.rows:
            name = title if split_at is None else f"{title} - {row[split_at]}"
            sheet = sheets.get(name)
            if sheet is None or sheet.full:
                sheet = sheets[name] = _Sheet(workbook, formats, name, rows.columns, sheet)
            sheet.append(row)
            written += 1
            if written % PROGRESS_EVERY == 0:
                on_progress(written)
        if not sheets:  # an empty filter still gives a file with its headers
            sheets[title] = _Sheet(workbook, formats, title, rows.columns, None)
        for sheet in _all_sheets(sheets):
            sheet.close()
    finally:
        workbook.close()  # also on failure, so its temporary files go
    return written


class _Formats:
    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.header = workbook.add_format({"bold": True, "bg_color": "#EEF1F6", "border": 1})
        self.text = workbook.add_format({"quote_prefix": True})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})


class _Sheet:
    def __init__(
        self,
        workbook: xlsxwriter.Workbook,
        formats: _Formats,
        name: str,
        columns: list[Column],
        continued: _Sheet | None,
    ) -> None:
        self.part = continued.part + 1 if continued else 1
        self.previous = continued
        self.formats = formats
        title = name if self.part == 1 else f"{name} ({self.part})"
        self.sheet = workbook.add_worksheet(title[:31])  # Excel's limit on sheet names
        self.columns = len(columns)
        self.rows = 0
        for index, column in enumerate(columns):
            self.sheet.set_column(index, index, column.width)
        self.sheet.write_row(0, 0, [str(column.header) for column in columns], formats.header)
        self.sheet.freeze_panes(1, 0)
        # Each column's own write method: xlsxwriter's generic write() guesses the type of
        # every cell, which is a third of the time of a large export.
        writers = {
            "date": lambda row, column, value: self.sheet.write_datetime(
                row, column, value, formats.date
            ),
            "number": self.sheet.write_number,
            "text": self._write_text,
        }
        self.writers = [writers[column.kind] for column in columns]

    @property
    def full(self) -> bool:
        return self.rows >= XLSX_MAX_DATA_ROWS

    def append(self, row: tuple[Any, ...]) -> None:
        self.rows += 1
        for index, (value, write) in enumerate(zip(row, self.writers, strict=True)):
            if value is not None and value != "":
                write(self.rows, index, value)

    def _write_text(self, row: int, column: int, value: str) -> None:
        if value.startswith(FORMULA_PREFIXES):
            self.sheet.write_string(row, column, value, self.formats.text)
        else:
            self.sheet.write_string(row, column, value)

    def close(self) -> None:
        self.sheet.autofilter(0, 0, self.rows, self.columns - 1)


def _all_sheets(sheets: dict[str, _Sheet]) -> Iterable[_Sheet]:
    for sheet in sheets.values():
        while sheet is not None:
            yield sheet
            sheet = sheet.previous


def _csv_text(value: Any) -> Any:
    return f"'{value}" if is_risky_text(value) else value


def write_csv(
    path: Path, rows: Rows, *, on_progress: Callable[[int], None] = lambda written: None
) -> int:
    """Write `rows` as UTF-8 CSV with a byte-order mark (so Excel reads Korean right).

    CSV has no cell types, so formula-like text gets the usual defence: a leading `'`.
    """
    written = 0
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, lineterminator=CSV_LINE_END)
        writer.writerow([str(column.header) for column in rows.columns])
        for row in rows.rows:
            writer.writerow(
                [
                    f"'{value}"
                    if is_risky_text(value)
                    else value.strftime("%Y-%m-%d %H:%M:%S")
                    if isinstance(value, dt.datetime)
                    else value
                    for value in row
                ]  # fmt: skip
            )
            written += 1
            if written % PROGRESS_EVERY == 0:
                on_progress(written)
    return written


def copy_csv(path: Path, rows: Rows) -> int:
    """write_csv through PostgreSQL's COPY: the database formats the rows (same cells, same
    order) and Python only moves bytes, ten times faster at a million rows. No progress
    reports: the connection is busy with the COPY, and it is over in seconds."""
    names = [f"cell_{index}" for index in range(len(rows.sql_cells))]
    # COPY quotes an empty text ("") to tell it from NULL, where csv.writer writes nothing
    # for either: empty text goes as NULL, and both writers give the same bytes.
    cells = [
        NullIf(cell, Value(""), output_field=Text()) if column.kind == "text" else cell
        for column, cell in zip(rows.columns, rows.sql_cells, strict=True)
    ]
    queryset = rows.queryset.annotate(**dict(zip(names, cells, strict=True)))
    sql, params = queryset.values_list(*names).query.sql_with_params()
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file, lineterminator=CSV_LINE_END).writerow(
            [str(column.header) for column in rows.columns]
        )
    line_ends = _RecordEnds()
    with transaction.atomic(), connection.cursor() as cursor, path.open("ab") as file:
        # JIT-compiling the many CASE expressions would cost more than it saves; memory for
        # the join and the sort keeps them off the disk (twice as fast at a million rows);
        # one core, as parallel workers would take every core from the pages meanwhile.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        # COPY ends each record in LF and has no option to change it: the ends are
        # rewritten on the way to the file, a megabyte at a time (a call per row, as
        # COPY sends them, was twice as slow).
        buffer = bytearray()
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for data in copy:
                buffer += data
                if len(buffer) >= COPY_BUFFER:
                    file.write(line_ends(bytes(buffer)))
                    buffer.clear()
        file.write(line_ends(bytes(buffer)))
        return cursor.cursor.rowcount


class _RecordEnds:
    """Turns the LF that ends each CSV record into CRLF, and leaves the line breaks inside
    quoted cells alone, across pieces of a stream cut anywhere.

    Split at the quotes, the pieces alternate outside and inside a quoted cell (a doubled
    quote inside one, "", closes and reopens it, which changes nothing), and outside one
    an LF can only end a record. `"` and LF are single bytes that UTF-8 never uses inside a
    character, so bytes will do. About 140 MB/s on these machines, with two quoted cells
    a row: two seconds for a million-row export of 270 MB."""

    def __init__(self) -> None:
        self.quoted = False  # whether the stream so far ends inside a quoted cell

    def __call__(self, data: bytes) -> bytes:
        parts = data.split(b'"')
        outside = 1 if self.quoted else 0
        parts[outside::2] = [part.replace(b"\n", b"\r\n") for part in parts[outside::2]]
        if len(parts) % 2 == 0:  # an odd number of quotes: the state flips
            self.quoted = not self.quoted
        return b'"'.join(parts)


def file_name(export: Export, rows: Rows) -> str:
    """발송결과_2026-11-01_2026-11-27.xlsx: what the file holds, by the days it covers."""
    stem = (
        gettext("Send results")
        if export.kind == Export.Kind.SENDS
        else gettext("Send results by recipient")
    )
    if rows.first_day and rows.last_day:
        period = f"{rows.first_day.isoformat()}_{rows.last_day.isoformat()}"
    else:
        period = timezone.localdate(export.created_at).isoformat()
    return f"{stem.replace(' ', '_')}_{period}.{export.file_format}"


def filters_from_query(query: QueryDict) -> dict[str, list[str]]:
    """The list's GET parameters as saved on an export: no page position, no empty values."""
    return {
        name: [value for value in values if value]
        for name, values in query.lists()
        if name != "cursor" and any(values)
    }


def request_export(
    *,
    user: Any,
    organization: Organization,
    kind: str,
    file_format: str,
    filters: dict[str, list[str]],
    split: str = "",
) -> tuple[Export, bool]:
    """The member's export (or statement) of these filters: a new pending job, or the same
    one asked for within the last minute (a double click does not start two jobs).
    Returns (job, created)."""
    now = timezone.now()
    with transaction.atomic():
        # One member's requests take turns, so two clicks cannot both see "no recent job".
        Membership.objects.select_for_update().get(user=user, organization=organization)
        recent = Export.objects.for_member(user, organization).filter(
            kind=kind, file_format=file_format, split=split,
            created_at__gte=now - DUPLICATE_WINDOW,
        ).exclude(state=Export.State.FAILED)  # fmt: skip
        for export in recent:
            if export.filters == filters:
                return export, False
        export = Export.objects.create(
            organization=organization, created_by=user, kind=kind, file_format=file_format,
            split=split, filters=filters, language=translation.get_language() or "ko",
            expires_at=now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS),
        )  # fmt: skip
        if kind == Export.Kind.STATEMENT:
            # A statement lives as long as the records it sums up, so it can be verified.
            _, end = statements.period_of(export)
            export.expires_at = korea_day_start(end) + dt.timedelta(
                days=settings.RETENTION_DAYS + 1
            )
            # Numbered in this transaction: a statement whose job fails keeps its number
            # (and its retries too), so the organization's numbers have no gaps.
            export.number = statements.next_statement_number(organization, now)
            export.verification_code = statements.new_verification_code()
            export.save(update_fields=["expires_at", "number", "verification_code"])
    return export, True


def reset_for_retry(export: Export) -> bool:
    """Put a failed job back in the queue's hands, as if asked for now; False when it was
    not failed any more (a second click on "try again")."""
    now = timezone.now()
    expires_at = (
        export.expires_at  # a statement's life follows its records, not its retries
        if export.kind == Export.Kind.STATEMENT
        else now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS)
    )
    return bool(
        Export.objects.filter(pk=export.pk, state=Export.State.FAILED).update(
            state=Export.State.PENDING,
            progress=0,
            error="",
            row_count=None,
            total_rows=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            expires_at=expires_at,
        )  # fmt: skip
    )


def run_export(export_id: int, worker: str = "") -> None:
    """Build one export's file and publish it; a failure is recorded in the job, not raised.

    Safe to run twice (a redelivered task): a finished job is left alone, and a job that
    was running starts over from a fresh temporary file. Each run claims the job with an
    attempt of its own; only the latest attempt may publish, fail or report progress, so
    an earlier run still going somewhere changes nothing. `worker` names the Celery worker
    doing it, so that worker can take the job up again if it dies.
    """
    attempt = uuid.uuid4().hex
    claimed = Export.objects.filter(
        pk=export_id, state__in=[Export.State.PENDING, Export.State.RUNNING]
    ).update(
        state=Export.State.RUNNING, started_at=timezone.now(), progress=0, error="",
        worker=worker, attempt=attempt,
    )  # fmt: skip
    if not claimed:
        return
    export = Export.objects.select_related("organization", "created_by").get(pk=export_id)
    mine = Export.objects.filter(pk=export_id, state=Export.State.RUNNING, attempt=attempt)
    temp_dir = Path(settings.MEDIA_ROOT) / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    for stale in temp_dir.glob(f"export-{export.pk}-*"):  # left by a worker that died
        stale.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(dir=temp_dir, prefix=f"export-{export.pk}-", suffix=".part")
    os.close(handle)
    temp = Path(name)
    try:
        with translation.override(export.language):
            if export.kind == Export.Kind.STATEMENT:
                count = statements.write_statement(temp, export)
            else:
                count = _write_rows(temp, export)
        with temp.open("rb") as file:
            export.file.save(f"{uuid.uuid4().hex}.{export.file_format}", File(file), save=False)
        published = mine.update(
            file=export.file.name, file_name=export.file_name, file_size=export.file.size,
            row_count=count, state=Export.State.DONE, progress=100,
            finished_at=timezone.now(), figures=export.figures,
            fingerprint=export.fingerprint, covers_from=export.covers_from,
        )  # fmt: skip
        if not published:  # failed meanwhile (time limit), or claimed again: no file offered
            export.file.delete(save=False)
            return
        logger.info("export %s: %s rows, %s bytes", export.pk, count, export.file.size)
    except Exception as error:
        logger.exception("export %s failed", export.pk)
        mine.update(state=Export.State.FAILED, finished_at=timezone.now(), error=_readable(error))
    finally:
        temp.unlink(missing_ok=True)


def _write_rows(path: Path, export: Export) -> int:
    """The export's file of rows at `path`, in its format; returns the rows written."""
    rows = export_rows(export)
    Export.objects.filter(pk=export.pk).update(total_rows=rows.total)

    def report(written: int) -> None:
        Export.objects.filter(
            pk=export.pk, state=Export.State.RUNNING, attempt=export.attempt
        ).update(progress=min(99, written * 100 // max(rows.total, 1)))

    if export.file_format == Export.Format.CSV and connection.vendor == "postgresql":
        count = copy_csv(path, rows)
    elif export.file_format == Export.Format.CSV:
        count = write_csv(path, rows, on_progress=report)
    else:
        split = {"source": SOURCE, "channel": CHANNEL}.get(export.split)
        count = write_xlsx(path, rows, split_column=split, on_progress=report)
    export.file_name = file_name(export, rows)
    export.covers_from = korea_day_start(rows.first_day) if rows.first_day else None
    return count


def _readable(error: Exception) -> str:
    """What went wrong, in words the user can act on (the details go to the log)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return gettext("The server ran out of disk space while writing the file. Try again later.")
    if isinstance(error, DatabaseError):
        return gettext("The database could not be read to the end. Try again.")
    if isinstance(error, SoftTimeLimitExceeded):
        return gettext("The export took longer than allowed and was stopped. Try again.")
    if isinstance(error, ValueError):
        return str(error)
    return gettext("The file could not be made because of an unexpected error. Try again.")
