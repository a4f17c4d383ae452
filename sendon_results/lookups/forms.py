"""The lookup's forms: the uploaded list and the period, and the download of its workbook."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core import signing
from django.utils.translation import gettext_lazy as _

from ..dates import day_start
from ..exports.forms import REASON_MAX_LENGTH, REASON_MIN_LENGTH
from ..periods import PeriodDateField, check_period, kept_days, resolve_period
from ..retention import oldest_kept_day
from .sheets import NumberList, Refused, read_numbers, too_large_message

# The period's quick picks; "custom" takes the two dates.
PERIODS = [
    ("today", _("Today")),
    ("7", _("7 days")),
    ("30", _("30 days")),
    ("month", _("This month")),
    ("kept", _("Whole retention period")),
    ("custom", _("Dates")),
]
DEFAULT_PERIOD = "30"
# The download button carries the lookup, signed, for this long: long enough to read the
# page and click, short enough that a page left open does not stay a way to the numbers.
DOWNLOAD_MINUTES = 30
TOKEN_SALT = "sendon_results.lookups.download"


def period_bounds(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """A quick pick's first and last day (Korea time, inclusive)."""
    days = {"today": 0, "7": 6, "30": 29}
    if period in days:
        return today - dt.timedelta(days=days[period]), today
    if period == "month":
        return today.replace(day=1), today
    return oldest_kept_day(today), today


def period_instants(first_day: dt.date, last_day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The period as instants: [first day's midnight, the day after the last's)."""
    return day_start(first_day), day_start(last_day + dt.timedelta(days=1))


class LookupForm(forms.Form):
    file = forms.FileField(
        label=_("Number list"),
        required=False,  # a missing file is said in clean_file, with the size refusal
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,.txt"}),
    )
    period = forms.ChoiceField(
        label=_("Period"), choices=PERIODS, initial=DEFAULT_PERIOD, widget=forms.RadioSelect
    )
    period_from = PeriodDateField(label=_("From"))
    period_to = PeriodDateField(label=_("To"))
    reveal = forms.BooleanField(label=_("Show full numbers"), required=False)

    def __init__(
        self, *args: Any, today: dt.date, too_large: bool = False, may_reveal: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        self.too_large = too_large
        if not may_reveal:
            del self.fields["reveal"]

    def clean_file(self) -> NumberList:
        if self.too_large:
            raise forms.ValidationError(too_large_message())
        upload = self.cleaned_data.get("file")
        if upload is None:
            raise forms.ValidationError(_("Choose an .xlsx or CSV file of phone numbers."))
        try:
            content = upload.read()
        finally:
            upload.close()
        try:
            numbers = read_numbers(content)
        except Refused as refused:
            raise forms.ValidationError(str(refused)) from None
        if not numbers.numbers and not numbers.invalid:
            raise forms.ValidationError(_("The file holds no phone numbers."))
        return numbers

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "period_from" not in cleaned or "period_to" not in cleaned:
            return cleaned  # a date its box refused already says so
        start, end = cleaned["period_from"], cleaned["period_to"]
        period = cleaned.get("period") or DEFAULT_PERIOD
        if period == "custom" or start or end:
            # Dates typed win over a quick pick left as it was (no JavaScript needed); a
            # bound left out is the window's: its oldest day, or today.
            start, end = resolve_period(start, end, self.today, default_days=kept_days())
        else:
            start, end = period_bounds(period, self.today)
        # The boxes keep what was typed: filled in, they would win over the quick pick the
        # next time the form is sent.
        check_period(self, start, end, self.today, names=("period_from", "period_to"))
        cleaned["first_day"], cleaned["last_day"] = start, end
        return cleaned

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return period_instants(self.cleaned_data["first_day"], self.cleaned_data["last_day"])


class DownloadForm(forms.Form):
    """The workbook of a lookup just shown. The lookup travels signed in the page (the
    numbers the member uploaded, their rows, the period, who and where), so nothing of the
    list is kept on the server between the two requests."""

    lookup = forms.CharField(widget=forms.HiddenInput)
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

    def __init__(self, *args: Any, user_id: int, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id, self.organization_id = user_id, organization_id

    def clean_lookup(self) -> dict[str, Any]:
        try:
            lookup = signing.loads(
                self.cleaned_data["lookup"], salt=TOKEN_SALT, max_age=DOWNLOAD_MINUTES * 60
            )
        except signing.SignatureExpired:
            raise forms.ValidationError(
                _("This lookup is more than %(minutes)s minutes old. Upload the file again.")
                % {"minutes": DOWNLOAD_MINUTES}
            ) from None
        except signing.BadSignature:
            raise forms.ValidationError(_("Upload the file again.")) from None
        if lookup.get("user") != self.user_id or lookup.get("organization") != self.organization_id:
            raise forms.ValidationError(_("Upload the file again."))
        return dict(lookup)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("unmasked"):
            cleaned["reason"] = ""
            self.errors.pop("reason", None)
        elif not cleaned.get("reason") and "reason" not in self.errors:
            self.add_error(
                "reason",
                _("Say why you need the full numbers (%(min)s to %(max)s characters).")
                % {"min": REASON_MIN_LENGTH, "max": REASON_MAX_LENGTH},
            )
        return cleaned


def download_token(
    *,
    numbers: list[tuple[int, str]],
    first_day: dt.date,
    last_day: dt.date,
    user_id: int,
    organization_id: int,
) -> str:
    """The signed lookup the download button posts back (see DownloadForm)."""
    return signing.dumps(
        {
            "numbers": numbers,
            "first_day": first_day.isoformat(),
            "last_day": last_day.isoformat(),
            "user": user_id,
            "organization": organization_id,
        },
        salt=TOKEN_SALT,
        compress=True,
    )
