"""One export's file, as the job runs it: its rows, the writer for its format, its name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from .. import jobs
from ..dates import day_start, parse_day
from ..models import Export
from ..retention import oldest_kept_day
from .columns import CHANNEL, SOURCE
from .rows import export_rows
from .writers import copy_csv, write_csv, write_xlsx


def write_export(path: Path, export: Export) -> int:
    """The export's file of rows at `path`, in its format; returns the rows written."""
    rows = export_rows(export)
    Export.objects.filter(pk=export.pk).update(total_rows=rows.total)

    def report(written: int) -> None:
        jobs.report_progress(export, written * 100 // max(rows.total, 1))

    if export.file_format == Export.Format.CSV and connection.vendor == "postgresql":
        count = copy_csv(path, rows)
    elif export.file_format == Export.Format.CSV:
        count = write_csv(path, rows, on_progress=report)
    else:
        split = {"source": SOURCE, "channel": CHANNEL}.get(export.split)
        count = write_xlsx(path, rows, split_column=split, on_progress=report)
    export.file_name = file_name(export)
    export.covers_from = day_start(rows.first_day) if rows.first_day else None
    return count


def file_name(export: Export) -> str:
    """발송결과_2026-11-01_2026-11-30.xlsx: what the file holds, by the period asked for
    (whatever days its rows happen to fall on)."""
    stem = (
        gettext("Send results")
        if export.kind == Export.Kind.SENDS
        else gettext("Send results by recipient")
    )
    start, end = requested_period(export.filters, timezone.localdate())
    return f"{stem.replace(' ', '_')}_{start.isoformat()}_{end.isoformat()}.{export.file_format}"


def requested_period(filters: dict[str, list[str]], today: dt.date) -> tuple[dt.date, dt.date]:
    """The period of a saved list filter: its bounds as typed, a bound left out being the
    list's own (it shows every send kept: from the oldest day kept, to today)."""

    def bound(name: str) -> dt.date | None:
        values = filters.get(name) or [""]
        try:
            return parse_day(values[0])
        except ValueError:
            return None  # the filter refused it when the export was asked for

    start = bound("requested_from") or oldest_kept_day(today)
    end = bound("requested_to") or max(today, start)
    return start, end
