"""Excel and CSV exports of the results list: a filter in, a file out.

Rows stream from a server-side cursor into openpyxl's write-only workbook (or a CSV
writer), so memory stays flat whatever the size. The file is written to a temporary file
and handed to Django's storage only when complete: a half-written file is never offered.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from .filters import SendRequestFilter, normalize_phone
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
from .result_codes import explain

logger = logging.getLogger(__name__)

# Excel's limit is 1,048,576 rows a sheet, one of them the header. Past it the export goes
# on in a further sheet ("발송결과 (2)") instead of refusing a user who asked for a big period.
XLSX_MAX_DATA_ROWS = 1_048_575
# Text that Excel or LibreOffice could take for a formula (or DDE command) when opened.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ITERATOR_CHUNK = 5_000
PROGRESS_EVERY = 10_000  # rows between progress reports
DUPLICATE_WINDOW = dt.timedelta(minutes=1)  # the same export asked again is the same job


@dataclass(frozen=True)
class Column:
    header: Any  # a lazy translation, resolved in the export's language
    width: float
    date: bool = False


CHANNEL = Column(_("Channel"), 9)
SOURCE = Column(_("Source"), 7)
SEND_COLUMNS = [
    Column(_("Requested at"), 18, date=True),
    Column(_("Scheduled at"), 18, date=True),
    CHANNEL,
    SOURCE,
    Column(_("Sender info"), 22),
    Column(_("Title"), 20),
    Column(_("Message body"), 60),
    Column(_("Processing status"), 11),
    Column(_("Recipients"), 9),
    Column(_("Success"), 9),
    Column(_("Failure"), 9),
    Column(pgettext_lazy("outcome", "Sending"), 9),
    Column(_("Points charged"), 11),
    Column(_("Points refunded"), 11),
    Column(_("Fallback text"), 9),
    Column(_("Platform id"), 24),
]
SEND_FIELDS = [
    "requested_at", "scheduled_at", "channel", "source", "sender__kind", "sender__value",
    "sender__label", "title", "body", "status", "recipient_count", "success_count",
    "failure_count", "sending_count", "points_charged", "points_refunded", "fallback",
    "external_id",
]  # fmt: skip
DELIVERY_COLUMNS = [
    Column(_("Requested at"), 18, date=True),
    CHANNEL,
    SOURCE,
    Column(_("Sender info"), 22),
    Column(_("Message body"), 50),
    Column(_("Processing status"), 11),
    Column(_("Recipient"), 15),
    Column(_("Recipient name"), 12),
    Column(_("Delivery status"), 9),
    Column(_("Result code"), 9),
    Column(_("Result"), 36),
    Column(_("Sent by"), 9),
    Column(_("Carrier"), 8),
    Column(_("Completed at"), 18, date=True),
    Column(_("Points charged"), 11),
    Column(_("Points refunded"), 11),
    Column(_("Platform id"), 24),
]
DELIVERY_FIELDS = [
    "send_request__requested_at", "send_request__channel", "send_request__source",
    "send_request__sender__kind", "send_request__sender__value", "send_request__sender__label",
    "send_request__body", "send_request__status", "recipient", "recipient_name", "status",
    "result_code", "result_message", "final_channel", "carrier", "completed_at",
    "points_charged", "points_refunded", "send_request__external_id",
]  # fmt: skip


@dataclass
class Rows:
    """What a file is made of: columns, how many rows to expect, and the rows themselves."""

    columns: list[Column]
    total: int
    rows: Iterator[tuple[Any, ...]]
    first_day: dt.date | None = None  # of the rows written, for the file's name
    last_day: dt.date | None = None


def _filterset(export: Export) -> SendRequestFilter:
    """The list's own FilterSet over the export's saved parameters."""
    data = QueryDict(mutable=True)
    for name, values in export.filters.items():
        data.setlist(name, values)
    return SendRequestFilter(
        data,
        queryset=SendRequest.objects.for_org(export.organization),
        request=SimpleNamespace(organization=export.organization),
    )


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
    newest_first = not filterset.oldest_first
    labels = _Labels()
    if export.kind == Export.Kind.SENDS:
        sends = filterset.qs.order_by(*_ordering("", newest_first))
        values = sends.values_list(*SEND_FIELDS).iterator(chunk_size=ITERATOR_CHUNK)
        result = Rows(SEND_COLUMNS, sends.count(), iter(()))
        result.rows = (labels.send(row, result) for row in values)
        return result

    deliveries = _deliveries_of(export, filterset.qs).order_by(
        *_ordering("send_request__", newest_first), "id"
    )
    values = deliveries.values_list(*DELIVERY_FIELDS).iterator(chunk_size=ITERATOR_CHUNK)
    result = Rows(DELIVERY_COLUMNS, deliveries.count(), iter(()))
    result.rows = (labels.delivery(row, result) for row in values)
    return result


def _ordering(prefix: str, newest_first: bool) -> list[str]:
    sign = "-" if newest_first else ""
    return [f"{sign}{prefix}requested_at", f"{sign}{prefix}id"]


def _deliveries_of(export: Export, sends: QuerySet[SendRequest]) -> QuerySet[Delivery]:
    """Deliveries of the filtered sends, narrowed by the outcome and recipient filters too:
    a "failure" export lists the failed numbers, not every number of a send with one."""
    deliveries = Delivery.objects.filter(
        organization=export.organization, send_request__in=sends.order_by().values("id")
    )
    if outcomes := export.filters.get("outcome"):
        deliveries = deliveries.filter(status__in=outcomes)
    if recipient := "".join(export.filters.get("recipient", [])).strip():
        deliveries = deliveries.filter(recipient=normalize_phone(recipient))
    return deliveries


class _Labels:
    """Turns database rows into cells, with choice labels looked up once per file."""

    def __init__(self) -> None:
        self.channel = {value: str(label) for value, label in Channel.choices}
        self.source = {value: str(label) for value, label in Source.choices}
        self.status = {value: str(label) for value, label in SendRequest.Status.choices}
        self.outcome = {value: str(label) for value, label in Delivery.Status.choices}
        self.on, self.off = gettext("On"), gettext("Off")

    def send(self, row: tuple[Any, ...], rows: Rows) -> tuple[Any, ...]:
        (requested_at, scheduled_at, channel, source, kind, value, label, title, body, status,
         recipients, success, failure, sending, charged, refunded, fallback,
         external_id) = row  # fmt: skip
        requested_at = _korea_time(requested_at)
        _note_day(rows, requested_at)
        return (
            requested_at, _korea_time(scheduled_at), self.channel[channel], self.source[source],
            _sender(kind, value, label), title, body, self.status[status], recipients, success,
            failure, sending, charged, refunded, self.on if fallback else self.off, external_id,
        )  # fmt: skip

    def delivery(self, row: tuple[Any, ...], rows: Rows) -> tuple[Any, ...]:
        (requested_at, channel, source, kind, value, label, body, status, recipient,
         recipient_name, outcome, code, message, final_channel, carrier, completed_at, charged,
         refunded, external_id) = row  # fmt: skip
        requested_at = _korea_time(requested_at)
        _note_day(rows, requested_at)
        explanation = explain(code, final_channel) if code else None
        return (
            requested_at, self.channel[channel], self.source[source], _sender(kind, value, label),
            body, self.status[status], format_phone(recipient), recipient_name,
            self.outcome[outcome], code, str(explanation.summary) if explanation else message,
            self.channel[final_channel], carrier, _korea_time(completed_at), charged, refunded,
            external_id,
        )  # fmt: skip


def _note_day(rows: Rows, moment: dt.datetime | None) -> None:
    if moment is None:
        return
    day = moment.date()
    if rows.first_day is None or day < rows.first_day:
        rows.first_day = day
    if rows.last_day is None or day > rows.last_day:
        rows.last_day = day


def _sender(kind: str, value: str, label: str) -> str:
    if kind == SenderProfile.Kind.PHONE:
        return f"{format_phone(value)} ({label})" if label else format_phone(value)
    return label or value


def _korea_time(value: dt.datetime | None) -> dt.datetime | None:
    # Spreadsheets know no time zones: write the wall-clock time in Korea.
    return timezone.localtime(value).replace(tzinfo=None) if value else None


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

    A header row that stays frozen, an autofilter, set widths, real dates and numbers.
    Text that starts like a formula is stored as text with Excel's quote prefix, so it
    shows as typed and is never evaluated, not even after an edit.
    """
    workbook = Workbook(write_only=True)
    title = str(_("Send results"))
    sheets: dict[str, _Sheet] = {}
    split_at = rows.columns.index(split_column) if split_column else None
    written = 0
    for row in rows.rows:
        name = title if split_at is None else f"{title} - {row[split_at]}"
        sheet = sheets.get(name)
        if sheet is None or sheet.full:
            sheet = sheets[name] = _Sheet(workbook, name, rows.columns, continued=sheet)
        sheet.append(row)
        written += 1
        if written % PROGRESS_EVERY == 0:
            on_progress(written)
    if not sheets:  # an empty filter still gives a file with its headers
        _Sheet(workbook, title, rows.columns, continued=None).close()
    for sheet in _all_sheets(sheets):
        sheet.close()
    workbook.save(path)
    return written


class _Sheet:
    def __init__(
        self, workbook: Workbook, name: str, columns: list[Column], continued: _Sheet | None
    ) -> None:
        self.part = continued.part + 1 if continued else 1
        self.previous = continued
        title = name if self.part == 1 else f"{name} ({self.part})"
        self.sheet = workbook.create_sheet(title=title[:31])  # Excel's limit on sheet names
        self.columns = columns
        self.rows = 0
        for index, column in enumerate(columns, start=1):
            self.sheet.column_dimensions[get_column_letter(index)].width = column.width
        self.sheet.freeze_panes = "A2"
        self.sheet.append([str(column.header) for column in columns])

    @property
    def full(self) -> bool:
        return self.rows >= XLSX_MAX_DATA_ROWS

    def append(self, row: tuple[Any, ...]) -> None:
        if any(is_risky_text(value) for value in row):
            row = tuple(self._as_text(value) if is_risky_text(value) else value for value in row)
        self.sheet.append(row)
        self.rows += 1

    def _as_text(self, value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.sheet, value=value)
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell

    def close(self) -> None:
        last = get_column_letter(len(self.columns))
        self.sheet.auto_filter.ref = f"A1:{last}{self.rows + 1}"


def _all_sheets(sheets: dict[str, _Sheet]) -> Iterable[_Sheet]:
    for sheet in sheets.values():
        while sheet is not None:
            yield sheet
            sheet = sheet.previous


def write_csv(
    path: Path, rows: Rows, *, on_progress: Callable[[int], None] = lambda written: None
) -> int:
    """Write `rows` as UTF-8 CSV with a byte-order mark (so Excel reads Korean right).

    CSV has no cell types, so formula-like text gets the usual defence: a leading `'`.
    """
    written = 0
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
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


def request_export(
    *,
    user: Any,
    organization: Organization,
    kind: str,
    file_format: str,
    split: str,
    query: QueryDict,
) -> tuple[Export, bool]:
    """The member's export of this filter: a new pending job, or the same one asked for
    within the last minute (a double click does not start two jobs). Returns (job, created)."""
    filters = {
        name: [value for value in values if value]
        for name, values in query.lists()
        if name != "cursor" and any(values)
    }
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
    return export, True


def reset_for_retry(export: Export) -> None:
    """Put a failed job back in the queue's hands, as if asked for now."""
    now = timezone.now()
    Export.objects.filter(pk=export.pk, state=Export.State.FAILED).update(
        state=Export.State.PENDING, progress=0, error="", row_count=None, total_rows=None,
        created_at=now, started_at=None, finished_at=None,
        expires_at=now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS),
    )  # fmt: skip


def run_export(export_id: int) -> None:
    """Build one export's file and publish it; a failure is recorded in the job, not raised.

    Safe to run twice (a redelivered task): a finished job is left alone, and a job that
    was running starts over from a fresh temporary file.
    """
    now = timezone.now()
    claimed = Export.objects.filter(
        pk=export_id, state__in=[Export.State.PENDING, Export.State.RUNNING]
    ).update(state=Export.State.RUNNING, started_at=now, progress=0, error="")
    if not claimed:
        return
    export = Export.objects.select_related("organization").get(pk=export_id)
    temp_dir = Path(settings.MEDIA_ROOT) / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    for stale in temp_dir.glob(f"export-{export.pk}-*"):  # left by a worker that died
        stale.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(dir=temp_dir, prefix=f"export-{export.pk}-", suffix=".part")
    os.close(handle)
    temp = Path(name)
    try:
        with translation.override(export.language):
            rows = export_rows(export)
            Export.objects.filter(pk=export.pk).update(total_rows=rows.total)

            def report(written: int) -> None:
                percent = min(99, written * 100 // max(rows.total, 1))
                Export.objects.filter(pk=export.pk, state=Export.State.RUNNING).update(
                    progress=percent
                )

            if export.file_format == Export.Format.CSV:
                count = write_csv(temp, rows, on_progress=report)
            else:
                split = {"source": SOURCE, "channel": CHANNEL}.get(export.split)
                count = write_xlsx(temp, rows, split_column=split, on_progress=report)
            export.file_name = file_name(export, rows)
        with temp.open("rb") as file:
            export.file.save(f"{uuid.uuid4().hex}.{export.file_format}", File(file), save=False)
        export.file_size = export.file.size
        export.row_count = count
        export.state = Export.State.DONE
        export.progress = 100
        export.finished_at = timezone.now()
        export.save(
            update_fields=["file", "file_name", "file_size", "row_count", "state", "progress",
                           "finished_at"]
        )  # fmt: skip
        logger.info("export %s: %s rows, %s bytes", export.pk, count, export.file_size)
    except Exception as error:
        logger.exception("export %s failed", export.pk)
        Export.objects.filter(pk=export.pk).update(
            state=Export.State.FAILED, finished_at=timezone.now(), error=_readable(error)
        )
    finally:
        temp.unlink(missing_ok=True)


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
