from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..dates import DayField
from ..models import Channel, Organization, SenderProfile
from .codes import format_code, normalize_code


class StatementForm(forms.Form):
    """A period (a calendar month by default) and, optionally, one sender and one channel."""

    period_from = DayField(label=_("From"))
    period_to = DayField(label=_("To"))
    sender = forms.ModelChoiceField(
        label=_("Sender"),
        queryset=SenderProfile.objects.none(),
        required=False,
        empty_label=_("All senders"),
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("All channels")), *Channel.choices], required=False
    )
    appendix = forms.BooleanField(
        label=_("List the sends (up to 2,000)"), required=False, initial=True
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sender = cast(forms.ModelChoiceField, self.fields["sender"])
        sender.queryset = SenderProfile.objects.filter(organization=organization)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("period_from"), cleaned.get("period_to")
        if not start or not end:
            return cleaned
        today = timezone.localdate()
        oldest = today - dt.timedelta(days=settings.RETENTION_DAYS)
        if end < start:
            raise forms.ValidationError(_("The period ends before it starts."))
        if end > today:
            raise forms.ValidationError(
                _("The period cannot reach into the future: end it on %(today)s or before.")
                % {"today": today.isoformat()}
            )
        if (end - start).days >= 366:
            raise forms.ValidationError(_("A statement covers at most one year."))
        if start < oldest:
            raise forms.ValidationError(
                _("Records are kept for %(days)s days: start the period on %(oldest)s or later.")
                % {"days": settings.RETENTION_DAYS, "oldest": oldest.isoformat()}
            )
        return cleaned


class StatementCodeForm(forms.Form):
    """The verification code printed on a statement, typed back as people type it."""

    code = forms.CharField(
        label=_("Verification code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"placeholder": "7K3F-9QHW-2M4X", "autocomplete": "off", "spellcheck": "false"}
        ),
    )

    def clean_code(self) -> str:
        code = normalize_code(self.cleaned_data["code"])
        if code is None:
            raise forms.ValidationError(
                _("A code is 12 letters and digits, as printed on the statement (%(example)s).")
                % {"example": format_code("7K3F9QHW2M4X")}
            )
        return code


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month before today's: the usual statement for accounting."""
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end
