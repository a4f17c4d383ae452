from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import PlatformEndpoint
from .addresses import Refused, check_url


class PlatformEndpointForm(forms.ModelForm):
    class Meta:
        model = PlatformEndpoint
        fields = ["url", "notify_url"]
        labels = {
            "url": _("Endpoint URL"),
            "notify_url": _("Result notification URL (optional)"),
        }
        help_texts = {
            "url": _("Where the console posts cancellations, releases and resends, signed."),
            "notify_url": _(
                "When a send ends (completed, failed, reservation cancelled), a signed "
                "summary of it goes here. Leave it empty for none."
            ),
        }
        widgets = {
            name: forms.URLInput(attrs={"placeholder": "https://", "autocomplete": "off"})
            for name in fields
        }

    def __init__(self, *args: Any, console_host: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.console_host = console_host

    def clean_url(self) -> str:
        return self._checked(self.cleaned_data["url"])

    def clean_notify_url(self) -> str:
        url: str = self.cleaned_data["notify_url"]
        return self._checked(url) if url else url

    def _checked(self, url: str) -> str:
        try:
            check_url(url, console_host=self.console_host)
        except Refused as refused:
            raise forms.ValidationError(str(refused), code="refused") from refused
        return url
