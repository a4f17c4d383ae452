from __future__ import annotations

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from ..models import Export


class ExportRequestForm(forms.Form):
    """Asks for an export of the list as it is filtered now (its query string)."""

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

    def clean_query(self) -> QueryDict:
        return QueryDict(self.cleaned_data["query"])
