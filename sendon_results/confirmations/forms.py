from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..dates import DayField
from ..recipients.forms import ENDING_LENGTH, number_digits, period_errors
from ..statements.codes import format_code, normalize_code


class ConfirmationForm(forms.Form):
    """A whole number, a period within the records kept and not in the future, and whether
    to print the number in full (offered to those who may see numbers)."""

    number = forms.CharField(label=_("Recipient number"), max_length=30, widget=forms.HiddenInput)
    # The period of the history page it is posted from, read as that page reads its boxes.
    period_from = DayField(label=_("From"), widget=forms.HiddenInput)
    period_to = DayField(label=_("To"), widget=forms.HiddenInput)
    full_number = forms.BooleanField(label=_("Print the whole number"), required=False)

    def clean_number(self) -> str:
        digits = number_digits(self.cleaned_data["number"].strip())
        if len(digits) == ENDING_LENGTH:
            raise forms.ValidationError(
                _("A confirmation is for one whole number: search by the whole number first.")
            )
        return digits

    def clean(self) -> dict[str, Any]:
        super().clean()
        start, end = self.cleaned_data.get("period_from"), self.cleaned_data.get("period_to")
        if start and end:
            today = timezone.localdate()
            for error in period_errors(start, end, today):
                self.add_error(None, error)
            if end > today:
                self.add_error(
                    None,
                    _("The period cannot reach into the future: end it on %(today)s or before.")
                    % {"today": today.isoformat()},
                )
        return self.cleaned_data


class ConfirmationCodeForm(forms.Form):
    """The verification code printed on a confirmation, typed back as people type it."""

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
                _("A code is 12 letters and digits, as printed on the confirmation (%(example)s).")
                % {"example": format_code("7K3F9QHW2M4X")}
            )
        return code
