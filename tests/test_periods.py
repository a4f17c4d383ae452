"""The period's rules (sendon_results/periods.py), each once, and every page that takes a
period answering the same bad period with the same message."""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile

from sendon_results.periods import (
    DEFAULT_PERIOD_DAYS,
    PeriodDateField,
    clean_period,
    kept_days,
    period_presets,
    period_problems,
    resolve_period,
)
from sendon_results.retention import oldest_kept_day

KST = ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST)
TODAY = dt.date(2026, 11, 27)
OLDEST = dt.date(2025, 11, 27)  # RETENTION_DAYS = 365

BEFORE_WINDOW = "발송 기록은 365일 동안만 보관됩니다. 2025-11-27 이후 날짜를 고르세요."
FUTURE = "오늘(2026-11-27) 또는 그 이전 날짜를 선택하세요."


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# The rules


def test_the_window_starts_on_the_oldest_day_kept(settings):
    assert oldest_kept_day(TODAY) == OLDEST
    assert period_problems(OLDEST, TODAY, TODAY) == {"start": [], "end": []}
    before = OLDEST - dt.timedelta(days=1)
    assert period_problems(before, TODAY, TODAY)["start"] == [BEFORE_WINDOW]
    assert period_problems(before, before, TODAY)["end"] == [BEFORE_WINDOW]
    # A saved export's filter keeps the period asked for while the window moves on.
    assert period_problems(before, TODAY, TODAY, within_window=False)["start"] == []


def test_the_end_may_not_come_before_the_start():
    problems = period_problems(day("2026-11-20"), day("2026-11-01"), TODAY)
    assert problems == {"start": [], "end": ["끝 날짜가 시작 날짜(2026-11-20)보다 앞섭니다."]}
    assert period_problems(day("2026-11-20"), day("2026-11-20"), TODAY)["end"] == []


def test_a_day_to_come_is_refused_unless_the_page_allows_it():
    tomorrow = TODAY + dt.timedelta(days=1)
    assert period_problems(None, tomorrow, TODAY)["end"] == [FUTURE]
    assert period_problems(None, TODAY, TODAY)["end"] == []
    assert period_problems(None, tomorrow, TODAY, allow_future=True)["end"] == []


def test_a_period_may_be_held_to_a_length():
    start = day("2026-01-01")
    assert period_problems(start, day("2027-01-01"), TODAY, allow_future=True, max_days=364) == {
        "start": [],
        "end": ["기간은 기록 보관 기간인 364일을 넘을 수 없습니다."],
    }
    assert period_problems(start, day("2026-12-31"), TODAY, allow_future=True, max_days=364) == {
        "start": [],
        "end": [],
    }


def test_a_bound_refused_on_its_own_is_not_compared_again():
    # Before the window and before the start: saying where the window starts is enough.
    before = OLDEST - dt.timedelta(days=10)
    assert period_problems(OLDEST, before, TODAY) == {"start": [], "end": [BEFORE_WINDOW]}


def test_left_out_bounds_are_the_last_default_days_up_to_today():
    assert DEFAULT_PERIOD_DAYS == 30
    assert resolve_period(None, None, TODAY, default_days=30) == (day("2026-10-29"), TODAY)
    assert resolve_period(day("2026-11-01"), None, TODAY, default_days=30) == (
        day("2026-11-01"),
        TODAY,
    )
    assert resolve_period(None, day("2026-06-30"), TODAY, default_days=30) == (
        day("2026-06-01"),
        day("2026-06-30"),
    )
    # Never before the oldest day kept; the whole window as the default.
    assert resolve_period(None, day("2025-12-01"), TODAY, default_days=30)[0] == OLDEST
    assert resolve_period(None, None, TODAY, default_days=kept_days()) == (OLDEST, TODAY)


def test_the_quick_picks_end_today_in_korea_time():
    picks = {str(p["label"]): (p["start"], p["end"]) for p in period_presets(TODAY)}
    assert picks["오늘"] == (TODAY, TODAY)
    assert picks["어제"] == (day("2026-11-26"), day("2026-11-26"))
    assert picks["7일"] == (day("2026-11-21"), TODAY)
    assert picks["30일"] == (day("2026-10-29"), TODAY)
    assert picks["이번 달"] == (day("2026-11-01"), TODAY)


class _PeriodForm(forms.Form):
    requested_from = PeriodDateField(label="From")
    requested_to = PeriodDateField(label="To")

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        self.period = clean_period(self, TODAY)
        return cleaned


def test_the_date_boxes_show_the_period_resolved():
    form = _PeriodForm({"requested_to": "2026-11-20"})
    assert form.is_valid()
    assert form.period == (day("2026-10-22"), day("2026-11-20"))
    assert 'value="2026-10-22"' in str(form["requested_from"])
    assert 'value="2026-11-20"' in str(form["requested_to"])
    # What was typed stays as typed, also when it is refused.
    refused = _PeriodForm({"requested_from": "2026-11-20", "requested_to": "2026-11-01"})
    assert not refused.is_valid() and refused.period is None
    assert refused.errors["requested_to"] == ["끝 날짜가 시작 날짜(2026-11-20)보다 앞섭니다."]
    assert 'value="2026-11-01"' in str(refused["requested_to"])
    typo = _PeriodForm({"requested_from": "2026-13-45"})
    assert not typo.is_valid() and typo.period is None and "requested_to" not in typo.errors


def test_the_date_boxes_take_a_period_typed_as_yyyy_mm_dd_or_close_to_it():
    form = _PeriodForm({"requested_from": "2026. 11. 01.", "requested_to": "20261120"})
    assert form.is_valid()
    assert form.period == (day("2026-11-01"), day("2026-11-20"))
    for name, shown in (("requested_from", "2026-11-01"), ("requested_to", "2026-11-20")):
        box = str(form[name])
        assert f'value="{shown}"' in box and 'type="text"' in box
        assert 'placeholder="yyyy-mm-dd"' in box and 'inputmode="numeric"' in box
    american = _PeriodForm({"requested_from": "11/01/2026"})
    assert not american.is_valid()
    assert american.errors["requested_from"] == [
        "올바른 날짜를 입력하세요(yyyy-mm-dd, 예: 2026-12-06)."
    ]


# The pages


def _results(client, query):
    return client.get("/results/", query)


def _dashboard(client, query):
    return client.get("/dashboard/", query)


def _failures(client, query):
    return client.get("/failures/", query)


def _history(client, query):
    return client.get("/recipients/", {"number": "01012345678", **query})


def _lookup(client, query):
    names = {"requested_from": "period_from", "requested_to": "period_to"}
    upload = SimpleUploadedFile("numbers.csv", b"01012345678\n")
    data = {"period": "custom", **{names[k]: v for k, v in query.items()}}
    return client.post("/recipients/lookup/", {"file": upload, **data})


PAGES = {
    "results": _results,
    "dashboard": _dashboard,
    "failures": _failures,
    "history": _history,
    "lookup": _lookup,
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"requested_from": "2025-11-26"}, BEFORE_WINDOW),
        ({"requested_from": "2025-01-01", "requested_to": "2025-01-31"}, BEFORE_WINDOW),
        (
            {"requested_from": "2026-11-20", "requested_to": "2026-11-01"},
            "끝 날짜가 시작 날짜(2026-11-20)보다 앞섭니다.",
        ),
        ({"requested_from": "1999-12-31"}, "2000-01-01부터 2099-12-31 사이의 날짜를 고르세요."),
    ],
)
def test_every_page_refuses_a_bad_period_in_the_same_words(alice, page, query, message):
    response = PAGES[page](alice.client, query)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())


@pytest.mark.parametrize("page", ["dashboard", "failures", "history", "lookup"])
def test_a_day_to_come_is_refused_in_the_same_words(alice, page):
    response = PAGES[page](alice.client, {"requested_to": "2026-11-28"})
    assert response.status_code == 400
    assert FUTURE in html.unescape(response.content.decode())


def test_the_results_list_takes_a_day_to_come(alice):
    # Its filter is the API's and saved exports' too, where month-end bounds are common.
    response = _results(
        alice.client, {"requested_from": "2026-11-01", "requested_to": "2026-11-30"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("url", ["/dashboard/", "/failures/", "/recipients/"])
def test_the_date_boxes_show_the_default_period(alice, url):
    page = alice.client.get(url).content.decode()
    assert 'name="requested_from" value="2026-10-29"' in page
    assert 'name="requested_to" value="2026-11-27"' in page
    chosen = alice.client.get(url, {"requested_to": "2026-11-20"}).content.decode()
    assert 'name="requested_from" value="2026-10-22"' in chosen
    assert 'name="requested_to" value="2026-11-20"' in chosen
