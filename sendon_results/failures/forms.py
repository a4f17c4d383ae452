"""The failure analysis page's GET form: a period of Korea-time days, one sender and one
channel, each optional, as on the dashboard. Its parameter names are the results list's,
so that a period chosen here reads the same in the links to the list."""

from __future__ import annotations

from ..scope import ScopeForm


class FailureFilterForm(ScopeForm):
    """The scope form as it is, under the failure analysis page's name."""
