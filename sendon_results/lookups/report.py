"""The lookup's rows as the page and the workbook show them: one per distinct number, in
the file's order, with its last outcome or "no delivery in the period"."""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..dates import wall_clock
from ..masking import mask_phone
from ..models import Channel, Delivery
from ..phones import format_phone
from ..result_codes import explain
from .outcomes import LastOutcome

NONE = "none"  # the outcome of a number with no delivery in the period


@dataclass(frozen=True)
class Row:
    row: int  # in the uploaded file
    number: str  # as shown: masked (010-****-5678) or written in full (010-1234-5678)
    outcome: LastOutcome | None

    @property
    def status(self) -> str:
        return self.outcome.status if self.outcome else NONE

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def explanation(self) -> str:
        """The result code in plain words (result_codes.py), else the platform's text."""
        if self.outcome is None:
            return ""
        known = explain(self.outcome.result_code, self.outcome.final_channel)
        if known is None:
            return self.outcome.result_message
        return str(known.summary)


def build_rows(
    numbers: Sequence[tuple[int, str]], found: dict[str, LastOutcome], *, revealed: bool
) -> list[Row]:
    write = format_phone if revealed else mask_phone
    return [Row(row, write(digits), found.get(digits)) for row, digits in numbers]


def summary(rows: Sequence[Row]) -> list[dict[str, object]]:
    """Numbers per last outcome, in Delivery.Status order, then those with none."""
    counts = Counter(row.status for row in rows)
    labels = [*Delivery.Status.choices, (NONE, _("No delivery in the period"))]
    return [
        {"status": status, "label": label, "count": counts[status]}
        for status, label in labels
        if counts[status] or status in ("success", "failure", NONE)
    ]


def status_label(status: str) -> str:
    return _status_labels(get_language())[status]


@functools.cache
def _status_labels(language: str | None) -> dict[str, str]:
    # Once per language, not per row: Delivery.Status(…).label rebuilds the choices.
    labels = {value: str(label) for value, label in Delivery.Status.choices}
    return {**labels, NONE: _("No delivery in the period")}


def channel_label(value: str) -> str:
    return str(Channel(value).label) if value in Channel.values else value


def channels(outcome: LastOutcome) -> str:
    """AlimTalk, or AlimTalk → SMS when the message fell back to a text."""
    sent, final = channel_label(outcome.channel), channel_label(outcome.final_channel)
    return sent if outcome.channel == outcome.final_channel else f"{sent} → {final}"


def local(moment: dt.datetime | None) -> dt.datetime | None:
    """The time as a clock in Korea shows it, for a spreadsheet (no time zones there)."""
    return wall_clock(moment)
