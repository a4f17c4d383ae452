"""The history page's GET parameters: a number (whole, or its last four digits), a period
and the page position. The only code that knows their names."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..periods import PeriodDateField, clean_period, period_problems
from ..phones import STORED, TYPED_MAX_LENGTH, is_typed_phone, normalize_phone
from ..results.fields import PagedFilterForm

ENDING_LENGTH = 4  # four digits alone: the numbers ending in them


def number_digits(typed: str) -> str:
    """A number as typed (010-1234-5678, +82 10 1234 5678, 5678) as stored, or a
    ValidationError saying what a number is."""
    digits = normalize_phone(typed)
    if is_typed_phone(typed) and (len(digits) == ENDING_LENGTH or STORED.match(digits)):
        return digits
    raise forms.ValidationError(
        _("Enter a whole number (e.g. 010-1234-5678) or its last 4 digits."), code="number"
    )


def period_errors(start: dt.date, end: dt.date, today: dt.date) -> list[str]:
    """What is wrong with a period, in words, by the rules of periods.py (a future end
    left to the caller, who says it in its own words): it reaches before the records kept,
    ends before it starts, or is longer than they are kept."""
    problems = period_problems(
        start, end, today, allow_future=True, max_days=settings.RETENTION_DAYS
    )
    return [*problems["start"], *problems["end"]]


class HistoryForm(PagedFilterForm):
    """Cleaned: `number` (digits, or "" when nothing was searched yet), `requested_from`
    and `requested_to` (the last DEFAULT_PERIOD_DAYS days unless chosen), `cursor`."""

    key_length = 3  # (the send's requested_at, the send's id, the delivery's id)

    number = forms.CharField(
        label=_("Recipient number"),
        required=False,
        max_length=TYPED_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "inputmode": "tel",
                "autocomplete": "off",
                "placeholder": _("Number or its last 4 digits"),
            }
        ),
    )
    requested_from = PeriodDateField(label=_("From"))
    requested_to = PeriodDateField(label=_("To"))

    def clean_number(self) -> str:
        typed: str = self.cleaned_data["number"].strip()
        return number_digits(typed) if typed else ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        # Left out, the period is the last DEFAULT_PERIOD_DAYS days up to today.
        clean_period(self, timezone.localdate())
        return self.cleaned_data

    @property
    def is_ending(self) -> bool:
        return len(self.cleaned_data.get("number") or "") == ENDING_LENGTH
