from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Value
from django.utils import timezone

from sendon_results.dates import day_start, wall_clock, wall_clock_sql
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
