from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from ..models import Export

REASON_MIN_LENGTH = 5
REASON_MAX_LENGTH = Export._meta.get_field("reason").max_length or 200


class ExportRequestForm(forms.Form):
    """Asks for an export of the list as it is filtered now (its query string); masked,
    unless a member who may see full numbers asks for them and says why (the view checks
    the role)."""

    kind = forms.ChoiceField(
        label=_("Layout"),
        choices=[(k.value, k.label) for k in (Export.Kind.SENDS, Export.Kind.DELIVERIES)],
    )
    file_format = forms.ChoiceField(
        label=_("Format"),
        choices=[(f.value, f.label) for f in (Export.Format.XLSX, Export.Format.CSV)],
    )
    split = forms.ChoiceField(label=_("Sheets"), choices=Export.Split.choices, required=False)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    # The query string of the list to return to, from a form whose export is not the list
    # shown (the banner offering the sends about to be deleted): the member's list stays as
    # it was. Left out, the list returned to is the one exported.
    back = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
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

    def clean_query(self) -> QueryDict:
        return QueryDict(self.cleaned_data["query"])

    def clean_back(self) -> QueryDict | None:
        if "back" not in self.data:
            return None
        return QueryDict(self.cleaned_data["back"])

    def list_to_return_to(self) -> QueryDict | None:
        """The list's query string to go back to (`back`, else the one exported), or None
        when neither could be read."""
        cleaned = getattr(self, "cleaned_data", {})
        back = cleaned.get("back")
        return back if back is not None else cleaned.get("query")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("unmasked"):
            cleaned["reason"] = ""  # a masked export needs none, and keeps none
            self.errors.pop("reason", None)
        elif not cleaned.get("reason") and "reason" not in self.errors:
            self.add_error(
                "reason",
                _("Say why you need the full numbers (%(min)s to %(max)s characters).")
                % {"min": REASON_MIN_LENGTH, "max": REASON_MAX_LENGTH},
            )
        return cleaned
