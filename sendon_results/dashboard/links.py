"""Links from the dashboard's figures to the results list showing what they count.

The parameter names are the list's own (results/filters.py, SendRequestFilter); checked
against it here once, so that a renamed filter fails at start-up rather than silently
widening every link."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from ..results.filters import SendRequestFilter
from .figures import Scope

NAMES = ("requested_from", "requested_to", "sender", "channel", "outcome")
_missing = set(NAMES) - set(SendRequestFilter.base_filters)
if _missing:  # pragma: no cover - a guard against a rename in results/filters.py
    raise ImportError(f"the results list has no filter named {sorted(_missing)}")


def results_url(
    scope: Scope,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    sender: str | None = None,
    channels: tuple[str, ...] | None = None,
    outcomes: tuple[str, ...] = (),
) -> str:
    """The results list of the scope (or of the days, sender or channels given instead),
    optionally of sends with messages in any of the outcomes."""
    params: list[tuple[str, str]] = [
        ("requested_from", (start or scope.start).isoformat()),
        ("requested_to", (end or scope.end).isoformat()),
    ]
    if sender is None and scope.sender is not None:
        sender = str(scope.sender.pk)
    if sender:
        params.append(("sender", sender))
    if channels is None:
        channels = (scope.channel,) if scope.channel else ()
    params.extend(("channel", channel) for channel in channels)
    params.extend(("outcome", outcome) for outcome in outcomes)
    return f"{reverse('results')}?{urlencode(params)}"
