"""The dashboard's period, sender and channel, from GET parameters named as the results
list names them (requested_from, requested_to, sender, channel), so that a period chosen
here reads the same in both address bars."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from ..models import Channel, Organization, SenderProfile
from ..results.fields import DEFAULT_PERIOD_DAYS, date_in_range
from ..retention import oldest_kept_day
from .figures import Scope


class SenderChoiceField(forms.ModelChoiceField):
    """Refuses ids no database column could hold before they reach a query (SQLite would
    raise OverflowError on them), as the list's sender filter does."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and (
            not (str(value).isascii() and str(value).isdigit()) or int(value) >= 2**63
        ):
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return super().to_python(value)


class DashboardForm(forms.Form):
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
    sender = SenderChoiceField(
        label=_("Sender"),
        queryset=SenderProfile.objects.none(),
        required=False,
        empty_label=_("All senders"),
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("All channels")), *Channel.choices], required=False
    )

    def __init__(self, *args: Any, organization: Organization, today: dt.date, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.today = today
        sender = cast(forms.ModelChoiceField, self.fields["sender"])
        sender.queryset = SenderProfile.objects.filter(organization=organization)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        start, end = cleaned.get("requested_from"), cleaned.get("requested_to")
        end = end or self.today
        start = start or max(
            end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1), oldest_kept_day(self.today)
        )
        oldest = oldest_kept_day(self.today)
        if end > self.today:
            self.add_error(
                "requested_to",
                _("Choose today (%(today)s) or an earlier day.")
                % {"today": self.today.isoformat()},
            )
        elif start < oldest:
            self.add_error(
                "requested_from",
                _("Send records are kept for %(days)s days: choose %(oldest)s or later.")
                % {"days": settings.RETENTION_DAYS, "oldest": oldest.isoformat()},
            )
        elif end < start:
            self.add_error(
                "requested_to",
                _("The end date is before the start date (%(start)s).")
                % {"start": start.isoformat()},
            )
        cleaned["requested_from"], cleaned["requested_to"] = start, end
        # The date boxes show the period chosen by default, as if it had been typed.
        shown = QueryDict(mutable=True)
        shown.update(self.data)
        for name, day in (("requested_from", start), ("requested_to", end)):
            if not shown.get(name):
                shown[name] = day.isoformat()
        self.data = shown
        return cleaned

    def scope(self) -> Scope:
        """The valid form's choice (call is_valid() first)."""
        data = self.cleaned_data
        return Scope(
            self.organization,
            data["requested_from"],
            data["requested_to"],
            data.get("sender"),
            data.get("channel") or "",
        )
