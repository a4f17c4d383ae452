"""실패 번호 내보내기: a send's failed recipients as a file to hand to the sending platform
for a resend — each number, name, result code, our explanation and the platform's text.

Made at once, in the request, not as an export job: a send has at most tens of thousands
of recipients, which xlsxwriter's constant-memory workbook writes in about a second,
and a member who asks for a resend file wants it now, not on the exports page. Numbers
and names are masked unless the member may see them and asked for them with a reason
(the same rule as the list's exports: `ExportRequestForm`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..dates import wall_clock
from ..masking import mask_name, mask_phone
from ..models import Channel, Delivery, Export, SendRequest
from ..models.sends import DeliveryQuerySet
from ..phones import format_phone
from ..result_codes import REQUEST_FAILED, explain
from ..results.filters import RESULT_CODE_PATTERN
from .columns import Column
from .forms import REASON_MAX_LENGTH, REASON_MIN_LENGTH
from .rows import ITERATOR_CHUNK, Rows
from .writers import write_csv, write_xlsx

FAILED_COLUMNS = [
    Column(_("Recipient"), 16),
    Column(_("Recipient name"), 12),
    Column(_("Result code"), 10),
    Column(_("Result"), 40),
    Column(_("Result message"), 30),
    Column(_("Sent by"), 9),
    Column(_("Completed at"), 18, kind="date"),
]
FAILED_FIELDS = [
    "recipient",
    "recipient_name",
    "result_code",
    "result_message",
    "final_channel",
    "completed_at",
]


class FailedExportForm(forms.Form):
    """Asks for a send's failed recipients (of one result code, when given): masked unless
    full numbers are asked for with a reason (the view checks the role)."""

    file_format = forms.ChoiceField(
        label=_("Format"),
        choices=[(f.value, f.label) for f in (Export.Format.XLSX, Export.Format.CSV)],
        required=False,
    )
    code = forms.RegexField(regex=RESULT_CODE_PATTERN, required=False, widget=forms.HiddenInput)
    unmasked = forms.BooleanField(label=_("Include full numbers"), required=False)
    reason = forms.CharField(
        label=_("Reason for download"),
        required=False,
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"class": "export-reason", "placeholder": _("Reason for download (required)")}
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["file_format"] = cleaned.get("file_format") or Export.Format.XLSX
        if not cleaned.get("unmasked"):
            cleaned["reason"] = ""  # a masked file needs none, and keeps none
            self.errors.pop("reason", None)
        elif not cleaned.get("reason") and "reason" not in self.errors:
            self.add_error(
                "reason",
                _("Say why you need the full numbers (%(min)s to %(max)s characters).")
                % {"min": REASON_MIN_LENGTH, "max": REASON_MAX_LENGTH},
            )
        return cleaned


def failed_deliveries(send: SendRequest, *, code: str = "") -> DeliveryQuerySet:
    """The send's failed recipients (of `code`, when given), in the detail page's order."""
    deliveries = Delivery.objects.of_send(send).filter(status=Delivery.Status.FAILURE)
    if code:
        deliveries = deliveries.filter(result_code=code)
    return deliveries.order_by("id")


def failed_rows(send: SendRequest, *, unmasked: bool, code: str = "") -> Rows:
    """The file's rows. Call with the member's language active: labels and explanations
    are written in it."""
    deliveries = failed_deliveries(send, code=code)
    values = deliveries.values_list(*FAILED_FIELDS).iterator(chunk_size=ITERATOR_CHUNK)
    day = timezone.localdate(send.requested_at)
    return Rows(
        FAILED_COLUMNS,
        deliveries.count() if code else send.failure_count,  # one code: counted, on its index
        _cells(values, unmasked=unmasked),
        day,
        day,
        queryset=deliveries,
        sql_cells=[],  # written by Python only: no COPY for a file this size
    )


def _cells(values: Iterator[tuple[Any, ...]], *, unmasked: bool) -> Iterator[tuple[Any, ...]]:
    zone = timezone.get_current_timezone()
    channels = {value: str(label) for value, label in Channel.choices}
    results: dict[tuple[str, str], str] = {}
    for number, name, code, message, channel, completed_at in values:
        if (code, channel) not in results:
            explanation = explain(code, channel) if code else None
            results[code, channel] = str(explanation.summary) if explanation else ""
        result = results[code, channel]
        if code == REQUEST_FAILED and message:  # the request's own reason says more
            result = message
        yield (
            format_phone(number) if unmasked else mask_phone(number),
            (name if unmasked else mask_name(name)) if name else "",
            code,
            result,
            message,
            channels.get(channel, channel),
            wall_clock(completed_at, zone),
        )


def write_failed(
    send: SendRequest, *, file_format: str, unmasked: bool, code: str = ""
) -> tuple[IO[bytes], int]:
    """The file, written to a temporary file and opened for reading at its start, and how
    many recipients it lists. The file is already unlinked: it goes when the response
    closes it, and a failure half-way leaves nothing behind."""
    rows = failed_rows(send, unmasked=unmasked, code=code)
    handle, name = tempfile.mkstemp(suffix=f".{file_format}")
    os.close(handle)
    path = Path(name)
    try:
        if file_format == Export.Format.CSV:
            written = write_csv(path, rows)
        else:
            written = write_xlsx(path, rows, title=str(_("Failed recipients")))
        file = path.open("rb")
    finally:
        path.unlink()
    return file, written


def file_name(send: SendRequest, file_format: str) -> str:
    """실패번호_12_2026-11-28.xlsx (in the member's language): the send, and the day it was
    requested, written as every page writes a day."""
    day = timezone.localdate(send.requested_at).isoformat()
    return f"{_('Failed recipients')}_{send.pk}_{day}.{file_format}".replace(" ", "_")
