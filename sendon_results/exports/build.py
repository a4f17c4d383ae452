"""One export's file, as the job runs it: its rows, the writer for its format, its name."""

from __future__ import annotations

from pathlib import Path

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from .. import jobs
from ..dates import day_start
from ..models import Export
from .columns import CHANNEL, SOURCE
from .rows import Rows, export_rows
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
    export.file_name = file_name(export, rows)
    export.covers_from = day_start(rows.first_day) if rows.first_day else None
    return count


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
