"""Days and times as the console shows them: in the configured TIME_ZONE (Korea time,
Asia/Seoul, unless set otherwise), in Python and, for the exports PostgreSQL formats
itself, in SQL."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Func, TextField, Value
from django.utils import timezone


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the console's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def wall_clock(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> dt.datetime | None:
    """The time as a clock in the console's time zone (or `zone`) shows it, without a
    zone: spreadsheets know no time zones."""
    if value is None:
        return None
    return value.astimezone(zone or timezone.get_current_timezone()).replace(tzinfo=None)


def wall_clock_sql(field: str) -> Func:
    """wall_clock in SQL (PostgreSQL), written as text: 2026-11-28 14:05:00."""
    zone = str(timezone.get_current_timezone())
    local = Func(Value(zone), F(field), function="timezone", output_field=TextField())
    return Func(local, Value("YYYY-MM-DD HH24:MI:SS"), function="to_char", output_field=TextField())
