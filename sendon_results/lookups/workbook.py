"""The lookup as an .xlsx: one row per number, in the uploaded file's order.

Written in memory (10,000 rows are about 400 kB) and handed over in the same response:
no file of it is ever on disk. XlsxWriter, as the exports: openpyxl's write-only
workbook took 5 s for 10,000 rows here, XlsxWriter 0.4 s. Text that came from the sending
platform (a result code or message) is written as a string, with Excel's quote prefix when
it starts like a formula, so it is never evaluated.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import xlsxwriter
from django.utils.translation import gettext as _

from ..exports.columns import is_risky_text
from .report import Row, channels, local, status_label

WIDTHS = (7, 16, 18, 16, 12, 10, 40, 18, 40)
DATE_FORMAT = "yyyy-mm-dd hh:mm"


def write_workbook(rows: Sequence[Row], *, send_url: Callable[[int], str]) -> bytes:
    """The rows as an .xlsx file's bytes; `send_url(send id)` gives each send's link."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,  # no temporary files
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    header = workbook.add_format({"bold": True, "bg_color": "#EEF1F6", "border": 1})
    date = workbook.add_format({"num_format": DATE_FORMAT})
    quoted = workbook.add_format({"quote_prefix": True})
    sheet = workbook.add_worksheet(_("Number lookup")[:31])
    for index, width in enumerate(WIDTHS):
        sheet.set_column(index, index, width)
    headers = [
        _("Row"),
        _("Recipient number"),
        _("Last requested at"),
        _("Channel"),
        _("Delivery status"),
        _("Result code"),
        _("Explanation"),
        _("Completed at"),
        _("Send link"),
    ]
    sheet.write_row(0, 0, headers, header)
    sheet.freeze_panes(1, 0)

    def text(line: int, column: int, value: str) -> None:
        if value:
            sheet.write_string(line, column, value, quoted if is_risky_text(value) else None)

    for line, row in enumerate(rows, start=1):
        sheet.write_number(line, 0, row.row)
        sheet.write_string(line, 1, row.number)
        sheet.write_string(line, 4, status_label(row.status))
        outcome = row.outcome
        if outcome is None:
            continue
        sheet.write_datetime(line, 2, local(outcome.requested_at), date)
        sheet.write_string(line, 3, channels(outcome))
        text(line, 5, outcome.result_code)
        text(line, 6, row.explanation)
        if outcome.completed_at is not None:
            sheet.write_datetime(line, 7, local(outcome.completed_at), date)
        sheet.write_string(line, 8, send_url(outcome.send_id))
    sheet.autofilter(0, 0, len(rows), len(headers) - 1)
    workbook.close()
    return buffer.getvalue()
