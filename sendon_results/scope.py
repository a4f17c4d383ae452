"""The GET form of the pages that report figures over a scope: a period of Korea-time
days, one sender and one channel, each optional (the dashboard, the failure analysis).
Its parameter names are the results list's (requested_from, requested_to, sender,
channel), so that a scope chosen on one page reads the same in the links to the list."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Channel, Organization, SenderProfile
from .periods import PeriodDateField, clean_period


class SenderChoiceField(forms.ModelChoiceField):
    """Refuses ids no database column could hold before they reach a query (SQLite raises
    OverflowError on them rather than finding nothing), as the list's sender filter does."""

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        text = str(value)
        # ASCII digits only: isdigit() also takes "²", which int() refuses.
        if not (text.isascii() and text.isdigit()) or int(text) >= 2**63:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return super().to_python(value)


class ScopeForm(forms.Form):
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
