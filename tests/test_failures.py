from __future__ import annotations

import datetime as dt
import html
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sendon_results.failures.analysis import FailureAnalysis, carrier_key
from sendon_results.models import Delivery, Membership, SendRequest
from sendon_results.result_codes import REQUEST_FAILED
from sendon_results.tallies import rebuild_tallies
from tests.factories import MembershipFactory, make_send

KST = ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST)
NOVEMBER = "/failures/?requested_from=2026-11-01&requested_to=2026-11-27"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def send_with(account, *, at, channel="sms", sender=None, results, **fields) -> SendRequest:
    """A send whose deliveries end as `results`: (status, code, carrier, final channel)."""
    send = make_send(
        account.organization,
        sender=sender
        or (account.kakao if channel in ("alimtalk", "friendtalk") else account.phone),
        channel=channel,
        requested_at=at,
        outcomes=[status for status, *_ in results],
        **fields,
    )
    for delivery, (_, code, carrier, final) in zip(
        send.deliveries.order_by("id"), results, strict=True
    ):
        delivery.result_code, delivery.carrier, delivery.final_channel = code, carrier, final
        delivery.save()
    return send


@pytest.fixture
def november(alice, bob):
    """Failures of every group, each carrier (written several ways), a KakaoTalk message
    whose fallback text failed, a failed request; another organization's failures."""
    at = dt.datetime(2026, 11, 10, 9, 0, tzinfo=KST)
    send_with(
        alice,
        at=at,
        results=[
            ("success", "1000", "SKT", "sms"),
            ("success", "1000", "KT", "sms"),
            ("failure", "3019", "SKT", "sms"),  # policy: sender number not registered
            ("failure", "3019", "LGU+", "sms"),
            ("failure", "2003", "KT", "sms"),  # temporary
            ("failure", "3001", "LG U+", "sms"),  # permanent
            ("failure", "9999", "알뜰폰", "sms"),  # unknown code, another carrier
            ("sending", "", "SKT", "sms"),
        ],
    )
    send_with(
        alice,
        at=at,
        channel="alimtalk",
        fallback=True,
        results=[
            ("success", "0000", "SKT", "alimtalk"),
            ("failure", "3019", "KT", "alimtalk"),  # permanent: not a KakaoTalk user
            ("failure", "3020", "skt", "alimtalk"),
            ("failure", "3019", "SKT", "sms"),  # the fallback text failed at the carrier
            ("success", "1000", "LG U+", "sms"),
        ],
    )
    failed = make_send(
        alice.organization,
        sender=alice.phone,
        channel="lms",
        status=SendRequest.Status.FAILED,
        requested_at=at,
        outcomes=["failure", "failure"],
    )
    failed.deliveries.update(result_code=REQUEST_FAILED, carrier="")
    # A reservation never sent: a delivery, not a failure.
    make_send(alice.organization, sender=alice.phone, requested_at=at, outcomes=["waiting"])
    send_with(bob, at=at, results=[("failure", "3019", "SKT", "sms")] * 5)
    rebuild_tallies()


def analysis_of(response) -> FailureAnalysis:
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.context["analysis"]


def in_period(account, start: str, end: str):
    start_at = dt.datetime.fromisoformat(start).replace(tzinfo=KST)
    end_at = dt.datetime.fromisoformat(end).replace(tzinfo=KST) + dt.timedelta(days=1)
    # With a final result: what the rates are of (sending, waiting and cancelled are not).
    return Delivery.objects.filter(
        organization=account.organization,
        send_request__requested_at__gte=start_at,
        send_request__requested_at__lt=end_at,
        status__in=["success", "failure"],
    )


def share(part: int, whole: int) -> float:
    return round(100 * part / whole, 1)


KAKAO_FINAL = Q(final_channel__in=["alimtalk", "friendtalk"])


def test_every_count_and_share_is_a_direct_count(alice, november):
    analysis = analysis_of(alice.client.get(NOVEMBER))
    deliveries = in_period(alice, "2026-11-01", "2026-11-27")
    failed = deliveries.filter(status="failure")
    # 16 in the period, of which one is still sending and one cancelled: no final result.
    assert analysis.deliveries == deliveries.count() == 14
    assert analysis.failures == failed.count() == 10
    assert analysis.failure_rate == share(10, 14)
    rows = [row for group in analysis.groups for row in group.rows]
    assert sum(row.failures for row in rows) == analysis.failures
    for row in rows:
        of_code = failed.filter(result_code=row.code)
        if row.family == "kakao":
            of_code = of_code.filter(KAKAO_FINAL)
        elif row.family == "carrier":
            of_code = of_code.exclude(KAKAO_FINAL)
        assert row.failures == of_code.count(), row.code
        assert row.share_of_failures == share(of_code.count(), failed.count())
        assert row.share_of_all == share(of_code.count(), deliveries.count())
    # Codes overlap: 3019 at a carrier and 3019 at KakaoTalk are two rows.
    by_key = {(row.code, row.family): row.failures for row in rows}
    assert by_key[("3019", "carrier")] == 3
    assert by_key[("3019", "kakao")] == 1
    assert by_key[(REQUEST_FAILED, "request")] == 2
    # The summary line: failures of all deliveries, and the three most common codes.
    assert [(row.code, row.failures) for row in analysis.top] == [
        ("3019", 3),
        (REQUEST_FAILED, 2),
        ("2003", 1),
    ]
    page = alice.client.get(NOVEMBER).content.decode()
    assert "실패 10건" in page and "결과 확정 14건" in page and "(71.4%)" in page


def test_groups_and_their_subtotals(alice, november):
    analysis = analysis_of(alice.client.get(NOVEMBER))
    groups = {group.key: group for group in analysis.groups}
    assert list(groups) == ["permanent", "temporary", "policy", "other"]
    codes = {key: {(row.code, row.family) for row in g.rows} for key, g in groups.items()}
    assert codes["permanent"] == {
        ("3001", "carrier"),
        ("3019", "kakao"),
        ("3020", "kakao"),
        (REQUEST_FAILED, "request"),
    }
    assert codes["temporary"] == {("2003", "carrier")}
    assert codes["policy"] == {("3019", "carrier")}
    assert codes["other"] == {("9999", "carrier")}
    for group in analysis.groups:
        assert group.failures == sum(row.failures for row in group.rows)
        assert group.share_of_failures == share(group.failures, analysis.failures)
        assert group.share_of_all == share(group.failures, analysis.deliveries)
    assert [g.failures for g in analysis.groups] == [5, 1, 3, 1]
    page = alice.client.get(NOVEMBER).content.decode()
    assert "영구 실패" in page and "일시 실패" in page and "정책·설정 실패" in page
    # Plain explanations and what to do, in Korean.
    assert "발신번호 사전등록" in page  # carrier 3019: register the sender number
    assert "카카오톡 사용자가 아님" in page  # KakaoTalk 3019
    assert "대체문자" in page


def test_breakdown_by_carrier(alice, november):
    analysis = analysis_of(alice.client.get(NOVEMBER))
    deliveries = in_period(alice, "2026-11-01", "2026-11-27")
    carriers = {row.key: row for row in analysis.carriers}
    assert list(carriers) == ["SKT", "KT", "LG U+", "other", "none"]
    written = {
        "SKT": ["SKT", "skt"],
        "KT": ["KT"],
        "LG U+": ["LG U+", "LGU+"],
        "other": ["알뜰폰"],
        "none": [""],
    }
    for key, names in written.items():
        of_carrier = deliveries.filter(carrier__in=names)
        failed = of_carrier.filter(status="failure").count()
        assert carriers[key].deliveries == of_carrier.count(), key
        assert carriers[key].failures == failed, key
        assert carriers[key].failure_rate == share(failed, of_carrier.count())
        assert carriers[key].share_of_failures == share(failed, analysis.failures)
    # Each code's row splits its failures the same way: SKT, KT, LG U+, anything else.
    rows = {(row.code, row.family): row for g in analysis.groups for row in g.rows}
    assert [n for _, n in rows[("3019", "carrier")].carrier_cells] == [2, 0, 1, 0]
    assert [n for _, n in rows[(REQUEST_FAILED, "request")].carrier_cells] == [0, 0, 0, 2]
    assert [n for _, n in rows[("9999", "carrier")].carrier_cells] == [0, 0, 0, 1]


@pytest.mark.parametrize(
    "raw,key",
    [("SKT", "SKT"), (" sk telecom ", "SKT"), ("KTF", "KT"), ("LG-U+", "LG U+"), ("LGT", "LG U+")]
    + [("", "none"), ("  ", "none"), ("헬로모바일", "other")],
)
def test_carrier_names_as_platforms_write_them(raw, key):
    assert carrier_key(raw) == key


def test_breakdown_by_final_channel(alice, november):
    analysis = analysis_of(alice.client.get(NOVEMBER))
    deliveries = in_period(alice, "2026-11-01", "2026-11-27")
    channels = {row.key: row for row in analysis.channels}
    assert list(channels) == ["sms", "lms", "alimtalk"]
    for key, row in channels.items():
        of_channel = deliveries.filter(final_channel=key)
        failed = of_channel.filter(status="failure").count()
        assert (row.deliveries, row.failures) == (of_channel.count(), failed)
        assert row.failure_rate == share(failed, of_channel.count())
    # The KakaoTalk send's fallback text failed by SMS: counted under SMS.
    assert channels["sms"].failures == 6
    rows = {(row.code, row.family): row for g in analysis.groups for row in g.rows}
    assert dict(rows[("3019", "carrier")].channels) == {"sms": 3}


def test_each_row_links_to_its_sends_with_the_same_filters(alice, november):
    response = alice.client.get(
        f"/failures/?requested_from=2026-11-03&requested_to=2026-11-20&sender={alice.phone.pk}"
        "&channel=sms"
    )
    analysis = analysis_of(response)
    rows = [row for g in analysis.groups for row in g.rows]
    assert {row.code for row in rows} == {"3019", "2003", "3001", "9999"}
    page = response.content.decode()
    for row in rows:
        url = urlsplit(row.link)
        assert url.path == "/results/"
        assert parse_qs(url.query) == {
            "code": [row.code],
            "outcome": ["failure"],
            "requested_from": ["2026-11-03"],
            "requested_to": ["2026-11-20"],
            "sender": [str(alice.phone.pk)],
            "channel": ["sms"],
        }
        assert f'href="{html.escape(row.link)}"' in page
    # Without a sender or channel the links carry neither.
    unfiltered = analysis_of(alice.client.get(NOVEMBER))
    query = parse_qs(urlsplit(unfiltered.top[0].link).query)
    assert set(query) == {"code", "outcome", "requested_from", "requested_to"}


def test_sender_and_channel_narrow_every_figure(alice, november):
    kakao = analysis_of(alice.client.get(f"{NOVEMBER}&sender={alice.kakao.pk}"))
    of_kakao = in_period(alice, "2026-11-01", "2026-11-27").filter(send_request__sender=alice.kakao)
    assert kakao.deliveries == of_kakao.count() == 5
    assert kakao.failures == of_kakao.filter(status="failure").count() == 3
    # The send's channel, as on the results list: its fallback text counts with it.
    alimtalk = analysis_of(alice.client.get(f"{NOVEMBER}&channel=alimtalk"))
    assert (alimtalk.deliveries, alimtalk.failures) == (5, 3)
    lms = analysis_of(alice.client.get(f"{NOVEMBER}&channel=lms"))
    assert (lms.deliveries, lms.failures) == (2, 2)


def test_periods_are_korea_time_days(alice):
    # 23:59 on 31 October and 00:00 on 1 November, Korea time: 14:59 and 15:00 UTC.
    send_with(
        alice,
        at=dt.datetime(2026, 10, 31, 23, 59, tzinfo=KST),
        results=[("failure", "2003", "SKT", "sms")],
    )
    send_with(
        alice,
        at=dt.datetime(2026, 11, 1, 0, 0, tzinfo=KST),
        results=[("failure", "3001", "KT", "sms"), ("success", "1000", "KT", "sms")],
    )
    send_with(
        alice,
        at=dt.datetime(2026, 11, 27, 13, 0, tzinfo=KST),
        results=[("failure", "3006", "KT", "sms")],
    )
    rebuild_tallies()
    first = analysis_of(
        alice.client.get("/failures/?requested_from=2026-11-01&requested_to=2026-11-01")
    )
    assert (first.deliveries, first.failures) == (2, 1)
    assert [row.code for row in first.top] == ["3001"]
    october = analysis_of(
        alice.client.get("/failures/?requested_from=2026-10-31&requested_to=2026-10-31")
    )
    assert [row.code for row in october.top] == ["2003"]
    # The presets: yesterday is 26 November, today the 27th.
    page = alice.client.get("/failures/").content.decode()
    assert "requested_from=2026-11-26&amp;requested_to=2026-11-26" in page  # 어제
    assert "requested_from=2026-11-27&amp;requested_to=2026-11-27" in page  # 오늘
    today = analysis_of(alice.client.get("/failures/?requested_from=2026-11-27"))
    assert [row.code for row in today.top] == ["3006"]
    # By default the last 30 days, today included: 29 October to 27 November.
    default = analysis_of(alice.client.get("/failures/"))
    assert (default.scope.start, default.scope.end) == (dt.date(2026, 10, 29), NOW.date())
    assert default.failures == 3
    assert 'value="2026-10-29"' in page and 'value="2026-11-27"' in page


def test_another_organizations_failures_never_show(alice, bob, november):
    analysis = analysis_of(alice.client.get(NOVEMBER))
    assert analysis.failures == 10  # bob's five are not among them
    bobs = analysis_of(bob.client.get(NOVEMBER))
    assert (bobs.deliveries, bobs.failures) == (5, 5)
    # Another organization's sender is not a choice: an error, not its figures.
    response = alice.client.get(f"{NOVEMBER}&sender={bob.phone.pk}")
    assert response.status_code == 400
    assert "analysis" not in response.context


def test_a_viewer_may_see_it(alice, november):
    viewer = Client()
    viewer.force_login(
        MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER).user
    )
    response = viewer.get(NOVEMBER)
    assert analysis_of(response).failures == 10
    assert 'href="/failures/" aria-current="page"' in response.content.decode()


def test_signed_out_visitors_sign_in_first(db):
    response = Client().get("/failures/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize(
    "query,message",
    [
        ("requested_from=2026-13-45", "올바른 날짜"),
        ("requested_from=2026-11-20&requested_to=2026-11-02", "끝 날짜가 시작 날짜"),
        ("requested_from=2024-01-01", "보관"),
        ("requested_from=1900-01-01", "2000-01-01"),
        ("sender=abc", "선택"),
        ("sender=99999999999999999999999", "선택"),
        ("channel=fax", "선택"),
    ],
)
def test_bad_input_is_an_error_on_the_form(alice, query, message):
    response = alice.client.get(f"/failures/?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="form-errors"' in page and message in page
    assert "analysis" not in response.context


def test_an_empty_period_says_so(alice, november):
    empty = alice.client.get("/failures/?requested_from=2026-11-20&requested_to=2026-11-27")
    assert analysis_of(empty).deliveries == 0
    assert "이 기간에 보낸 메시지가 없습니다." in empty.content.decode()
    # Messages but no failures: another empty state.
    send_with(
        alice,
        at=dt.datetime(2026, 11, 21, 9, 0, tzinfo=KST),
        results=[("success", "1000", "SKT", "sms")],
    )
    rebuild_tallies()
    clean = alice.client.get("/failures/?requested_from=2026-11-20&requested_to=2026-11-27")
    assert (analysis_of(clean).deliveries, analysis_of(clean).failures) == (1, 0)
    assert "이 기간에 실패한 메시지가 없습니다." in clean.content.decode()


def test_english_ui_shows_english_explanations(alice, november):
    alice.client.cookies["django_language"] = "en"
    page = alice.client.get(NOVEMBER).content.decode()
    assert "Failure analysis" in page
    assert "Sender number not registered" in page and "Not a KakaoTalk user" in page
    assert "Permanent failures" in page
    assert "미등록" not in page


def test_reads_only_the_tallies(alice, november):
    with CaptureQueriesContext(connection) as queries:
        analysis_of(alice.client.get(f"{NOVEMBER}&sender={alice.phone.pk}"))
    statements = [query["sql"] for query in queries.captured_queries]
    assert sum("sendon_results_deliverytally" in sql for sql in statements) == 1
    # Never the deliveries or the sends themselves: a month of them is millions of rows.
    assert not any(
        'FROM "sendon_results_delivery"' in sql or 'FROM "sendon_results_sendrequest"' in sql
        for sql in statements
    )
