"""Days and times as the console shows them: in the configured TIME_ZONE (Korea time,
Asia/Seoul, unless set otherwise), in Python and, for the exports PostgreSQL formats
itself, in SQL; and days as they are typed into a period's boxes (DayField).

Pages show a day as 2026-12-06 and a time as 2026-12-06 14:05: in Korean through
sendon_results/formats/ko/formats.py (FORMAT_MODULE_PATH), so a date a template prints
without a format reads the same as the ones that give one."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.db.models import F, Func, TextField, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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


# How a day is typed into a period box: yyyy-mm-dd, the way every page shows a day. A
# text box rather than <input type=date>, whose Korean Chromium shows "연도. 월. 일." and
# 2026. 12. 06., unlike the rest of the page. Forgiving: dots or slashes for dashes,
# spaces, a final dot (2026. 12. 06., as that box writes it) and eight digits alone
# (20261206: a phone's number pad has no dash).
DAY_PLACEHOLDER = "yyyy-mm-dd"
DAY_SEPARATED = re.compile(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})\.?$")
DAY_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# The same in the box's pattern attribute (a browser's check before it submits; no
# character classes, which the `v` flag browsers compile patterns with is strict about).
DAY_PATTERN = r"\s*\d{4}\s*(-|\.|/)?\s*\d{1,2}\s*(-|\.|/)?\s*\d{1,2}\s*\.?\s*"


def parse_day(typed: str) -> dt.date:
    """A day as typed (2026-12-06, 2026.12.06, 2026. 12. 06., 20261206); ValueError when it
    is none of these or no such day."""
    text = re.sub(r"\s+", "", typed)
    match = DAY_SEPARATED.match(text) or DAY_DIGITS.match(text)
    if match is None:
        raise ValueError(typed)
    year, month, day = (int(part) for part in match.groups())
    return dt.date(year, month, day)


class DayInput(forms.TextInput):
    """A day's box: yyyy-mm-dd, typed on a number pad."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            {
                "placeholder": DAY_PLACEHOLDER,
                "inputmode": "numeric",
                "pattern": DAY_PATTERN,
                "autocomplete": "off",
                "size": 12,
                "maxlength": 14,
                "title": _("A date as yyyy-mm-dd, e.g. 2026-12-06"),
                **(attrs or {}),
            }
        )

    def format_value(self, value: Any) -> str | None:
        """A day as yyyy-mm-dd, also one typed another way (2026.12.06 comes back as
        2026-12-06: the box shows the way to type it); anything else as typed, to correct."""
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return parse_day(value).isoformat()
            except ValueError:
                pass
        return super().format_value(value)


class DayField(forms.DateField):
    """A day typed as yyyy-mm-dd (parse_day), in any language."""

    widget = DayInput
    default_error_messages = {
        "invalid": _("Type the date as yyyy-mm-dd, e.g. 2026-12-06."),
    }

    def to_python(self, value: Any) -> dt.date | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return parse_day(str(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
