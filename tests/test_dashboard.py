"""The dashboard (/dashboard/): every figure against a direct count of the sends and
deliveries it stands for, Korea-time days, the comparison with the previous period, the
charts at their edges, the links into the results list, and whose data it shows."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sendon_results.dashboard import charts
from sendon_results.dashboard.figures import buckets_of, grain_for
from sendon_results.dates import day_start
from sendon_results.models import Delivery, Membership, SendRequest
from sendon_results.tallies import rebuild_tallies
from tests.factories import MembershipFactory, make_send

KST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=KST)
TODAY = NOW.date()
OUTCOMES = ("success", "failure", "sending", "waiting", "cancelled")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=KST)


def send(account, when: dt.datetime, outcomes, **fields) -> SendRequest:
    """A send whose points are its deliveries' (9 each, failures and cancellations
    refunded), as the platform reports them."""
    refunded = sum(1 for outcome in outcomes if outcome in ("failure", "cancelled"))
    fields.setdefault("sender", account.phone)
    return make_send(
        account.organization,
        outcomes=outcomes,
        requested_at=when,
        points_charged=Decimal(9 * len(outcomes)),
        points_refunded=Decimal(9 * refunded),
        **fields,
    )


@pytest.fixture
def history(alice, bob):
    """Alice's sends over the last 40 days on both senders and three channels, two of her
    KakaoTalk messages sent as SMS/LMS instead; bob's sends, which alice never sees."""
    for days_ago in range(40):
        day = TODAY - dt.timedelta(days=days_ago)
        send(alice, at(day, 9), ("success",) * (days_ago % 4 + 1) + ("failure",) * (days_ago % 3))
        if days_ago % 5 == 0:
            send(alice, at(day, 15), ("success", "sending", "waiting", "cancelled"), channel="lms")
        if days_ago % 6 == 0:
            send(
                alice,
                at(day, 11),
                ("success", "success", "failure", "sending"),
                channel="alimtalk",
                sender=alice.kakao,
                fallback=True,
            )
    kakao = Delivery.objects.filter(
        organization=alice.organization, send_request__channel="alimtalk"
    ).order_by("id")
    fell_back = list(kakao.filter(status__in=["success", "failure"])[:3])
    fell_back[0].final_channel = "sms"
    fell_back[1].final_channel = "lms"
    fell_back[2].final_channel = "sms"
    Delivery.objects.bulk_update(fell_back, ["final_channel"])
    # A fallback still on its way has no final result: it counts in neither part.
    kakao.filter(status="sending").update(final_channel="sms")
    for days_ago in range(10):
        send(bob, at(TODAY - dt.timedelta(days=days_ago), 10), ("failure",) * 50)
    rebuild_tallies()


def sends_between(account, start: dt.date, end: dt.date, **filters):
    return SendRequest.objects.filter(
        organization=account.organization,
        requested_at__gte=day_start(start),
        requested_at__lt=day_start(end + dt.timedelta(days=1)),
        **filters,
    )


def direct(account, start: dt.date, end: dt.date, **filters) -> dict[str, object]:
    """The figures counted from the sends and deliveries themselves."""
    sends = sends_between(account, start, end, **filters)
    deliveries = Delivery.objects.filter(send_request__in=sends)
    counts = dict(deliveries.values_list("status").annotate(Count("id")).order_by())
    points = sends.aggregate(charged=Sum("points_charged"), refunded=Sum("points_refunded"))
    kakao = deliveries.filter(
        send_request__channel__in=["alimtalk", "friendtalk"], status__in=["success", "failure"]
    )
    return {
        "sends": sends.count(),
        "messages": deliveries.count(),
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "charged": points["charged"] or 0,
        "refunded": points["refunded"] or 0,
        "kakao": kakao.count(),
        "fallen_back": kakao.filter(final_channel__in=["sms", "lms", "mms"]).count(),
    }


def shown(totals) -> dict[str, object]:
    return {
        "sends": totals.sends,
        "messages": totals.messages,
        **{outcome: getattr(totals, outcome) for outcome in OUTCOMES},
        "charged": totals.charged,
        "refunded": totals.refunded,
    }


def test_every_figure_equals_a_direct_count(alice, history):
    response = alice.client.get("/dashboard/")
    assert response.status_code == 200
    figures = response.context["figures"]
    start = TODAY - dt.timedelta(days=29)
    assert (figures.scope.start, figures.scope.end, figures.grain) == (start, TODAY, "day")
    expected = direct(alice, start, TODAY)
    assert {
        **shown(figures.totals),
        "kakao": figures.fallback.kakao,
        "fallen_back": figures.fallback.fallen_back,
    } == expected
    assert expected["fallen_back"] == 3 and expected["failure"] > 0
    assert figures.fallback.by_channel == {"sms": 2, "lms": 1, "mms": 0}

    assert len(figures.buckets) == 30
    for bucket in figures.buckets:
        day = direct(alice, bucket.start, bucket.end)
        assert shown(bucket.totals) == {k: day[k] for k in shown(bucket.totals)}, bucket.start

    for group in figures.channels:
        by_channel = direct(alice, start, TODAY, channel=group.key)
        assert group.totals.messages == by_channel["messages"]
        assert group.totals.success == by_channel["success"]
    assert {g.key for g in figures.channels} == {"sms", "lms", "alimtalk"}
    for group in figures.senders:
        by_sender = direct(alice, start, TODAY, sender_id=int(group.key))
        assert (group.totals.success, group.totals.failure) == (
            by_sender["success"],
            by_sender["failure"],
        )
    assert [g.label for g in figures.senders][0] == str(alice.phone)  # the busiest first

    page = response.content.decode()
    cards = {card["key"]: card["value"] for card in response.context["headlines"]}
    # Rounded down to a tenth, as every page does: 100 % only when nothing failed.
    rate = math.floor(1000 * expected["success"] / (expected["success"] + expected["failure"])) / 10
    assert cards["sends"] == f"{expected['sends']:,}"
    assert cards["messages"] == f"{expected['messages']:,}"
    assert cards["success_rate"] == f"{rate:.1f}%"
    assert cards["failure"] == f"{expected['failure']:,}"
    # Whole points here, shown without decimals (SQLite and PostgreSQL answer 9 and 9.00).
    assert cards["charged"] == f"{expected['charged']:,.0f}"
    assert cards["refunded"] == f"{expected['refunded']:,.0f}"
    assert cards["net"] == f"{expected['charged'] - expected['refunded']:,.0f}"
    assert cards["fallback_rate"] == f"{100 * 3 / expected['kakao']:.1f}%"
    for value in cards.values():
        assert value in page


def test_sender_and_channel_narrow_every_figure(alice, history):
    start = TODAY - dt.timedelta(days=6)
    query = {"requested_from": start.isoformat(), "channel": "alimtalk", "sender": alice.kakao.pk}
    figures = alice.client.get("/dashboard/", query).context["figures"]
    expected = direct(alice, start, TODAY, channel="alimtalk", sender=alice.kakao)
    assert shown(figures.totals) == {k: expected[k] for k in shown(figures.totals)}
    assert figures.fallback.kakao == expected["kakao"]
    assert [g.key for g in figures.senders] == [str(alice.kakao.pk)]

    lms = alice.client.get("/dashboard/", {"channel": "lms"}).context["figures"]
    assert (
        lms.fallback.kakao == 0
        and lms.totals.messages
        == direct(alice, TODAY - dt.timedelta(days=29), TODAY, channel="lms")["messages"]
    )


def test_sends_at_the_edges_of_a_korea_time_day_count_on_their_own_day(alice):
    yesterday = TODAY - dt.timedelta(days=1)
    send(alice, at(yesterday, 23, 59), ("success",))  # 14:59 UTC yesterday
    send(alice, at(TODAY, 0, 1), ("failure", "failure"))  # 15:01 UTC yesterday
    rebuild_tallies()
    query = {"requested_from": yesterday.isoformat()}
    figures = alice.client.get("/dashboard/", query).context["figures"]
    first, second = figures.buckets
    assert (first.start, first.totals.success, first.totals.failure) == (yesterday, 1, 0)
    assert (second.start, second.totals.success, second.totals.failure) == (TODAY, 0, 2)
    for preset, day in (("어제", yesterday), ("오늘", TODAY)):
        page = alice.client.get("/dashboard/").content.decode()
        link = re.search(rf'href="([^"]+)"[^>]*>{preset}</a>', page).group(1)
        chosen = alice.client.get("/dashboard/" + html.unescape(link)).context["figures"]
        assert chosen.totals.messages == (1 if day == yesterday else 2)


def test_the_change_from_the_previous_period(alice):
    this_week = TODAY - dt.timedelta(days=6)
    for i in range(5):
        send(alice, at(this_week + dt.timedelta(days=i), 10), ("success", "failure"))
    for i in range(4):  # the seven days before
        send(alice, at(this_week - dt.timedelta(days=7 - i), 10), ("success",) * 3)
    send(alice, at(this_week - dt.timedelta(days=8), 10), ("success",))  # before both
    rebuild_tallies()
    response = alice.client.get("/dashboard/", {"requested_from": this_week.isoformat()})
    cards = {card["key"]: card for card in response.context["headlines"]}
    assert response.context["figures"].previous.sends == 4
    assert cards["sends"]["change"]["amount"] == "1 (+25.0%)"
    assert cards["sends"]["change"]["words"] == "직전 7일보다 증가"
    assert cards["messages"]["change"]["amount"] == "2 (-16.7%)"  # 10 against 12
    assert cards["messages"]["change"]["words"] == "직전 7일보다 감소"
    assert cards["success_rate"]["change"]["amount"] == "50.0%p"  # 50 % against 100 %
    assert cards["failure"]["change"] == {
        "mark": "▲",
        "amount": "5",
        "words": "직전 7일보다 증가",
    }  # no percentage from zero
    assert cards["failure"]["tone"] == "bad" and cards["sends"]["tone"] == "good"
    page = response.content.decode()
    assert "1 (+25.0%)" in page and "직전 7일보다 감소" in page

    # A year's previous year is past the retention window: nothing to compare with.
    year = alice.client.get(
        "/dashboard/", {"requested_from": (TODAY - dt.timedelta(days=364)).isoformat()}
    )
    assert year.context["figures"].previous is None
    assert all(card["change"] is None for card in year.context["headlines"])
    assert "보관 기간이 지나 비교하지 않습니다" in year.content.decode()


@pytest.mark.parametrize(
    "days, grain, bars",
    [(1, "day", 1), (30, "day", 30), (90, "week", 13), (365, "month", 13)],
)
def test_charts_render_with_no_data(alice, days, grain, bars):
    start = TODAY - dt.timedelta(days=days - 1)
    response = alice.client.get("/dashboard/", {"requested_from": start.isoformat()})
    assert response.status_code == 200
    figures = response.context["figures"]
    assert (figures.grain, len(figures.buckets)) == (grain, bars)
    page = response.content.decode()
    assert "이 기간에 메시지가 없습니다" in page
    assert "이 기간에 확정된 결과가 없습니다" in page
    assert page.count("<svg") == 3  # the columns, the line, the points; no empty bars
    assert page.count("표로 보기") == 3
    assert "<rect" not in page and "<circle" not in page


def test_charts_for_one_day_and_a_full_year(alice):
    oldest = TODAY - dt.timedelta(days=364)
    send(alice, at(TODAY, 9), ("success", "failure", "sending"))
    send(alice, at(oldest, 9), ("success",), channel="alimtalk", sender=alice.kakao)
    send(alice, at(TODAY - dt.timedelta(days=400), 9), ("success",) * 7)  # expired
    rebuild_tallies()
    one_day = alice.client.get("/dashboard/", {"requested_from": TODAY.isoformat()})
    page = one_day.content.decode()
    assert page.count('class="series-success"') == 3  # columns, channel and sender bars
    assert page.count('class="dash-point"') == 1
    assert "2026-11-28 · 성공률 50.0%" in page  # the point's words

    year = alice.client.get("/dashboard/", {"requested_from": oldest.isoformat()})
    figures = year.context["figures"]
    assert figures.grain == "month"
    assert (figures.buckets[0].start, figures.buckets[0].end) == (oldest, dt.date(2025, 11, 30))
    assert (figures.buckets[-1].start, figures.buckets[-1].end) == (dt.date(2026, 11, 1), TODAY)
    assert figures.totals.messages == 4  # not the expired send
    assert [b.totals.messages for b in figures.buckets if b.totals.messages] == [1, 3]
    assert "2025-11-29 ~ 2025-11-30" in year.content.decode()  # the cut month in the table


def test_every_bar_and_number_links_to_the_results_list_with_its_filter(alice, history):
    start = TODAY - dt.timedelta(days=6)
    page = alice.client.get(
        "/dashboard/", {"requested_from": start.isoformat(), "channel": "sms"}
    ).content.decode()
    links = [html.unescape(h) for h in re.findall(r'href="(/results/\?[^"]+)"', page)]
    assert len(links) > 50
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert query["requested_from"][0] >= start.isoformat()
        assert query["requested_to"][0] <= TODAY.isoformat()
        assert query["channel"] in (["sms"], ["alimtalk", "friendtalk"])
    bar = re.search(r'<a href="([^"]+)" aria-label="2026-11-27 · 실패 [^"]+"><rect', page)
    assert parse_qs(urlsplit(html.unescape(bar.group(1))).query) == {
        "requested_from": ["2026-11-27"],
        "requested_to": ["2026-11-27"],
        "channel": ["sms"],
        "outcome": ["failure"],
    }
    # The link opens the list with the sends it counted.
    listed = alice.client.get(html.unescape(bar.group(1)))
    assert listed.status_code == 200
    expected = sends_between(alice, TODAY - dt.timedelta(days=1), TODAY - dt.timedelta(days=1))
    expected = expected.filter(channel="sms", failure_count__gt=0)
    assert {s.pk for s in listed.context["page"].rows} == set(expected.values_list("pk", flat=True))

    sender_row = re.search(r'<a href="([^"]+)">' + re.escape(str(alice.phone)) + "</a>", page)
    sender_query = parse_qs(urlsplit(html.unescape(sender_row.group(1))).query)
    assert sender_query["sender"] == [str(alice.phone.pk)]


def test_the_page_reads_only_the_tallies(alice, history):
    with CaptureQueriesContext(connection) as queries:
        assert alice.client.get("/dashboard/").status_code == 200
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "sendon_results_sendtally" in tables and "sendon_results_deliverytally" in tables
    assert "sendon_results_sendrequest" not in tables
    assert 'sendon_results_delivery"' not in tables and "sendon_results_delivery " not in tables


def test_another_organizations_data_never_shows(alice, bob, history):
    figures = alice.client.get("/dashboard/").context["figures"]
    assert figures.totals.failure == direct(alice, TODAY - dt.timedelta(days=29), TODAY)["failure"]
    page = alice.client.get("/dashboard/").content.decode()
    assert str(bob.phone) not in page and "bob-org" not in page
    # Bob's sender is no choice of alice's: the form says so, nothing of his is counted.
    response = alice.client.get("/dashboard/", {"sender": bob.phone.pk})
    assert response.status_code == 400 and "figures" not in response.context
    assert bob.client.get("/dashboard/").context["figures"].totals.failure == 500


@pytest.mark.parametrize(
    "query, message",
    [
        ({"requested_from": "2026-13-45"}, "올바른 날짜"),
        ({"requested_from": "2026-11-20", "requested_to": "2026-11-01"}, "시작일"),
        ({"requested_to": "2026-11-29"}, "오늘(2026-11-28) 또는 그 이전"),
        ({"requested_from": "2025-11-27"}, "2025-11-28"),
        ({"requested_from": "1900-01-01"}, "2000-01-01"),
        ({"sender": "99999999999999999999999"}, "발신정보"),
        ({"channel": "fax"}, "채널"),
    ],
)
def test_bad_input_is_answered_on_the_form(alice, query, message):
    response = alice.client.get("/dashboard/", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_sign_in_lands_on_the_dashboard_and_every_role_sees_it(alice):
    client = Client()
    response = client.post("/login/", {"username": alice.user.username, "password": "password-123"})
    assert response.status_code == 302 and response.url == "/dashboard/"
    assert client.get("/").url == "/dashboard/"
    page = client.get("/dashboard/").content.decode()
    nav = page.split('class="mainnav"')[1].split("</nav>")[0]
    assert nav.index('href="/dashboard/"') < nav.index('href="/results/"')
    assert 'href="/dashboard/" aria-current="page"' in nav
    viewer = Client()
    viewer.force_login(
        MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER).user
    )
    assert viewer.get("/dashboard/").status_code == 200
    assert Client().get("/dashboard/").status_code == 302  # signed out


def test_a_user_of_no_organization_gets_the_page_that_says_so(db):
    client = Client()
    client.force_login(MembershipFactory().user)
    Membership.objects.all().delete()
    assert client.get("/dashboard/").status_code == 403


def test_grains_and_buckets_cover_every_day_once():
    assert [grain_for(d) for d in (1, 45, 46, 200, 201, 366)] == [
        "day",
        "day",
        "week",
        "week",
        "month",
        "month",
    ]
    start = dt.date(2025, 11, 29)
    for grain in ("day", "week", "month"):
        buckets = buckets_of(start, TODAY, grain)
        days = [
            b.start + dt.timedelta(days=i)
            for b in buckets
            for i in range((b.end - b.start).days + 1)
        ]
        assert days == [start + dt.timedelta(days=i) for i in range(365)]
    weeks = buckets_of(dt.date(2026, 11, 1), TODAY, "week")  # a Sunday
    assert [(w.start.isoformat(), w.end.isoformat()) for w in weeks[:2]] == [
        ("2026-11-01", "2026-11-01"),
        ("2026-11-02", "2026-11-08"),
    ]


def test_chart_geometry():
    assert [charts.nice_step(x) for x in (0.3, 1, 3, 7, 12, 240)] == [0.5, 1, 5, 10, 20, 250]
    slots = [
        charts.Slot("a", [charts.Segment(3, "s", "/a", "a3"), charts.Segment(1, "f", "/b", "a1")]),
        charts.Slot("b", [charts.Segment(0, "s", "/c", "b0"), charts.Segment(0, "f", "/d", "b0")]),
    ]
    chart = charts.column_chart(slots, stacked=True, number=str)
    assert [t.text for t in chart.ticks] == ["0", "1", "2", "3", "4"]
    lower, upper = chart.boxes
    assert lower.y + lower.height == pytest.approx(chart.baseline)
    assert upper.y == pytest.approx(chart.top) and upper.y + upper.height == pytest.approx(lower.y)
    line = charts.line_chart(
        [95, None, 100], ["a", "b", "c"], ["/", "/", "/"], ["", "", ""], number=str
    )
    assert line.path.count("M") == 2 and line.ticks[0].text == "90"
    assert charts.shorten("02-1234-5678 (고객센터 대표번호)") == "02-1234-5678 (고객센…"
