"""The history page's GET parameters: a number (whole, or its last four digits), a period
and the page position. The only code that knows their names."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..phones import STORED, TYPED_MAX_LENGTH, is_typed_phone, normalize_phone
from ..results.fields import DEFAULT_PERIOD_DAYS, PagedFilterForm, date_in_range
from ..retention import oldest_kept_day

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
    """What is wrong with a period, in words: it ends before it starts, reaches before the
    records kept, or is longer than they are kept."""
    errors: list[str] = []
    if end < start:
        errors.append(
            str(_("The end date is before the start date (%(start)s).") % {"start": start})
        )
    oldest = oldest_kept_day(today)
    if start < oldest:
        errors.append(
            str(
                _("Send records are kept for %(days)s days: choose %(oldest)s or later.")
                % {"days": settings.RETENTION_DAYS, "oldest": oldest.isoformat()}
            )
        )
    if (end - start).days > settings.RETENTION_DAYS:
        errors.append(
            str(
                _("A period covers at most %(days)s days, as long as records are kept.")
                % {"days": settings.RETENTION_DAYS}
            )
        )
    return errors


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
    requested_from = forms.DateField(
        label=_("From"),
        required=False,
        validators=[date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    requested_to = forms.DateField(
        label=_("To"),
        required=False,
        validators=[date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_number(self) -> str:
        typed: str = self.cleaned_data["number"].strip()
        return number_digits(typed) if typed else ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if "requested_from" not in cleaned or "requested_to" not in cleaned:
            return cleaned  # a date the field refused already says so
        today = timezone.localdate()
        end = cleaned["requested_to"] or today
        start = cleaned["requested_from"] or end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        cleaned["requested_from"], cleaned["requested_to"] = start, end
        for error in period_errors(start, end, today):
            self.add_error(None, error)
        return cleaned

    @property
    def is_ending(self) -> bool:
        return len(self.cleaned_data.get("number") or "") == ENDING_LENGTH
