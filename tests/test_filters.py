from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from sendon_results.api.keys import create_key
from sendon_results.phones import normalize_phone
from tests.factories import make_send

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
    ("typed", "digits"),
    [
        ("010-1234-5678", "01012345678"),
        ("010 1234 5678", "01012345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("02-123-4567", "021234567"),
    ],
)
def test_normalize_phone(typed, digits):
    assert normalize_phone(typed) == digits


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
