from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import PlatformEndpoint
from .addresses import Refused, check_url


class PlatformEndpointForm(forms.ModelForm):
    class Meta:
        model = PlatformEndpoint
        fields = ["url"]
        labels = {"url": _("Endpoint URL")}
        help_texts = {
            "url": _("Where the console posts cancellations and releases, signed (https://).")
        }
        widgets = {"url": forms.URLInput(attrs={"placeholder": "https://", "autocomplete": "off"})}

    def __init__(self, *args: Any, console_host: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.console_host = console_host

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            check_url(url, console_host=self.console_host)
        except Refused as refused:
            raise forms.ValidationError(str(refused), code="refused") from refused
        return url
