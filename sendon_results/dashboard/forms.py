"""The dashboard's period, sender and channel, from GET parameters named as the results
list names them (requested_from, requested_to, sender, channel), so that a period chosen
here reads the same in both address bars."""

from __future__ import annotations

from ..scope import ScopeForm
from .figures import Scope


class DashboardForm(ScopeForm):
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
