"""The summary above the results list equals a direct count of the sends the list shows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sendon_results.models import SendRequest
from sendon_results.results import summary as summary_module

from .factories import SenderProfileFactory, make_send

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")


def direct(sends) -> dict[str, object]:
    """The figures counted here from the sends themselves."""
    totals = sends.aggregate(
        sends=Count("id"),
        messages=Sum("recipient_count"),
        success=Sum("success_count"),
        failure=Sum("failure_count"),
        sending=Sum("sending_count"),
        waiting=Sum("waiting_count"),
        cancelled=Sum("cancelled_count"),
        charged=Sum("points_charged"),
        refunded=Sum("points_refunded"),
    )
    return {key: value or 0 for key, value in totals.items()}


def shown(response) -> dict[str, object]:
    summary = response.context["summary"]
    assert summary is not None
    return {
        "sends": summary.sends,
        "messages": summary.messages,
        "success": summary.success,
        "failure": summary.failure,
        "sending": summary.sending,
        "waiting": summary.waiting,
        "cancelled": summary.cancelled,
        "charged": summary.points_charged,
        "refunded": summary.points_refunded,
    }


@pytest.fixture
def history(alice, bob):
    """Sends of every kind for alice's organization, and one of bob's."""
    org = alice.organization
    kakao = SenderProfileFactory(organization=org, kind="kakao", value="@hanbit", label="@한빛")
    now = timezone.now()
    made = [
        make_send(
            org,
            outcomes=["success", "failure", "failure"],
            points_charged=Decimal("27"),
            points_refunded=Decimal("18"),
        ),
        make_send(
            org,
            outcomes=["success"] * 4,
            channel="alimtalk",
            sender=kakao,
            points_charged=Decimal("30.50"),
            source="web",
        ),
        make_send(
            org,
            outcomes=["waiting", "waiting"],
            status="reserved",
            requested_at=now - dt.timedelta(days=3),
        ),
        make_send(
            org,
            outcomes=["cancelled"],
            status="cancelled",
            points_charged=Decimal("9"),
            points_refunded=Decimal("9"),
            requested_at=now - dt.timedelta(days=10),
        ),
        make_send(
            org,
            outcomes=["sending", "success"],
            status="in_progress",
            channel="mms",
            body="인증번호 123456",
        ),
        make_send(
            org, outcomes=["failure"], status="failed", requested_at=now - dt.timedelta(days=40)
        ),
        # Past the one-year window: never on the list, so never in its summary.
        make_send(org, outcomes=["success"] * 5, requested_at=now - dt.timedelta(days=400)),
    ]
    make_send(bob.organization, outcomes=["failure"] * 7)
    return made


QUERIES = [
    "",
    "status=completed",
    "status=reserved&status=cancelled",
    "channel=alimtalk",
    "channel=sms&channel=mms",
    "source=web",
    "sender={kakao}",
    "requested_from={week_ago}",
    "requested_to={week_ago}",
    "q=인증번호",
    "outcome=failure",
    "outcome=waiting&channel=sms",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_summary_equals_a_direct_count_of_the_listed_sends(member, alice, history, query):
    kakao = alice.organization.sender_profiles.get(kind="kakao", value="@hanbit")
    week_ago = timezone.localdate() - dt.timedelta(days=7)
    query = query.format(kakao=kakao.pk, week_ago=week_ago.isoformat())
    response = member.get(f"/results/?{query}")
    assert response.status_code == 200
    listed = response.context["filter"].qs
    assert shown(response) == direct(SendRequest.objects.filter(id__in=listed.values("id")))
    assert shown(response)["sends"] > 0 or query.startswith("outcome=waiting")


def test_tallied_filters_read_the_tallies_and_others_the_sends(member, history):
    tallied = member.get("/results/?status=completed&channel=sms")
    assert summary_module.tallied(tallied.context["filter"])
    searched = member.get("/results/?q=인증번호")
    assert not summary_module.tallied(searched.context["filter"])


def test_the_page_shows_the_figures(member, history):
    response = member.get("/results/")
    html = response.content.decode()
    summary = response.context["summary"]
    assert summary.sends == 6 and summary.messages == 13
    assert "성공률" in html and f"{summary.success_rate:.1f}%" in html
    # Net points: charged minus refunded, of the kept sends only.
    assert summary.points_net == Decimal("27") + Decimal("30.50") + 9 - 18 - 9


def test_days_are_korea_days_at_the_edges(member, alice):
    org = alice.organization
    day = timezone.localdate() - dt.timedelta(days=2)
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=SEOUL)
    make_send(org, outcomes=["success"], requested_at=midnight - dt.timedelta(seconds=1))
    make_send(org, outcomes=["failure", "failure"], requested_at=midnight)
    on_day = member.get(f"/results/?requested_from={day}&requested_to={day}").context["summary"]
    assert (on_day.sends, on_day.success, on_day.failure) == (1, 1, 0)
    next_day = day + dt.timedelta(days=1)
    after = member.get(f"/results/?requested_from={next_day}&requested_to={next_day}")
    assert (after.context["summary"].sends, after.context["summary"].failure) == (1, 2)


def test_nothing_matching_sums_to_zero_without_a_rate(member, history):
    response = member.get("/results/?q=없는문구")
    summary = response.context["summary"]
    assert summary.sends == 0 and summary.success_rate is None
    assert "—" in response.content.decode()


def test_many_matches_beyond_a_tally_are_summed_in_a_request_of_their_own(
    member, history, monkeypatch
):
    monkeypatch.setattr(summary_module, "DIRECT_LIMIT", 1)
    response = member.get("/results/?outcome=failure")
    assert response.context["summary"] is None
    html = response.content.decode()
    assert 'hx-get="/results/summary/?outcome=failure"' in html
    later = member.get("/results/summary/?outcome=failure", HTTP_HX_REQUEST="true")
    assert later.status_code == 200
    listed = SendRequest.objects.filter(id__in=later.context["filter"].qs.values("id"))
    assert shown(later) == direct(listed)
    assert "<html" not in later.content.decode()  # the fragment alone
    assert "<html" in member.get("/results/summary/?outcome=failure").content.decode()


def test_the_summary_follows_htmx_swaps(member, history):
    response = member.get("/results/?channel=alimtalk", HTTP_HX_REQUEST="true")
    assert 'id="summary"' in response.content.decode()
    assert response.context["summary"].sends == 1


def test_a_bad_filter_gets_its_error_not_a_summary(member, history):
    assert member.get("/results/summary/?requested_from=2026-13-01").status_code == 400


def test_another_organizations_sends_never_count(client, bob, history):
    client.force_login(bob.user)
    summary = client.get("/results/").context["summary"]
    assert (summary.sends, summary.failure) == (1, 7)


def test_the_summary_needs_a_member(client, history):
    response = client.get("/results/summary/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_summary_that_would_take_too_long_says_so(member, history, monkeypatch):
    monkeypatch.setattr("sendon_results.results.views.from_sends_in_time", lambda f: None)
    response = member.get("/results/summary/?q=인증번호", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "너무 많아" in html and "hx-get" not in html  # said, not asked for again


def test_the_summary_request_is_bounded_in_time_on_postgresql(member, history):
    if connection.vendor != "postgresql":
        pytest.skip("a statement timeout is PostgreSQL's")
    with CaptureQueriesContext(connection) as queries:
        member.get("/results/summary/?q=인증번호")
    limit = f"statement_timeout = {summary_module.DEFERRED_TIMEOUT_MS}"
    assert any(limit in query["sql"] for query in queries.captured_queries)


def test_the_summary_links_lead_to_the_list(member, history):
    html = member.get("/results/summary/?q=인증번호").content.decode()
    assert 'href="/results/?q=%EC%9D%B8%EC%A6%9D%EB%B2%88%ED%98%B8&amp;outcome=failure"' in html


def month_edges(today: dt.date) -> list[dt.date]:
    """The first and last days of the months three and four months back, and the days
    beside them."""
    first = (today.replace(day=1) - dt.timedelta(days=100)).replace(day=1)
    second = (first + dt.timedelta(days=32)).replace(day=1)
    third = (second + dt.timedelta(days=32)).replace(day=1)
    return [
        day + dt.timedelta(days=shift) for day in (first, second, third) for shift in (-1, 0, 1)
    ]


@pytest.fixture
def year_of_sends(alice):
    """A send every six days for a year and a half, and sends at the first and last
    moment of the days around three months' edges (Korea time)."""
    org = alice.organization
    today = timezone.localdate()
    for days_ago in range(0, 548, 6):
        day = today - dt.timedelta(days=days_ago)
        moment = dt.datetime.combine(day, dt.time(12), SEOUL)
        make_send(org, outcomes=["success", "failure"], requested_at=moment)
    for day in month_edges(today):
        for at in (dt.time(0, 0), dt.time(23, 59, 59)):
            status = "completed" if at.hour else "failed"
            moment = dt.datetime.combine(day, at, SEOUL)
            make_send(org, outcomes=["failure"], status=status, requested_at=moment)


def test_periods_across_month_edges_sum_to_a_direct_count(member, year_of_sends):
    """The summary reads whole months from the monthly tallies and the other days from the
    daily ones: every period with its ends at, before and after months' edges (and
    open ends, and the retention window's own edge mid-month) counts each send once."""
    edges = month_edges(timezone.localdate())
    periods = [(start, end) for start in [None, *edges] for end in [None, *edges]]
    periods = [(start, end) for start, end in periods if not (start and end and end < start)]
    for start, end in periods:
        query = "&".join(
            f"{name}={day.isoformat()}"
            for name, day in (("requested_from", start), ("requested_to", end))
            if day
        )
        for extra in ("", "&status=failed"):
            response = member.get(f"/results/?{query}{extra}")
            assert response.status_code == 200, (query, extra)
            listed = response.context["filter"].qs
            expected = direct(SendRequest.objects.filter(id__in=listed.values("id")))
            assert shown(response) == expected, (query, extra)
            assert expected["sends"] > 0, (query, extra)
