"""A member's list of customers' numbers, read from the file they uploaded: an Excel
workbook (.xlsx) or a CSV in UTF-8 or CP949/EUC-KR (what Korean Excel saves as "CSV").

The rules, as the lookup page states them:
- Which column: the first column, unless a cell of the first non-empty row is one of the
  HEADERS (전화번호, 휴대폰, 수신번호, phone, …): then that column, from the row below.
  Without such a header, a first row whose first cell holds no digit at all is a header
  of another name and skipped.
- Numbers are read the way people and Excel write them (010-1234-5678, 01012345678,
  +82 10-1234-5678). A number Excel stored as a number lost its leading zero
  (1012345678): no Korean number we deliver to starts with 1 but the 8-digit 15xx/16xx/
  18xx ones, so a zero is put back and the page says how many. One Excel or a CSV wrote
  with a decimal part (1012345678.0) is read without it. In exponent form
  (1.01235E+09) digits are gone, and the row is listed as not a number.
- Blank cells are skipped and counted (those after the last number are the sheet's end,
  not blanks); a number seen before is merged into its first row and counted.
- Refused, with a message naming what to fix, before anything is looked up: a file that
  is not a spreadsheet, a password-protected workbook (an OLE2 container, not a ZIP) or
  an Excel 97-2003 .xls, more than MAX_NUMBERS numbers, a formula in the number column
  (its cell named: we would read the formula, not its result), and merged cells (their
  range named: a merged range hides values of the rows it spans, so no row's number can
  be trusted).

Nothing here writes the file anywhere or logs its contents.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openpyxl
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from ..phones import STORED, is_typed_phone, normalize_phone

MAX_BYTES = 10 * 2**20  # 10 MB
MAX_NUMBERS = 10_000
# How much of a sheet is read at most. A cell far to the right makes every row as wide as
# the sheet (16,384 columns: 9 ms a row), and blank rows cost without counting as
# numbers: without these bounds a 500 kB file kept a worker busy for a quarter of an hour.
MAX_COLUMNS = 50  # where the number column or its header is looked for
MAX_ROWS = 50_000  # rows read, blank ones included
# Header cells that name the number column, compared without spaces, case-insensitively.
HEADERS = frozenset(
    {
        "전화번호",
        "휴대폰",
        "휴대폰번호",
        "휴대전화",
        "휴대전화번호",
        "핸드폰",
        "핸드폰번호",
        "연락처",
        "수신번호",
        "수신자번호",
        "phone",
        "phonenumber",
        "mobile",
        "tel",
    }
)
INVALID_ROWS_SHOWN = 20  # rows of values that are no number, listed by number on the page

ZIP_SIGNATURE = b"PK\x03\x04"
# An OLE2 compound file: what Excel makes of a workbook it encrypts with a password, and
# the old .xls format. The encrypted one holds a stream named EncryptionInfo.
CFB_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
# Files people pick by mistake, named so the message can say what the file really is.
OTHER_FILES = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"%PDF": "PDF",
    b"BM": "BMP",
}
# A 10 MB workbook may unpack to far more (a ZIP bomb to gigabytes): its parts, unpacked,
# may hold at most this much.
UNPACKED_MAX_BYTES = 200 * 2**20
MERGE_CELL = re.compile(rb"<(?:[A-Za-z0-9_]+:)?mergeCell\b[^>]*?\bref=\"([A-Za-z0-9:$]+)\"")
MERGE_SCAN_CHUNK = 1 << 20
CSV_DELIMITERS = ",;\t"
DECIMAL_ZERO = re.compile(r"\A([0-9]+)\.0+\Z")


class Refused(Exception):
    """The file cannot be read as a list of numbers; the message says why, to the member."""


@dataclass
class NumberList:
    """The distinct numbers of a file in the order they first appear, with their rows."""

    numbers: list[tuple[int, str]] = field(default_factory=list)  # (row, digits)
    column: str = "A"  # the column read, as Excel names it
    header: str = ""  # the header cell's text, when the column was found by it
    header_row: int | None = None
    values: int = 0  # non-blank cells read in the column
    blanks: int = 0
    duplicates: int = 0
    zero_restored: int = 0  # 1012345678 read as 01012345678
    decimals: int = 0  # 1012345678.0 read as 01012345678
    invalid_rows: list[int] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return len(self.invalid_rows)

    @property
    def invalid_rows_shown(self) -> list[int]:
        return self.invalid_rows[:INVALID_ROWS_SHOWN]


# A cell as both readers give it: its value, and whether Excel holds a formula in it.
Cell = tuple[Any, bool]


def read_numbers(content: bytes) -> NumberList:
    """The numbers of an uploaded file (its bytes), or Refused with the reason."""
    if not content:
        raise Refused(_("The file is empty."))
    if len(content) > MAX_BYTES:
        raise Refused(too_large_message())
    if content.startswith(CFB_SIGNATURE):
        if ENCRYPTION_INFO in content:
            raise Refused(
                _(
                    "The file is protected with a password. Open it in Excel, remove the "
                    "password (File › Info › Protect Workbook › Encrypt with Password) and "
                    "upload it again."
                )
            )
        raise Refused(
            _("This is an Excel 97-2003 (.xls) file. Save it as .xlsx or CSV and upload it again.")
        )
    if content.startswith(ZIP_SIGNATURE):
        return collect(_xlsx_rows(content))
    for signature, kind in OTHER_FILES.items():
        if content.startswith(signature):
            raise Refused(
                _("This is not a spreadsheet but a %(kind)s file. Upload an .xlsx or CSV file.")
                % {"kind": kind}
            )
    return collect(_csv_rows(content))


def too_large_message() -> str:
    return _("The file is larger than %(mb)s MB. Upload at most %(numbers)s numbers.") % {
        "mb": MAX_BYTES // 2**20,
        "numbers": f"{MAX_NUMBERS:,}",
    }


def _not_a_spreadsheet() -> Refused:
    return Refused(
        _("This file is not a spreadsheet Excel or a CSV reader can open. Upload .xlsx or CSV.")
    )


def _xlsx_rows(content: bytes) -> Iterator[list[Cell]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = set(archive.namelist())
        unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise _not_a_spreadsheet() from None
    if "xl/workbook.xml" not in names:
        raise _not_a_spreadsheet()
    if unpacked > UNPACKED_MAX_BYTES:
        raise Refused(too_large_message())
    try:
        # Read-only: rows stream from the sheet's XML, memory stays small at any size.
        # data_only=False: a formula cell gives its formula (data type "f"), to refuse.
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise _not_a_spreadsheet() from None
    try:
        sheet = workbook.active
        path = getattr(sheet, "_worksheet_path", None)
        if sheet is None or path is None:  # a chart sheet, or no sheet
            raise Refused(_("The workbook's first sheet holds no cells. Put the numbers there."))
        # Read-only worksheets do not expose merged cells: their ranges are read from the
        # sheet's XML, streamed (<mergeCells> comes after all the rows).
        merged = _merged_range(archive, path)
        if merged:
            raise Refused(
                _(
                    "Cells %(range)s are merged. Unmerge them (Home › Merge & Center) so "
                    "each row has its own number, and upload the file again."
                )
                % {"range": merged}
            )
        sheet.reset_dimensions()  # some writers store a wrong <dimension>: read every row
        try:
            for row in sheet.iter_rows(max_col=MAX_COLUMNS):
                yield [
                    (getattr(cell, "value", None), getattr(cell, "data_type", "") == "f")
                    for cell in row
                ]
        except Refused:
            raise
        except Exception:
            raise _not_a_spreadsheet() from None
    finally:
        workbook.close()


def _merged_range(archive: zipfile.ZipFile, path: str) -> str | None:
    """The first merged range of the sheet at `path` in the workbook, as A1:B2."""
    tail = b""
    with archive.open(path.lstrip("/")) as source:
        while chunk := source.read(MERGE_SCAN_CHUNK):
            text = tail + chunk
            found = MERGE_CELL.search(text)
            if found:
                return found.group(1).decode("ascii").replace("$", "")
            tail = text[-200:]  # a tag cut in two by the chunk boundary
    return None


def _csv_rows(content: bytes) -> Iterator[list[Cell]]:
    text = _decoded(content)
    if "\x00" in text:
        raise _not_a_spreadsheet()
    first_line = text.split("\n", 1)[0]
    delimiter = max(CSV_DELIMITERS, key=first_line.count) if first_line else ","
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            yield [(value, value.startswith("=")) for value in row[:MAX_COLUMNS]]
    except csv.Error:
        raise _not_a_spreadsheet() from None


def _decoded(content: bytes) -> str:
    """CSV text in UTF-8 (with or without Excel's BOM), UTF-16 (Excel's "Unicode text")
    or CP949, the Korean Windows code page Excel saves "CSV" in (a superset of EUC-KR)."""
    if content.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "cp949"]
    for encoding in encodings:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _not_a_spreadsheet()


def collect(rows: Iterable[list[Cell]]) -> NumberList:
    """The numbers of a sheet's rows (see the module's rules), or Refused."""
    result = NumberList()
    column: int | None = None
    seen: set[str] = set()
    pending_blanks = 0
    for row_number, row in enumerate(rows, start=1):
        if row_number > MAX_ROWS:
            raise Refused(
                _(
                    "The file holds more than %(limit)s rows, blank ones included. Keep the "
                    "numbers in one column without empty rows between them."
                )
                % {"limit": f"{MAX_ROWS:,}"}
            )
        if column is None:
            if all(_is_blank(value) for value, _formula in row):
                continue  # rows before the first one with anything in it
            column = _header_column(row)
            if column is not None:
                result.header = str(row[column][0]).strip()
                result.header_row = row_number
                result.column = get_column_letter(column + 1)
                continue
            column = 0
            first = row[0][0] if row else None
            if isinstance(first, str) and not any(c.isdigit() for c in first):
                result.header = first.strip()
                result.header_row = row_number
                continue
        value, formula = row[column] if len(row) > column else (None, False)
        if formula:
            raise Refused(
                _(
                    "Cell %(cell)s holds a formula. Replace the formulas in the number column "
                    "with their values (Copy, then Paste Special › Values) and upload again."
                )
                % {"cell": f"{get_column_letter(column + 1)}{row_number}"}
            )
        if _is_blank(value):
            pending_blanks += 1
            continue
        result.blanks += pending_blanks
        pending_blanks = 0
        result.values += 1
        if result.values > MAX_NUMBERS:
            raise Refused(
                _("The file holds more than %(limit)s numbers. Split it and look up each part.")
                % {"limit": f"{MAX_NUMBERS:,}"}
            )
        number = parse_number(value)
        if number is None:
            result.invalid_rows.append(row_number)
            continue
        digits, restored, decimal = number
        if digits in seen:
            result.duplicates += 1
            continue
        seen.add(digits)
        result.numbers.append((row_number, digits))
        result.zero_restored += restored
        result.decimals += decimal
    return result


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_column(row: list[Cell]) -> int | None:
    for index, (value, _formula) in enumerate(row):
        if isinstance(value, str) and re.sub(r"\s", "", value).lower() in HEADERS:
            return index
    return None


def parse_number(value: object) -> tuple[str, bool, bool] | None:
    """A cell's number as stored (digits), whether a lost leading zero was put back and
    whether a decimal part (.0) was dropped; None for anything else."""
    decimal = False
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not value.is_integer() or value <= 0:
            return None
        text, decimal = str(int(value)), True
    elif isinstance(value, str):
        text = value.strip()
        if whole := DECIMAL_ZERO.match(text):
            text, decimal = whole.group(1), True
        if not is_typed_phone(text):
            return None
    else:  # a date, a time
        return None
    digits = normalize_phone(text)
    if STORED.match(digits):
        return digits, False, decimal
    if STORED.match("0" + digits):
        return "0" + digits, True, decimal
    return None
