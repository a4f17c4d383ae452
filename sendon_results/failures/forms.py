"""The failure analysis page's GET form: a period of Korea-time days, one sender and one
channel, each optional. Its parameter names are the results list's, so that a period
chosen here reads the same in the links to the list."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ..models import Channel, Organization, SenderProfile
from ..results.fields import DEFAULT_PERIOD_DAYS, date_in_range
from ..retention import oldest_kept_day


class SenderChoiceField(forms.ModelChoiceField):
    """Refuses ids no database column could hold before they reach a query (SQLite raises
    OverflowError on them rather than finding nothing)."""

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


class FailureFilterForm(forms.Form):
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
        self.today = today
        sender = cast(forms.ModelChoiceField, self.fields["sender"])
        sender.queryset = SenderProfile.objects.filter(organization=organization)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.errors:
            return cleaned
        # Either bound may be left out: the period then ends today, or starts DEFAULT_PERIOD_DAYS
        # before its end (never before the oldest day still kept).
        oldest = oldest_kept_day(self.today)
        end = cleaned.get("requested_to") or self.today
        start = cleaned.get("requested_from") or max(
            end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1), oldest
        )
        if start < oldest:
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
        else:
            cleaned["requested_from"], cleaned["requested_to"] = start, end
        return cleaned
