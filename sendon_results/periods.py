"""The period every page filters by: whole Korea-time days from a first to a last day.

One home for its quick picks, its default length, the date boxes that show the period
chosen by default, and the one set of rules (and messages) every period form applies:

- no day before the retention window (nothing is kept there: such a day could only find
  nothing and pass for "no sends");
- the end not before the start;
- no end after today, except on the results list, whose period is an open filter shared
  with the API and saved exports (month-end bounds are common there, and a day to come
  simply finds nothing yet); every other page reports figures over its days, where a day
  to come would read as a day without sends;
- optionally no longer than a number of days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.forms.boundfield import BoundField
from django.utils.translation import gettext_lazy as _

from .dates import DayField
from .results.fields import date_in_range
from .retention import oldest_kept_day

# The period every page opens on before one is chosen: the last 30 days, today included.
DEFAULT_PERIOD_DAYS = 30


def period_presets(today: dt.date) -> list[dict[str, object]]:
    """The quick picks of every period filter, in Korea time."""
    yesterday = today - dt.timedelta(days=1)
    return [
        {"label": _("Today"), "start": today, "end": today},
        {"label": _("Yesterday"), "start": yesterday, "end": yesterday},
        {"label": _("7 days"), "start": today - dt.timedelta(days=6), "end": today},
        {"label": _("30 days"), "start": today - dt.timedelta(days=29), "end": today},
        {"label": _("This month"), "start": today.replace(day=1), "end": today},
    ]


def kept_days() -> int:
    """How many days the retention window holds, today included: as a default length, the
    whole window."""
    return settings.RETENTION_DAYS + 1


def before_window_message(today: dt.date) -> str:
    oldest = oldest_kept_day(today)
    return str(
        _("Send records are kept for %(days)s days: choose %(oldest)s or later.")
        % {"days": settings.RETENTION_DAYS, "oldest": oldest.isoformat()}
    )


def end_before_start_message(start: dt.date) -> str:
    return str(
        _("The end date is before the start date (%(start)s).") % {"start": start.isoformat()}
    )


def future_message(today: dt.date) -> str:
    return str(_("Choose today (%(today)s) or an earlier day.") % {"today": today.isoformat()})


def too_long_message(max_days: int) -> str:
    return str(
        _("A period covers at most %(days)s days, as long as records are kept.")
        % {"days": max_days}
    )


def period_problems(
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
    *,
    allow_future: bool = False,
    within_window: bool = True,
    max_days: int | None = None,
) -> dict[str, list[str]]:
    """What is wrong with a period, by bound ("start", "end"): each bound is checked on
    its own first (before the window, in the future); the two together only when both are
    fine, as a bound already refused says what to change."""
    problems: dict[str, list[str]] = {"start": [], "end": []}
    oldest = oldest_kept_day(today)
    for bound, day in (("start", start), ("end", end)):
        if within_window and day is not None and day < oldest:
            problems[bound].append(before_window_message(today))
    if not allow_future and end is not None and end > today:
        problems["end"].append(future_message(today))
    if start is None or end is None or problems["start"] or problems["end"]:
        return problems
    if end < start:
        problems["end"].append(end_before_start_message(start))
    # (end - start) days: with RETENTION_DAYS, the window from its oldest day to today.
    elif max_days is not None and (end - start).days > max_days:
        problems["end"].append(too_long_message(max_days))
    return problems


def resolve_period(
    start: dt.date | None, end: dt.date | None, today: dt.date, *, default_days: int
) -> tuple[dt.date, dt.date]:
    """The period with its left-out bounds filled in: it ends today, or starts
    `default_days` days before its end (today included), never before the oldest day
    still kept."""
    end = end or today
    start = start or max(end - dt.timedelta(days=default_days - 1), oldest_kept_day(today))
    return start, end


def check_period(
    form: forms.Form,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
    *,
    names: tuple[str, str] = ("requested_from", "requested_to"),
    allow_future: bool = False,
    within_window: bool = True,
    max_days: int | None = None,
) -> bool:
    """Adds the period's problems to its two fields' errors; True when there are none."""
    problems = period_problems(
        start,
        end,
        today,
        allow_future=allow_future,
        within_window=within_window,
        max_days=max_days,
    )
    for name, bound in zip(names, ("start", "end"), strict=True):
        for message in problems[bound]:
            form.add_error(name, message)
    return not (problems["start"] or problems["end"])


def clean_period(
    form: forms.Form,
    today: dt.date,
    *,
    names: tuple[str, str] = ("requested_from", "requested_to"),
    default_days: int = DEFAULT_PERIOD_DAYS,
    allow_future: bool = False,
    max_days: int | None = None,
) -> tuple[dt.date, dt.date] | None:
    """The form's period with its defaults (resolve_period), checked (check_period): the
    (start, end) chosen, or None when a date box or a rule refused it (its field says
    why). Call from clean(). The date boxes then show the period resolved, also the bounds
    left to their defaults (PeriodDateField)."""
    cleaned = form.cleaned_data
    if any(name not in cleaned for name in names):
        return None  # a date its field refused already says so
    start, end = resolve_period(
        cleaned[names[0]], cleaned[names[1]], today, default_days=default_days
    )
    shown: dict[str, dt.date] = dict(zip(names, (start, end), strict=True))
    form.period_shown = shown  # type: ignore[attr-defined]
    ok = check_period(
        form, start, end, today, names=names, allow_future=allow_future, max_days=max_days
    )
    if not ok:
        return None
    cleaned[names[0]], cleaned[names[1]] = start, end
    return start, end


class ShownDateBoundField(BoundField):
    """A date box left empty shows the day its form resolved it to (clean_period)."""

    def value(self) -> Any:
        value = super().value()
        if value in self.field.empty_values:
            day = getattr(self.form, "period_shown", {}).get(self.name)
            if day is not None:
                return day.isoformat()
        return value


class PeriodDateField(DayField):
    """One bound of a period: an optional day box (yyyy-mm-dd) between EARLIEST_DATE and
    LATEST_DATE, which shows the default it was given when left empty."""

    bound_field_class = ShownDateBoundField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("validators", [date_in_range])
        super().__init__(**kwargs)
