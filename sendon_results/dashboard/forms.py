"""The dashboard's period, sender and channel, from GET parameters named as the results
list names them (requested_from, requested_to, sender, channel), so that a period chosen
here reads the same in both address bars."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Channel, Organization, SenderProfile
from ..periods import PeriodDateField, clean_period
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
    requested_from = PeriodDateField(label=_("From"))
    requested_to = PeriodDateField(label=_("To"))
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
        # Left out, the period is the last DEFAULT_PERIOD_DAYS days up to today.
        clean_period(self, self.today)
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
