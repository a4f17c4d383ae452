"""The results list and a send's detail page: filters, pages, what each row says."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from sendon_results.api.keys import create_key
from sendon_results.models import AccessEvent, Delivery, Export, Membership, SendRequest
from sendon_results.retention import soon_deleted_until
from tests.factories import MembershipFactory, SendRequestFactory, make_send

KST = ZoneInfo("Asia/Seoul")


def listed(account, query: str = "") -> list[str]:
    """External ids of the sends the list shows, in order, for a query string."""
    response = account.client.get(f"/results/?{query}")
    assert response.status_code == 200, response.content.decode()[:2000]
    return [send.external_id for send in response.context["page"].rows]


@pytest.fixture
def sends(alice):
    """One send of each kind that a filter can tell apart, newest first by external id."""
    at = dt.datetime(2026, 11, 20, 10, 0, tzinfo=KST)
    return {
        "completed_sms": make_send(
            alice.organization,
            external_id="a",
            requested_at=at,
            sender=alice.phone,
            outcomes=["success", "success"],
            recipients=["01011112222", "01033334444"],
        ),
        "failed_kakao": make_send(
            alice.organization,
            external_id="b",
            requested_at=at - dt.timedelta(days=1),
            sender=alice.kakao,
            channel="alimtalk",
            status="failed",
            source="web",
            outcomes=["failure"],
            body="[알림] 주문 완료\n둘째 줄",
        ),
        "in_progress_lms": make_send(
            alice.organization,
            external_id="c",
            requested_at=at - dt.timedelta(days=2),
            sender=alice.phone,
            channel="lms",
            status="in_progress",
            outcomes=["success", "failure", "sending"],
            body="=SUM(A1) 가을 세일",
            recipients=["01011112222", "01055556666", "01077778888"],
        ),
        "reserved_friendtalk": make_send(
            alice.organization,
            external_id="d",
            requested_at=at - dt.timedelta(days=10),
            sender=alice.kakao,
            channel="friendtalk",
            status="reserved",
            source="web",
            outcomes=["sending"],
        ),
    }


def test_unfiltered_list_is_newest_first(alice, sends):
    assert listed(alice) == ["a", "b", "c", "d"]
    assert listed(alice, "order=oldest") == ["d", "c", "b", "a"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["b"]),
        ("status=completed&status=reserved", ["a", "d"]),
        ("outcome=failure", ["b", "c"]),
        ("outcome=sending", ["c", "d"]),
        ("outcome=success&outcome=sending", ["a", "c", "d"]),
        ("channel=alimtalk&channel=friendtalk", ["b", "d"]),
        ("channel=lms", ["c"]),
        ("source=web", ["b", "d"]),
        ("source=api", ["a", "c"]),
        ("q=주문", ["b"]),
        ("q=%3DSUM", ["c"]),
        ("q=없는문구", []),
        ("recipient=010-1111-2222", ["a", "c"]),
        ("recipient=01055556666", ["c"]),
        ("recipient=%2B82+10-5555-6666", ["c"]),
        ("recipient=010-0000-0000", []),
        ("requested_from=2026-11-19&requested_to=2026-11-19", ["b"]),
        ("requested_from=2026-11-18", ["a", "b", "c"]),
        ("requested_to=2026-11-18", ["c", "d"]),
        ("status=in_progress&outcome=failure&channel=lms&source=api", ["c"]),
        ("outcome=failure&source=web&q=주문", ["b"]),
    ],
)
def test_each_filter_and_combinations(alice, sends, query, expected):
    assert listed(alice, query) == expected


def test_sender_filter(alice, sends):
    assert listed(alice, f"sender={alice.kakao.pk}") == ["b", "d"]
    assert listed(alice, f"sender={alice.phone.pk}&sender={alice.kakao.pk}") == [
        "a",
        "b",
        "c",
        "d",
    ]


def test_period_is_inclusive_in_korea_time(alice):
    # 2026-11-01 00:00 KST is 2026-10-31 15:00 UTC: it belongs to November 1st in Korea.
    edges = {
        "before": dt.datetime(2026, 10, 31, 23, 59, 59, tzinfo=KST),
        "first": dt.datetime(2026, 11, 1, 0, 0, 0, tzinfo=KST),
        "last": dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=KST),
        "after": dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=KST),
    }
    for name, at in edges.items():
        make_send(alice.organization, external_id=name, requested_at=at, sender=alice.phone)
    assert listed(alice, "requested_from=2026-11-01&requested_to=2026-11-30") == ["last", "first"]


def test_active_filters_are_shown_with_a_way_to_clear_them(alice, sends):
    response = alice.client.get("/results/?status=failed&channel=alimtalk")
    html = response.content.decode()
    assert "처리상태: <strong>처리실패</strong>" in html
    assert "채널: <strong>알림톡</strong>" in html
    assert "조건 모두 지우기" in html
    # Dropping one filter keeps the other.
    drop_links = re.findall(r'<a href="(\?[^"]*)" hx-get', html)
    assert "?channel=alimtalk" in drop_links and "?status=failed" in drop_links


@pytest.mark.parametrize(
    "query",
    [
        "recipient=010-3333-4444&recipient=01055556666",
        "recipient=01055556666&recipient=010-3333-4444",  # the order does not matter
        "recipient=010-3333-4444,+010-5555-6666",  # one box, numbers separated by commas
        "recipient=010-3333-4444&recipient=&recipient=010-5555-6666",
    ],
)
def test_a_repeated_recipient_means_any_of_the_numbers(alice, sends, query):
    assert listed(alice, query) == ["a", "c"]


def test_the_recipient_chip_shows_every_number(alice, sends):
    response = alice.client.get("/results/?recipient=01033334444&recipient=010-5555-6666")
    html = response.content.decode()
    assert "수신번호: <strong>010-3333-4444, 010-5555-6666</strong>" in html
    # The box shows them again, and sending the form back gives the same list.
    assert 'value="01033334444, 010-5555-6666"' in html
    assert listed(alice, "recipient=01033334444,+010-5555-6666") == ["a", "c"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("recipient=010-1111-2222&recipient=call-me", "전화번호를 입력하세요"),
        ("recipient=010-1111-2222&recipient=010%001111", "null 문자는 사용할 수 없습니다"),
        ("recipient=" + "1" * 31, "최대 30"),
        ("&".join(f"recipient=0101111{i:04d}" for i in range(21)), "최대 20개"),
    ],
)
def test_every_recipient_number_is_checked(alice, sends, query, message):
    response = alice.client.get(f"/results/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_api_list_takes_repeated_recipients_the_same_way(alice, sends):
    _, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
    platform = Client(headers={"Authorization": f"Bearer {secret}"})
    response = platform.get("/api/v1/send-requests?recipient=010-3333-4444&recipient=01055556666")
    assert response.status_code == 200, response.content
    assert [send["external_id"] for send in response.json()["results"]] == ["a", "c"]
    response = platform.get("/api/v1/send-requests?recipient=01033334444&recipient=call-me")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "recipient"


def test_list_shows_the_columns_in_korean(alice):
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success", "success", "failure"],
        body="[한빛] 첫 줄입니다\n둘째 줄은 상세에만",
        requested_at=timezone.make_aware(dt.datetime(2026, 11, 27, 14, 3)),
    )
    html = alice.client.get("/results/").content.decode()
    for label in ("발송 요청 일시", "메시지 본문", "발신정보", "처리상태", "발송 현황"):
        assert label in html
    assert "2026-11-27 14:03" in html
    assert "[한빛] 첫 줄입니다" in html and "둘째 줄은 상세에만" not in html
    assert "처리완료" in html and "성공 2" in html and "실패 1" in html
    assert f'href="/results/{send.pk}/"' in html


def test_another_organizations_sends_never_show_and_are_404(alice, bob):
    mine = make_send(alice.organization, sender=alice.phone, body="앨리스의 메시지")
    theirs = make_send(bob.organization, sender=bob.phone, body="밥의 비밀 메시지")
    html = alice.client.get("/results/").content.decode()
    assert "앨리스의 메시지" in html and "밥의 비밀 메시지" not in html
    assert alice.client.get(f"/results/{theirs.pk}/").status_code == 404
    assert alice.client.get(f"/results/{theirs.pk}/?outcome=failure").status_code == 404
    assert bob.client.get(f"/results/{mine.pk}/").status_code == 404
    # Filters cannot reach across either: bob's sender id and recipient find nothing of his.
    response = alice.client.get(f"/results/?sender={bob.phone.pk}")
    assert response.status_code == 400
    recipient = theirs.deliveries.get().recipient
    assert alice.client.get(f"/results/?recipient={recipient}").context["page"].rows == []


def test_list_query_count_does_not_grow_with_rows(alice, django_assert_num_queries):
    for _ in range(60):
        make_send(alice.organization, sender=alice.phone, outcomes=["success", "failure"])
    # session, user, organizations, sender choices, bounded count, the page's rows, the
    # summary (summed over the few matching sends, or read off the tallies), and the
    # bounded count of sends deleted within 30 days
    for query in ("outcome=failure", "status=completed"):
        with django_assert_num_queries(8):
            response = alice.client.get(f"/results/?{query}")
        assert len(response.context["page"].rows) == 50


def test_detail_shows_the_whole_send_and_explains_result_codes(alice):
    send = make_send(
        alice.organization,
        sender=alice.kakao,
        channel="alimtalk",
        fallback=True,
        title="",
        body="[알림] 주문 완료\n주문번호: 123\n감사합니다.",
        outcomes=["success", "failure"],
    )
    failed = send.deliveries.get(status="failure")
    failed.result_code, failed.final_channel = "3020", "alimtalk"
    failed.save()
    fallback = send.deliveries.get(status="success")
    fallback.final_channel = "sms"
    fallback.save()
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    assert "주문번호: 123<br>감사합니다." in html
    assert "수신자가 채널 메시지를 차단함" in html  # 3020 for KakaoTalk
    assert "대체문자" in html
    assert alice.kakao.label in html
    assert "모든 수신자의 성공·실패가 확정되었습니다." in html


def test_carrier_and_kakao_codes_are_told_apart(alice):
    sms = make_send(alice.organization, sender=alice.phone, outcomes=["failure"])  # 3019
    html = alice.client.get(f"/results/{sms.pk}/").content.decode()
    assert "발신번호 미등록" in html and "카카오톡 사용자가 아님" not in html
    kakao = make_send(
        alice.organization, sender=alice.kakao, channel="alimtalk", outcomes=["failure"]
    )
    html = alice.client.get(f"/results/{kakao.pk}/").content.decode()
    assert "카카오톡 사용자가 아님" in html and "발신번호 미등록" not in html


def test_detail_filters_and_pages_deliveries(alice):
    send = make_send(
        alice.organization, sender=alice.phone, outcomes=["success"] * 70 + ["failure"] * 3
    )
    response = alice.client.get(f"/results/{send.pk}/?outcome=failure")
    assert [d.status for d in response.context["page"].rows] == ["failure"] * 3
    first = alice.client.get(f"/results/{send.pk}/").context["page"]
    assert len(first.rows) == 50 and first.next_cursor
    second = alice.client.get(f"/results/{send.pk}/", {"cursor": first.next_cursor})
    assert len(second.context["page"].rows) == 23


def test_htmx_request_gets_only_the_results_fragment(alice):
    make_send(alice.organization, sender=alice.phone)
    response = alice.client.get("/results/?status=completed", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html


def test_english_when_the_user_chooses_it(alice):
    make_send(alice.organization, sender=alice.phone)
    korean = alice.client.get("/results/", headers={"Accept-Language": "en"}).content.decode()
    assert "처리상태" in korean  # Korean first, whatever the browser says
    alice.client.post("/language/", {"language": "en", "next": "/results/"})
    english = alice.client.get("/results/").content.decode()
    assert "Processing status" in english and "Completed" in english


def test_empty_results_say_so_and_how_to_widen(alice):
    html = alice.client.get("/results/").content.decode()
    assert "아직 발송이 없습니다" in html
    html = alice.client.get("/results/?status=cancelled").content.decode()
    assert "조건에 맞는 발송이 없습니다" in html and "조건을 모두 지우세요" in html


def test_count_is_bounded(alice, settings, monkeypatch):
    monkeypatch.setattr("sendon_results.results.views.COUNT_LIMIT", 3)
    for _ in range(5):
        SendRequestFactory(organization=alice.organization, sender=alice.phone)
    html = alice.client.get("/results/").content.decode()
    assert "3건 이상" in html
    assert SendRequest.objects.count() == 5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "올바르게 선택해 주세요"),
        ("outcome=maybe", "올바르게 선택해 주세요"),
        ("channel=fax", "올바르게 선택해 주세요"),
        ("requested_from=2026-13-45", "올바른 날짜를 입력하세요"),
        ("requested_from=11/01/2026", "올바른 날짜를 입력하세요(yyyy-mm-dd, 예: 2026-12-06)"),
        (
            "requested_from=2026-11-20&requested_to=2026-11-01",
            "끝 날짜가 시작 날짜(2026-11-20)보다 앞섭니다",
        ),
        ("requested_to=9999-12-31", "2000-01-01부터 2099-12-31 사이의 날짜"),
        ("q=" + "가" * 10_000, "최대 100자"),
        ("sender=abc", "발신정보: &quot;abc&quot; 은/는 유효한 값이 아닙니다"),
        ("sender=999999", "올바르게 선택해 주세요"),
        ("cursor=eyJ0YW1wZXJlZCI6dHJ1ZX0", "이 페이지 링크는 더 이상 쓸 수 없습니다"),
        ("recipient=call-me-maybe", "전화번호를 입력하세요"),
        ("q=%00", "null 문자는 사용할 수 없습니다"),
    ],
)
def test_bad_filters_come_back_with_a_message(alice, query, message):
    make_send(alice.organization, sender=alice.phone)
    response = alice.client.get(f"/results/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert "사용할 수 없는 검색 조건이 있습니다" in html
    assert message in html
    assert "page" not in response.context  # no list that could pass for "no data"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "status",
                    "outcome",
                    "sender",
                    "channel",
                    "source",
                    "requested_from",
                    "requested_to",
                    "q",
                    "recipient",
                    "code",
                    "cursor",
                    "order",
                    "page",
                    "x",
                ]
            ),
            st.text(max_size=40),
        ),
        max_size=6,
    )
)
def test_random_query_strings_never_cause_a_server_error(alice, params):
    response = alice.client.get("/results/", params)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "사용할 수 없는 검색 조건이 있습니다" in response.content.decode()


def test_detail_counts_failures_by_reason(alice):
    send = make_send(alice.organization, sender=alice.phone, outcomes=["failure"] * 3 + ["success"])
    send.deliveries.filter(status="failure").exclude(
        pk=send.deliveries.filter(status="failure").first().pk
    ).update(result_code="3006")
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    assert "실패 사유" in html
    breakdown = send.failure_breakdown()
    assert [(row["result_code"], row["count"]) for row in breakdown["rows"]] == [
        ("3006", 2),
        ("3019", 1),
    ]
    assert send.failure_breakdown(limit=1)["others"] == 1
    assert "그 밖의 코드" not in html
    assert "수신 거부" in html and "발신번호 미등록" in html


def test_foreign_cursors_and_huge_ids_are_a_clear_answer(alice):
    send = make_send(alice.organization, sender=alice.phone, outcomes=["success"] * 60)
    for _ in range(55):
        make_send(alice.organization, sender=alice.phone)
    list_cursor = alice.client.get("/results/").context["page"].next_cursor
    detail_cursor = alice.client.get(f"/results/{send.pk}/").context["page"].next_cursor
    response = alice.client.get(f"/results/{send.pk}/", {"cursor": list_cursor})
    assert response.status_code == 400 and "이 페이지 링크는" in response.content.decode()
    assert alice.client.get("/results/", {"cursor": detail_cursor}).status_code == 400
    assert alice.client.get("/results/?sender=%C2%B2").status_code == 400  # "²" is no id
    assert alice.client.get("/results/?sender=99999999999999999999999").status_code == 400
    assert alice.client.get("/results/99999999999999999999999/").status_code == 404
    assert alice.client.get("/exports/99999999999999999999999/download/").status_code == 404


def test_a_failure_reasons_link_opens_that_codes_failures_only(alice):
    send = make_send(
        alice.organization, sender=alice.phone, outcomes=["failure"] * 5 + ["success"] * 2
    )
    failures = list(send.deliveries.filter(status="failure").order_by("id"))
    for delivery, code in zip(failures, ["3006", "3006", "E915", "3019", "3019"], strict=True):
        delivery.result_code = code
        delivery.save()

    def shown(query: str) -> list[tuple[str, str]]:
        response = alice.client.get(f"/results/{send.pk}/?{query}")
        assert response.status_code == 200, response.content.decode()[:2000]
        return [(d.status, d.result_code) for d in response.context["page"].rows]

    assert shown("outcome=failure&result_code=3006") == [("failure", "3006")] * 2
    assert shown("outcome=failure&result_code=E915") == [("failure", "E915")]
    assert shown("outcome=failure&result_code=E915&result_code=3006") == [
        ("failure", "3006"),
        ("failure", "3006"),
        ("failure", "E915"),
    ]
    assert shown("outcome=failure&result_code=9999") == []
    assert len(shown("outcome=failure&result_code=")) == 5  # no code chosen: every failure
    for query, message in [
        ("result_code=30%0006", "null 문자는 사용할 수 없습니다"),
        ("result_code=" + "X" * 21, "최대 20"),
    ]:
        response = alice.client.get(f"/results/{send.pk}/?{query}")
        assert response.status_code == 400 and message in response.content.decode(), query


def test_the_detail_page_takes_repeated_recipients_as_any_of_them(alice):
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success"] * 3,
        recipients=["01011112222", "01033334444", "01055556666"],
    )
    response = alice.client.get(
        f"/results/{send.pk}/?recipient=010-1111-2222&recipient=01055556666"
    )
    assert [d.recipient for d in response.context["page"].rows] == ["01011112222", "01055556666"]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.lists(
        st.tuples(
            st.sampled_from(["outcome", "recipient", "result_code", "code", "cursor", "x"]),
            st.text(max_size=40),
        ),
        max_size=6,
    )
)
def test_random_detail_query_strings_never_cause_a_server_error(alice, params):
    send = SendRequest.objects.filter(organization=alice.organization).first() or make_send(
        alice.organization, sender=alice.phone, outcomes=["success", "failure"]
    )
    response = alice.client.get(f"/results/{send.pk}/", params)
    assert response.status_code in (200, 400)


def test_a_cancelled_reservation_reads_as_never_sent(alice):
    scheduled = timezone.now() + dt.timedelta(hours=3)
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["cancelled"] * 3,
        status="cancelled",
        scheduled_at=scheduled,
        points_refunded=27,
    )
    detail = alice.client.get(f"/results/{send.pk}/")
    html = detail.content.decode()
    assert "예약 취소로 발송되지 않음" in html and "실패 사유" not in html
    assert "SKT" not in html  # no carrier: nothing went out
    badges = re.findall(r'class="badge outcome-(\w+)"', html)
    assert badges == ["cancelled"] * 3
    row = alice.client.get("/results/").content.decode()
    assert 'title="취소">취소 3<' in row and 'title="실패">실패 0<' in row
    assert alice.client.get("/results/?outcome=failure").context["page"].rows == []


def test_a_reservation_waits_for_its_time(alice):
    scheduled = timezone.now() + dt.timedelta(hours=5)
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["waiting"] * 2,
        status="reserved",
        scheduled_at=scheduled,
    )
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    local = timezone.localtime(scheduled).strftime("%Y-%m-%d %H:%M")
    assert f"예약 시간 {local}에 발송 예정" in html
    deliveries = html.split('id="deliveries"')[1]
    assert "통신사 응답 대기 중" not in deliveries and "발송중" not in deliveries
    assert re.findall(r'class="badge outcome-(\w+)"', html) == ["waiting"] * 2
    assert alice.client.get("/results/?outcome=sending").context["page"].rows == []
    assert alice.client.get("/results/?outcome=waiting").context["page"].rows == [send]


def test_a_failed_request_shows_its_reason_for_every_message(alice):
    reason = "발신번호 인증이 만료되었습니다."
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["failure"] * 2,
        status="failed",
        failure_reason=reason,
    )
    send.deliveries.update(result_code="REQUEST", result_message=reason, carrier="")
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    breakdown = html.split("실패 사유")[1].split("</table>")[0]
    assert "REQUEST" in breakdown and reason in breakdown and ">2</a>" in breakdown
    deliveries = html.split('id="deliveries"')[1]
    assert deliveries.count(reason) == 2


def test_the_failure_breakdown_lists_every_code_and_links_to_it(alice):
    codes = ["2003", "2005", "3001", "3003", "3004", "3006", "3012", "3017", "3019", "E915"]
    send = make_send(alice.organization, sender=alice.phone, outcomes=["failure"] * len(codes) * 2)
    for delivery, code in zip(send.deliveries.order_by("id"), codes * 2, strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(result_code=code)
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    breakdown = html.split("실패 사유")[1].split("</table>")[0]
    links = re.findall(r'href="\?outcome=failure&amp;code=(\w+)&amp;final_channel=sms"', breakdown)
    assert sorted(links) == sorted(codes)
    listed = alice.client.get(f"/results/{send.pk}/?outcome=failure&code=E915&final_channel=sms")
    assert {d.result_code for d in listed.context["page"].rows} == {"E915"}
    assert len(listed.context["page"].rows) == 2
    chip = listed.content.decode().split('class="active-filters"')[1].split("</ul>")[0]
    dropped = chip.split("href=")[1]
    assert "결과 코드: <strong>E915</strong>" in chip
    assert "code" not in dropped and "final_channel" not in dropped
    # A code that came back by another channel is another reason.
    assert (
        alice.client.get(f"/results/{send.pk}/?outcome=failure&code=E915&final_channel=lms")
        .context["page"]
        .rows
        == []
    )


# The result code filter, the period's 어제 and the success rate ---------------------------


@pytest.fixture
def coded(alice):
    """Three sends of alice's: one with a 3019 failure, one with an E915 failure, one all
    delivered; and a send of another organization with 3019."""
    with_3019 = make_send(alice.organization, sender=alice.phone, outcomes=["success", "failure"])
    with_e915 = make_send(alice.organization, sender=alice.phone, outcomes=["failure", "failure"])
    Delivery.objects.filter(send_request=with_e915).update(result_code="E915")
    delivered = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    return {"3019": with_3019, "E915": with_e915, "delivered": delivered}


def test_the_code_filter_lists_sends_with_a_recipient_of_that_code(alice, bob, coded):
    theirs = make_send(bob.organization, sender=bob.phone, outcomes=["failure"])
    assert theirs.deliveries.get().result_code == "3019"
    assert listed(alice, "code=3019") == [coded["3019"].external_id]
    assert listed(alice, "code=E915&outcome=failure") == [coded["E915"].external_id]
    assert listed(alice, "code=1000") == [coded["delivered"].external_id, coded["3019"].external_id]
    assert listed(alice, "code=9999") == []
    # Compared with the database: the sends of alice's with a delivery of that code.
    expected = set(
        Delivery.objects.filter(organization=alice.organization, result_code="3019").values_list(
            "send_request__external_id", flat=True
        )
    )
    assert set(listed(alice, "code=3019&outcome=failure")) == expected
    response = alice.client.get("/results/?code=E915")
    chip = response.content.decode().split('class="active-filters"')[1].split("</ul>")[0]
    assert "결과 코드: <strong>E915</strong>" in chip
    assert 'name="code" value="E915"' in response.content.decode()  # the form keeps it


def test_a_send_listed_by_code_opens_at_the_recipients_of_that_code(alice, coded):
    html = alice.client.get("/results/?code=E915&outcome=failure").content.decode()
    link = f'/results/{coded["E915"].pk}/?code=E915&amp;outcome=failure"'
    assert link in html
    opened = alice.client.get(f"/results/{coded['E915'].pk}/?code=E915&outcome=failure")
    assert len(opened.context["page"].rows) == 2
    assert f'/results/{coded["3019"].pk}/"' in alice.client.get("/results/").content.decode()


@pytest.mark.parametrize(
    "code", ["30 19", "3019;--", "코드", "X" * 21, "30%0019", "%EC%BD%94", "'%20OR%201=1"]
)
def test_a_code_that_is_no_result_code_is_refused_on_the_form(alice, coded, code):
    for url in ("/results/", f"/results/{coded['3019'].pk}/"):
        response = alice.client.get(f"{url}?code={code}")
        html = response.content.decode()
        assert response.status_code == 400, (url, code)
        assert "결과 코드" in html and ("field-error" in html or "errorlist" in html)


def test_the_code_filter_keeps_to_its_query_budget(alice, coded, django_assert_num_queries):
    for _ in range(55):
        make_send(alice.organization, sender=alice.phone, outcomes=["success", "failure"])
    with django_assert_num_queries(8):
        response = alice.client.get("/results/?code=3019&outcome=failure")
    assert len(response.context["page"].rows) == 50


def test_a_sends_page_shows_only_the_recipients_of_a_code(alice):
    send = make_send(alice.organization, sender=alice.phone, outcomes=["failure"] * 4 + ["success"])
    failures = list(send.deliveries.filter(status="failure").order_by("id"))
    for delivery, code in zip(failures, ["3019", "3006", "3019", "E915"], strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(result_code=code)
    response = alice.client.get(f"/results/{send.pk}/?code=3019")
    rows = response.context["page"].rows
    assert [d.pk for d in rows] == list(
        send.deliveries.filter(result_code="3019").order_by("id").values_list("pk", flat=True)
    )
    html = response.content.decode()
    chip = html.split('class="active-filters"')[1].split("</ul>")[0]
    assert "결과 코드: <strong>3019</strong>" in chip
    assert "실패 번호 내보내기 (코드 3019)" in html  # the file follows the page
    assert [
        d.result_code
        for d in alice.client.get(f"/results/{send.pk}/?code=1000").context["page"].rows
    ] == ["1000"]


@pytest.mark.parametrize(
    "today, yesterday",
    [("2026-11-28T00:30:00+09:00", "2026-11-27"), ("2026-12-01T23:50:00+09:00", "2026-11-30")],
)
def test_yesterday_is_a_period_preset_in_korea_time(alice, today, yesterday):
    with time_machine.travel(dt.datetime.fromisoformat(today), tick=False):
        alice.client.force_login(alice.user)  # a sign-in of that day
        html = alice.client.get("/results/").content.decode()
    presets = html.split('class="presets"')[1].split("</span>")[0]
    labels = re.findall(r">([^<>]+)</a>", presets)
    assert labels == ["오늘", "어제", "7일", "30일", "이번 달"]
    assert f'data-period-from="{yesterday}" data-period-to="{yesterday}"' in presets


def test_yesterdays_link_lists_yesterdays_sends(alice):
    now = dt.datetime(2026, 11, 28, 0, 30, tzinfo=KST)
    make_send(alice.organization, sender=alice.phone, external_id="today", requested_at=now)
    make_send(
        alice.organization,
        sender=alice.phone,
        external_id="yesterday-first",
        requested_at=dt.datetime(2026, 11, 27, 0, 0, tzinfo=KST),
    )
    make_send(
        alice.organization,
        sender=alice.phone,
        external_id="day-before",
        requested_at=dt.datetime(2026, 11, 26, 23, 59, 59, tzinfo=KST),
    )
    with time_machine.travel(now, tick=False):
        alice.client.force_login(alice.user)
        html = alice.client.get("/results/").content.decode()
        link = re.search(r'href="(\?[^"]+)"[^>]*>어제<', html).group(1).replace("&amp;", "&")
        assert listed(alice, link[1:]) == ["yesterday-first"]


def rate_cell(html: str, send: SendRequest) -> str:
    row = html.split(f'id="send-{send.pk}"')[1].split("</tr>")[0]
    return re.sub(r"<[^>]+>", "", row.split("<td")[-1].split(">", 1)[1]).strip()


def test_the_success_rate_counts_only_final_results(alice):
    sends = {
        "66.6%": ["success", "success", "failure", "sending", "waiting"],
        "100%": ["success"] * 3 + ["cancelled"],
        "0%": ["failure", "sending"],
        "99.9%": ["success"] * 999 + ["failure"],  # rounded down: 100 only without failures
        "—": ["sending", "waiting", "cancelled"],
    }
    made = {
        shown: make_send(alice.organization, sender=alice.phone, outcomes=outcomes)
        for shown, outcomes in sends.items()
    }
    html = alice.client.get("/results/").content.decode()
    assert "<abbr" in html and "성공률" in html
    for shown, send in made.items():
        assert rate_cell(html, send) == shown, shown
        # Against the database: successes over final results.
        success = send.deliveries.filter(status="success").count()
        final = send.deliveries.filter(status__in=["success", "failure"]).count()
        if final:
            assert float(shown.rstrip("%")) == int(success * 1000 / final) / 10
        else:
            assert shown == "—"
    detail = alice.client.get(f"/results/{made['66.6%'].pk}/").content.decode()
    assert "성공률 <strong>66.6%</strong>" in detail


# Sends still moving refresh themselves -------------------------------------------------


def test_a_moving_sends_row_asks_for_itself_and_a_finished_ones_does_not(alice):
    moving = {
        status: make_send(
            alice.organization, sender=alice.phone, status=status, outcomes=["sending"]
        )
        for status in ("in_progress", "sending_now", "cancelling")
    }
    done = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    reserved = make_send(
        alice.organization, sender=alice.phone, status="reserved", outcomes=["waiting"]
    )
    html = alice.client.get("/results/").content.decode()
    for send in moving.values():
        row = html.split(f'<tr id="send-{send.pk}"')[1].split(">")[0]
        assert f'hx-get="/results/{send.pk}/row/"' in row and 'hx-trigger="every 2s"' in row
    for send in (done, reserved):
        row = html.split(f'<tr id="send-{send.pk}"')[1].split(">")[0]
        assert "hx-get" not in row


def test_a_rows_polling_backs_off_while_nothing_changes_and_stops_at_the_end(alice):
    send = make_send(
        alice.organization, sender=alice.phone, status="in_progress", outcomes=["sending"] * 2
    )
    url = f"/results/{send.pk}/row/"

    def look(query: str = "") -> tuple[str, str | None]:
        response = alice.client.get(
            f"{url}?{query}" if query else url, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert html.lstrip().startswith(f'<tr id="send-{send.pk}"') and html.count("<tr") == 1
        found = re.search(r'hx-get="[^"?]+\?([^"]+)" hx-trigger="every (\d+)s"', html)
        return html, (found.group(1).replace("&amp;", "&"), found.group(2)) if found else None

    html, poll = look()
    seconds = []
    for _ in range(5):
        html, poll = look(poll[0])
        seconds.append(poll[1])
    assert seconds == ["5", "10", "30", "30", "30"]
    assert look("seen=x&quiet=99999999999999999999")[1][1] == "2"  # a hand-edited look
    quiet = poll[0].replace("quiet=3", "quiet=%C2%B2")  # "²" is no number of looks
    assert look(quiet)[1][1] == "5"
    # A result arrives: quick again, with the new counts.
    first = send.deliveries.order_by("id").first()
    Delivery.objects.filter(pk=first.pk).update(status="success")
    SendRequest.objects.filter(pk=send.pk).update(success_count=1, sending_count=1)
    html, poll = look(poll[0])
    assert poll[1] == "2" and 'title="성공">성공 1<' in html
    # The last one: 처리완료, and no more polling.
    Delivery.objects.filter(send_request=send).update(status="success")
    SendRequest.objects.filter(pk=send.pk).update(
        success_count=2, sending_count=0, status="completed"
    )
    html, poll = look(poll[0])
    assert poll is None and "hx-get" not in html and "처리완료" in html


def test_a_sends_page_polls_its_status_and_counts_only(alice):
    send = make_send(
        alice.organization,
        sender=alice.phone,
        status="in_progress",
        outcomes=["sending", "failure"],
    )
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    block = html.split('id="send-progress"')[1].split(">")[0]
    assert f'hx-get="/results/{send.pk}/progress/?' in block and "every 2s" in block
    events = AccessEvent.objects.filter(action="send_viewed").count()
    response = alice.client.get(f"/results/{send.pk}/progress/", headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert 'id="send-progress"' in fragment
    assert 'id="send-facts" class="facts" hx-swap-oob="true"' in fragment
    assert 'id="recipient-counts" class="section-head" hx-swap-oob="true"' in fragment
    assert "deliveries" not in fragment and "010" not in fragment  # no recipient in it
    assert AccessEvent.objects.filter(action="send_viewed").count() == events  # not a look
    SendRequest.objects.filter(pk=send.pk).update(status="completed")
    Delivery.objects.filter(send_request=send, status="sending").update(status="success")
    SendRequest.objects.filter(pk=send.pk).update(success_count=1, sending_count=0)
    fragment = alice.client.get(f"/results/{send.pk}/progress/").content.decode()
    assert (
        "hx-get" not in fragment.split('id="send-facts"')[0]
        and "모든 결과가 도착했습니다" in fragment
    )
    assert "성공률 <strong>50%</strong>" in fragment


def test_the_fragments_of_another_organizations_send_are_404(alice, bob):
    theirs = make_send(
        bob.organization, sender=bob.phone, status="in_progress", outcomes=["sending"]
    )
    for path in ("row", "progress"):
        assert alice.client.get(f"/results/{theirs.pk}/{path}/").status_code == 404
    # A member of both, working in alice's: 404 too, never a switch from a fragment.
    MembershipFactory(user=alice.user, organization=bob.organization)
    assert alice.client.get(f"/results/{theirs.pk}/row/").status_code == 404
    assert bob.client.get(f"/results/{theirs.pk}/row/").status_code == 200
    assert bob.client.post(f"/results/{theirs.pk}/row/").status_code == 405


# 실패 번호 내보내기 --------------------------------------------------------------------


def failed_send(account) -> SendRequest:
    send = make_send(
        account.organization,
        sender=account.phone,
        outcomes=["success", "failure", "failure", "failure", "sending"],
        recipients=["01011112222", "01033334444", "01055556666", "01077778888", "01099990000"],
    )
    failures = list(send.deliveries.filter(status="failure").order_by("id"))
    updates = [
        ("3019", "발신번호 미등록", "김민수"),
        ("3006", "수신거부", ""),
        ("3019", "=HYPERLINK(1)", "이영"),
    ]
    for delivery, (code, message, name) in zip(failures, updates, strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(
            result_code=code,
            result_message=message,
            recipient_name=name,
            completed_at=dt.datetime(2026, 11, 20, 10, 0, 5, tzinfo=KST),
        )
    return send


def read_xlsx(response) -> list[tuple]:
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_failed_numbers_masked_by_default_and_recorded(alice):
    send = failed_send(alice)
    html = alice.client.get(f"/results/{send.pk}/").content.decode()
    assert "실패 번호 내보내기" in html and 'name="reason"' in html
    response = alice.client.post(f"/results/{send.pk}/failed/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    rows = read_xlsx(response)
    assert rows[0] == (
        "수신번호",
        "수신자 이름",
        "결과 코드",
        "결과",
        "결과 메시지",
        "최종 채널",
        "완료 일시",
    )
    expected = list(send.deliveries.filter(status="failure").order_by("id"))
    assert len(rows) - 1 == len(expected) == send.failure_count
    assert [row[0] for row in rows[1:]] == ["010-****-4444", "010-****-6666", "010-****-8888"]
    assert [row[1] for row in rows[1:]] == ["김*수", None, "이*"]
    assert rows[1][2:5] == ("3019", "발신번호 미등록", "발신번호 미등록")
    assert rows[2][3] == "수신 거부" and rows[3][4] == "=HYPERLINK(1)"  # text, never a formula
    assert rows[1][6] == dt.datetime(2026, 11, 20, 10, 0, 5)  # Korea time
    event = AccessEvent.objects.get(action="export_downloaded")
    assert (event.object_type, event.object_id, event.user) == ("sendrequest", send.pk, alice.user)
    assert event.detail == {
        "kind": "deliveries",
        "filters": {"outcome": ["failure"]},
        "format": "xlsx",
        "numbers": "masked",
        "rows": 3,
    }


def test_full_failed_numbers_need_a_reason(alice):
    send = failed_send(alice)
    refused = alice.client.post(f"/results/{send.pk}/failed/", {"unmasked": "on"}, follow=True)
    assert refused.redirect_chain[-1][0] == f"/results/{send.pk}/"
    assert "파일을 만들지 못했습니다" in refused.content.decode()
    assert not AccessEvent.objects.filter(action="export_downloaded").exists()
    reason = "재발송 대상 확인"
    response = alice.client.post(
        f"/results/{send.pk}/failed/", {"unmasked": "on", "reason": reason, "file_format": "csv"}
    )
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert [line[0] for line in lines[1:]] == ["010-3333-4444", "010-5555-6666", "010-7777-8888"]
    assert lines[1][1] == "김민수" and lines[3][4] == "'=HYPERLINK(1)"
    event = AccessEvent.objects.get(action="export_downloaded")
    assert event.detail["numbers"] == "revealed" and event.detail["reason"] == reason
    assert event.detail["format"] == "csv"


def test_failed_numbers_of_one_code(alice):
    send = failed_send(alice)
    html = alice.client.get(f"/results/{send.pk}/?code=3019").content.decode()
    assert 'name="code" value="3019"' in html.split("failed-export")[1].split("</form>")[0]
    response = alice.client.post(f"/results/{send.pk}/failed/", {"code": "3019"})
    rows = read_xlsx(response)
    assert [row[2] for row in rows[1:]] == ["3019", "3019"]
    event = AccessEvent.objects.get(action="export_downloaded")
    assert event.detail["filters"] == {"outcome": ["failure"], "code": ["3019"]}
    bad = alice.client.post(f"/results/{send.pk}/failed/", {"code": "30 19"}, follow=True)
    assert "파일을 만들지 못했습니다" in bad.content.decode()


def test_failed_numbers_by_role_and_organization(alice, bob):
    send = failed_send(alice)
    viewer = Client()
    viewer.force_login(
        MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER).user
    )
    html = viewer.get(f"/results/{send.pk}/").content.decode()
    assert "실패 번호 내보내기" not in html  # viewers export nothing, masked or not
    assert viewer.post(f"/results/{send.pk}/failed/").status_code == 403
    operator = Client()
    operator.force_login(MembershipFactory(organization=alice.organization).user)
    assert operator.post(f"/results/{send.pk}/failed/").status_code == 200
    assert bob.client.post(f"/results/{send.pk}/failed/").status_code == 404
    assert alice.client.get(f"/results/{send.pk}/failed/").status_code == 405
    none_failed = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    assert (
        "실패 번호 내보내기" not in alice.client.get(f"/results/{none_failed.pk}/").content.decode()
    )
    assert AccessEvent.objects.filter(action="export_downloaded").count() == 1


# Dates as a Korean operator reads and types them


def test_a_typed_period_shows_and_filters_as_yyyy_mm_dd(alice):
    at = dt.datetime(2026, 11, 20, 14, 5, tzinfo=KST)
    make_send(alice.organization, sender=alice.phone, requested_at=at, external_id="in")
    make_send(alice.organization, sender=alice.phone, requested_at=at - dt.timedelta(days=30))
    # As the Korean date box writes a day, and as a number pad types one.
    response = alice.client.get("/results/?requested_from=2026. 11. 01.&requested_to=20261130")
    assert response.status_code == 200
    assert [send.external_id for send in response.context["page"].rows] == ["in"]
    html = response.content.decode()
    assert 'type="date"' not in html  # Chromium would show "연도. 월. 일."
    assert 'name="requested_from" value="2026-11-01"' in html
    assert 'name="requested_to" value="2026-11-30"' in html
    assert html.count('placeholder="yyyy-mm-dd"') == 2
    assert "시작일: <strong>2026-11-01</strong>" in html
    assert "2026-11-20 14:05" in html


# A number typed in part


def test_a_partial_number_gets_a_hint_and_the_history_by_its_last_four_digits(alice):
    make_send(alice.organization, sender=alice.phone, recipients=["01012345678"])
    # The end of a number: the history by its last four digits finds it.
    html = alice.client.get("/results/?recipient=12345678&requested_from=2026-11-01").content
    html = html.decode()
    assert "“12345678”은(는) 번호 전체가 아닙니다" in html
    assert "끝 4자리(5678)로 찾을 수 있습니다" in html
    link = "/recipients/?number=5678&amp;requested_from=2026-11-01"
    assert f'<a href="{link}">수신번호 이력에서 끝자리가 5678인 번호 찾기</a>' in html
    history = alice.client.get("/recipients/?number=5678&requested_from=2026-11-01")
    assert history.status_code == 200 and "010-****-5678" in history.content.decode()
    # The start of a number, or too short: what is accepted, and no link to a wrong search.
    for start in ("010-1234", "010"):
        page = alice.client.get(f"/results/?recipient={start}").content.decode()
        assert f"“{start}”은(는) 번호 전체가 아닙니다" in page and "끝자리가" not in page
    for whole in ("010-1234-5678", "5678"):  # a whole number, last four digits: no hint
        response = alice.client.get(f"/results/?recipient={whole}")
        assert len(response.context["page"].rows) == 1
        assert "번호 전체가 아닙니다" not in response.content.decode()


# The banner of sends about to be deleted


@pytest.fixture
def expiring(alice, settings):
    """A send the purge deletes within days, and a recent one."""
    old = timezone.now() - dt.timedelta(days=settings.RETENTION_DAYS - 2)
    make_send(alice.organization, sender=alice.phone, requested_at=old, external_id="old")
    make_send(alice.organization, sender=alice.phone, channel="lms", external_id="new")


def test_the_expiring_banner_export_returns_to_the_list_as_it_was(alice, expiring):
    page = alice.client.get("/results/?channel=lms&order=oldest").content.decode()
    assert "일 안에 삭제될 발송" in page
    banner = page[page.index('class="notice warning"') :]
    query = re.search(r'name="query" value="([^"]*)"', banner).group(1)
    back = re.search(r'name="back" value="([^"]*)"', banner).group(1)
    assert query.startswith("requested_to=") and back == "channel=lms&amp;order=oldest"
    data = {"query": query, "back": "channel=lms&order=oldest", "kind": "deliveries"}
    response = alice.client.post("/exports/new/", {**data, "file_format": "xlsx"})
    assert response.status_code == 302
    assert response.url == "/results/?channel=lms&order=oldest"  # not the sends exported
    export = Export.objects.get()
    assert list(export.filters) == ["requested_to"]  # the export is of the expiring sends
    # From the unfiltered list: back to the unfiltered list.
    Export.objects.all().delete()
    response = alice.client.post("/exports/new/", {**data, "back": "", "file_format": "csv"})
    assert response.url == "/results/"


def test_the_expiring_banner_export_through_htmx_leaves_the_page(alice, expiring):
    until = soon_deleted_until(timezone.localdate()).isoformat()
    response = alice.client.post(
        "/exports/new/",
        {"query": f"requested_to={until}", "back": "", "kind": "deliveries", "file_format": "xlsx"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/results/?channel=lms"},
    )
    assert response.status_code == 200  # the banner's place takes the export's notice
    html = response.content.decode()
    assert 'id="export-notice"' in html and "내보낼 파일을 만들고 있습니다" in html
    assert Export.objects.count() == 1
    # Refused through htmx: the list as the address bar has it now, with the message.
    refused = alice.client.post(
        "/exports/new/",
        {"query": "status=bogus", "back": "", "kind": "sends", "file_format": "xlsx"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/results/?channel=lms"},
    )
    assert refused["HX-Redirect"] == "/results/?channel=lms"
