"""The file writers: xlsx through xlsxwriter's constant-memory workbook, CSV through
csv.writer or, on PostgreSQL, straight out of COPY. Memory stays flat at any size."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import xlsxwriter
from django.db import connections, transaction
from django.db.models import TextField as Text
from django.db.models import Value
from django.db.models.functions import NullIf
from django.utils.translation import gettext_lazy as _

from .columns import FORMULA_PREFIXES, Column, is_risky_text
from .rows import Rows

# Excel's limit is 1,048,576 rows a sheet, one of them the header. Past it the export goes
# on in a further sheet ("발송결과 (2)") instead of refusing a user who asked for a big period.
XLSX_MAX_DATA_ROWS = 1_048_575
PROGRESS_EVERY = 10_000  # rows between progress reports
# Every CSV record ends in CRLF, as RFC 4180, csv.writer and Excel have it; a line break
# inside a cell stays the LF it was typed with (Excel writes its own CSV files that way).
CSV_LINE_END = "\r\n"
COPY_BUFFER = 1 << 20  # bytes of COPY output given their line ends at a time


def write_xlsx(
    path: Path,
    rows: Rows,
    *,
    split_column: Column | None = None,
    on_progress: Callable[[int], None] = lambda written: None,
    title: str | None = None,
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
    title = title or str(_("Send results"))  # the sheet's name
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
        self.part: int = continued.part + 1 if continued else 1
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
    for last in sheets.values():
        sheet: _Sheet | None = last
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
                ]
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
    database = rows.queryset.db  # a replica, where the job reads from one
    with (
        transaction.atomic(using=database),
        connections[database].cursor() as cursor,
        path.open("ab") as file,
    ):
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
