from __future__ import annotations

import datetime as dt
import re

import pytest
from django import forms
from django.db import connection
from django.db.models import Value
from django.template import Context, Template
from django.utils import timezone, translation

from sendon_results.dates import (
    DAY_PATTERN,
    DayField,
    day_start,
    parse_day,
    wall_clock,
    wall_clock_sql,
)
from sendon_results.models import Organization


def test_a_day_starts_at_midnight_in_the_configured_zone(settings):
    assert settings.TIME_ZONE == "Asia/Seoul"
    start = day_start(dt.date(2026, 11, 1))
    assert start == dt.datetime(2026, 10, 31, 15, 0, tzinfo=dt.UTC)


def test_another_zone_is_taken_at_its_word(settings):
    settings.TIME_ZONE = "Europe/London"
    with timezone.override("Europe/London"):
        assert day_start(dt.date(2026, 7, 1)) == dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC)


def test_wall_clock_has_no_zone():
    moment = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
    assert wall_clock(moment) == dt.datetime(2026, 11, 28, 8, 30)
    assert wall_clock(None) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="timezone() is PostgreSQL's")
def test_the_sql_twin_shows_the_same_wall_clock(db):
    organization = Organization.objects.create(name="twin")
    for moment in (
        dt.datetime(2026, 11, 27, 23, 30, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 15, 0, tzinfo=dt.UTC),  # midnight, new year in Korea
    ):
        written = (
            Organization.objects.filter(pk=organization.pk)
            .annotate(moment=Value(moment), shown=wall_clock_sql("moment"))
            .values_list("shown", flat=True)
            .get()
        )
        assert written == wall_clock(moment).strftime("%Y-%m-%d %H:%M:%S")


# Days as pages show them (formats/ko/formats.py) and as period boxes take them (DayField)


def test_korean_pages_write_a_day_and_a_time_as_yyyy_mm_dd():

    page = Template(
        "{{ day }} | {{ moment }} | {{ day|date }} | {{ moment|date:'SHORT_DATETIME_FORMAT' }}"
    )
    context = Context(
        {"day": dt.date(2026, 12, 6), "moment": dt.datetime(2026, 12, 6, 5, 5, tzinfo=dt.UTC)}
    )
    with translation.override("ko"), timezone.override("Asia/Seoul"):
        assert (
            page.render(context) == "2026-12-06 | 2026-12-06 14:05 | 2026-12-06 | 2026-12-06 14:05"
        )
    with translation.override("en"):  # English keeps its own
        assert page.render(Context({"day": dt.date(2026, 12, 6)})).startswith("Dec. 6, 2026")


@pytest.mark.parametrize(
    "typed",
    ["2026-12-06", "2026.12.06", "2026. 12. 06.", "20261206", " 2026-12-6 ", "2026/12/06"],
)
def test_a_day_typed_the_usual_korean_ways(typed):

    assert parse_day(typed) == dt.date(2026, 12, 6)


@pytest.mark.parametrize("typed", ["12/06/2026", "2026126", "2026-13-01", "2026-02-30", "어제", ""])
def test_what_is_not_a_day_is_refused(typed):

    with pytest.raises(ValueError):
        parse_day(typed)


def test_a_day_box_is_a_text_box_that_says_how_to_type_it():

    class DayForm(forms.Form):
        day = DayField()

    with translation.override("ko"):
        typed = DayForm({"day": "2026.12.06"})
        assert typed.is_valid() and typed.cleaned_data["day"] == dt.date(2026, 12, 6)
        box = str(typed["day"])
        assert 'type="text"' in box and 'value="2026-12-06"' in box  # shown the usual way
        assert 'placeholder="yyyy-mm-dd"' in box and 'inputmode="numeric"' in box
        wrong = DayForm({"day": "12/06/2026"})
        assert not wrong.is_valid()
        assert wrong.errors["day"] == ["올바른 날짜를 입력하세요(yyyy-mm-dd, 예: 2026-12-06)."]
        assert 'value="12/06/2026"' in str(wrong["day"])  # left as typed, to correct
    # The browser's check accepts what the server does (a pattern matches the whole value).

    for typed in ("2026-12-06", "2026. 12. 06.", "20261206"):
        assert re.fullmatch(DAY_PATTERN, typed)
    assert not re.fullmatch(DAY_PATTERN, "어제")
