"""A send still moving, watched in a real browser: as the sending platform reports its
results through the ingest API, its row on the list and its page turn from 진행중 to
처리완료 by themselves, without moving what the member is reading, and then stop asking."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Request, expect

from sendon_results.api.keys import create_key
from sendon_results.models import SendRequest
from tests.conftest import Account
from tests.factories import make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KST = dt.timezone(dt.timedelta(hours=9))
# Long enough for the first looks (every 2 s, then 5 s while nothing changes).
UPDATE_TIMEOUT = 20_000


def api(base_url: str, secret: str, path: str, data: object) -> dict:
    """A call of the sending platform, over HTTP to the live server."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/{path}",
        data=json.dumps(data).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def new_send(external_id: str, recipients: int) -> dict:
    now = timezone.now().astimezone(KST)
    return {
        "external_id": external_id,
        "requested_at": now.isoformat(timespec="seconds"),
        "source": "api",
        "channel": "sms",
        "sender": {"kind": "phone", "value": "02-1234-5678", "label": "대표"},
        "title": "",
        "body": "[실시간] 결과를 기다리는 발송",
        "fallback": False,
        "points_per_message": "9",
        "recipients": [
            {"external_id": f"R-{i}", "phone": f"010-2222-{i:04d}", "name": "수신자"}
            for i in range(recipients)
        ],
    }


def results(external_id: str, outcomes: list[tuple[int, str, str]]) -> dict:
    at = timezone.now().astimezone(KST).isoformat(timespec="seconds")
    return {
        "results": [
            {
                "send_external_id": external_id,
                "recipient_external_id": f"R-{i}",
                "outcome": outcome,
                "completed_at": at,
                "result_code": code,
            }
            for i, outcome, code in outcomes
        ]
    }


def sign_in(page: Page, base_url: str, account: Account) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("아이디").fill(account.user.username)
    page.get_by_label("비밀번호").fill("password-123")
    page.get_by_label("비밀번호").press("Enter")
    expect(page.locator("form[action='/logout/']")).to_have_count(1)
    page.goto(f"{base_url}/results/")


def polls(page: Page, pattern: str) -> list[str]:
    """The URLs of the page's requests matching `pattern`, as they are made."""
    seen: list[str] = []

    def on_request(request: Request) -> None:
        if re.search(pattern, request.url):
            seen.append(request.url)

    page.on("request", on_request)
    return seen


def test_a_send_moves_to_completed_on_the_list_and_its_page(page: Page, live_server):
    alice = Account("실시간상사")
    _, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
    now = timezone.now()
    for i in range(30):  # enough rows to scroll
        make_send(
            alice.organization,
            sender=alice.phone,
            body=f"[안내] 지난 발송 {i}",
            requested_at=now - dt.timedelta(hours=i + 1),
        )
    created = api(live_server.url, secret, "send-requests", new_send("LIVE-1", 3))
    assert created["status"] == "in_progress"
    send = SendRequest.objects.get(organization=alice.organization, external_id="LIVE-1")

    sign_in(page, live_server.url, alice)
    page.set_viewport_size({"width": 1400, "height": 600})
    row = page.locator(f"#send-{send.pk}")
    expect(row.locator(".badge")).to_have_text("진행중")
    row_polls = polls(page, rf"/results/{send.pk}/row/")

    # The member reads further down, a link of another row focused.
    other = SendRequest.objects.filter(organization=alice.organization).exclude(pk=send.pk)
    focused = f"send-link-{other.order_by('-requested_at').first().pk}"
    page.locator(f"#{focused}").focus()
    page.evaluate("window.scrollTo(0, 200)")
    list_marker = page.evaluate(
        "document.querySelector('.results-table tbody').dataset.mark = 'kept'"
    )
    assert list_marker == "kept"

    # Two results come in: the counts move, the send is still in progress.
    api(live_server.url, secret, "results", results("LIVE-1", [(0, "success", "1000")]))
    expect(row.locator(".outcome-numbers")).to_contain_text("성공 1", timeout=UPDATE_TIMEOUT)
    expect(row.locator(".badge")).to_have_text("진행중")
    # The last ones: 처리완료, with its success rate.
    api(
        live_server.url,
        secret,
        "results",
        results("LIVE-1", [(1, "success", "1000"), (2, "failure", "3019")]),
    )
    expect(row.locator(".badge")).to_have_text("처리완료", timeout=UPDATE_TIMEOUT)
    expect(row.locator(".outcome-numbers")).to_contain_text("실패 1")
    expect(row.locator("td").last).to_have_text("66.6%")
    # Only the row was swapped: the list, its scroll and the focus stayed where they were.
    assert page.evaluate("document.querySelector('.results-table tbody').dataset.mark") == "kept"
    assert page.evaluate("window.scrollY") == 200
    assert page.evaluate("document.activeElement.id") == focused
    # And it stopped asking.
    asked = len(row_polls)
    assert asked >= 2
    expect(row).not_to_have_attribute("hx-get", re.compile("."))
    page.wait_for_timeout(6_000)
    assert len(row_polls) == asked

    # The same on a send's page.
    created = api(live_server.url, secret, "send-requests", new_send("LIVE-2", 2))
    second = SendRequest.objects.get(organization=alice.organization, external_id="LIVE-2")
    page.goto(f"{live_server.url}/results/{second.pk}/")
    progress = page.locator("#send-progress")
    expect(progress.locator(".badge")).to_have_text("진행중")
    expect(progress).to_contain_text("자동으로 갱신")
    progress_polls = polls(page, rf"/results/{second.pk}/progress/")
    page.evaluate("document.querySelector('#deliveries').dataset.mark = 'kept'")
    api(
        live_server.url,
        secret,
        "results",
        results("LIVE-2", [(0, "failure", "3006"), (1, "success", "1000")]),
    )
    expect(progress.locator(".badge")).to_have_text("처리완료", timeout=UPDATE_TIMEOUT)
    expect(page.locator("#send-facts")).to_contain_text("처리완료")
    expect(page.locator("#recipient-counts")).to_contain_text("성공률 50%")
    expect(page.locator("#recipient-counts .outcome-numbers")).to_contain_text("실패 1")
    expect(progress).to_contain_text("모든 결과가 도착했습니다")
    # The recipients' table, what the member reads, was left alone.
    assert page.evaluate("document.querySelector('#deliveries').dataset.mark") == "kept"
    asked = len(progress_polls)
    page.wait_for_timeout(6_000)
    assert len(progress_polls) == asked
    page.get_by_role("link", name="수신자 목록 새로 보기").click()
    expect(page.locator("#deliveries")).to_contain_text("수신 거부")
