"""An operator acts on sends in a real browser, through a platform on 127.0.0.1 that
checks the console's signature, accepts, and then reports through the ingest API: a
reservation cancelled (its page moves 예약 접수 → 예약 취소중 → 예약 취소 by itself), and
the failed recipients of a send resent (the new send is linked from the original)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from sendon_results.api.keys import create_key
from sendon_results.handoff import signing
from sendon_results.models import Delivery, Membership, PlatformEndpoint, SendRequest
from tests.conftest import Account
from tests.factories import MembershipFactory, make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough for the page's first looks at itself (every 2 s, then 5 s).
UPDATE_TIMEOUT = 20_000


class Platform:
    """Accepts every correctly signed request, then a moment later reports the
    cancellation through the console's API, as a sending platform would."""

    def __init__(self, console: str, api_key: str, secret: str) -> None:
        self.console, self.api_key, self.secret = console, api_key, secret
        self.received: list[dict] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = signing.verify(self.headers[signing.HEADER], body, platform.secret)
                self.send_response(202 if signed else 401)
                self.end_headers()
                if signed:
                    request = json.loads(body)
                    platform.received.append(request)
                    threading.Thread(target=platform.confirm, args=(request,)).start()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/console-requests"

    def confirm(self, request: dict) -> None:
        time.sleep(1.5)  # long enough to see 예약 취소중
        external_id = request["send"]["external_id"]
        if request["type"] == "reservation.cancel":
            self.call(f"send-requests/{external_id}/status", {"status": "cancelled"})
        elif request["type"] == "send.resend":
            # The same message again, as a new send naming the original, to the failed
            # recipients it lists; this time one of them gets it.
            resend = sms(f"{external_id}-R", [PHONES[r] for r in request["recipients"]])
            self.call("send-requests", {**resend, "resend_of": external_id})
            at = timezone.now().isoformat()
            self.call(
                "results",
                {
                    "results": [
                        {
                            "send_external_id": f"{external_id}-R",
                            "recipient_external_id": "R-0",
                            "outcome": "success",
                            "result_code": "1000",
                            "completed_at": at,
                        }
                    ]
                },
            )

    def call(self, path: str, data: dict) -> None:
        call = urllib.request.Request(
            f"{self.console}/api/v1/{path}",
            data=json.dumps(data).encode(),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        urllib.request.urlopen(call, timeout=10).close()


# The original send's recipients, by their external_id.
PHONES = {f"R-{i}": f"010-3333-{i:04d}" for i in range(4)}


def sms(external_id: str, phones: list[str]) -> dict:
    return {
        "external_id": external_id,
        "requested_at": (timezone.now() - dt.timedelta(minutes=1)).isoformat(),
        "source": "api",
        "channel": "sms",
        "sender": {"kind": "phone", "value": "02-1234-5678", "label": "대표"},
        "body": "[배송] 오늘 도착 예정입니다",
        "points_per_message": "9",
        "recipients": [
            {"external_id": f"R-{i}", "phone": phone, "name": ""} for i, phone in enumerate(phones)
        ],
    }


def sign_in_as_operator(page: Page, base_url: str, alice: Account) -> None:
    operator = MembershipFactory(organization=alice.organization, role=Membership.Role.OPERATOR)
    operator.user.set_password("password-123")
    operator.user.save()
    page.goto(f"{base_url}/login/")
    page.get_by_label("아이디").fill(operator.user.username)
    page.get_by_label("비밀번호").fill("password-123")
    page.get_by_role("button", name="로그인").click()


@pytest.fixture
def platform(live_server, settings) -> Iterator[tuple[Account, Platform]]:
    settings.PLATFORM_ALLOW_HTTP = True
    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = True
    alice = Account("예약상사")
    _, api_key = create_key(organization=alice.organization, name="플랫폼", user=alice.user)
    secret = signing.new_secret()
    fake = Platform(live_server.url, api_key, secret)
    PlatformEndpoint.objects.create(organization=alice.organization, url=fake.url, secret=secret)
    yield alice, fake
    fake.server.shutdown()


def test_an_operator_cancels_a_reservation_and_watches_it_confirmed(
    page: Page, live_server, platform
):
    alice, fake = platform
    send = make_send(
        alice.organization,
        outcomes=["waiting"] * 4,
        status="reserved",
        body="[예약] 12월 정기 안내",
        scheduled_at=timezone.now() + dt.timedelta(days=1),
        points_charged=36,
    )
    sign_in_as_operator(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/{send.pk}/")
    badge = page.locator("#send-progress .badge")
    expect(badge).to_have_text("예약 접수")

    page.get_by_role("link", name="예약 취소").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("이 예약을 취소할까요?")
    expect(page.locator(".action-confirm")).to_contain_text("36포인트는 환급")
    page.get_by_role("button", name="예약 취소").click()

    expect(page.get_by_text("발송 플랫폼에 요청했습니다")).to_be_visible()
    expect(badge).to_have_text("예약 취소중")
    expect(badge).to_have_text("예약 취소", timeout=UPDATE_TIMEOUT)

    [request] = fake.received
    assert request["type"] == "reservation.cancel"
    assert request["send"]["external_id"] == send.external_id
    send.refresh_from_db()
    assert send.status == SendRequest.Status.CANCELLED
    assert send.cancelled_count == 4
    statuses = set(Delivery.objects.of_send(send).values_list("status", flat=True))
    assert statuses == {Delivery.Status.CANCELLED}
    page.reload()
    expect(page.locator(".platform-requests")).to_contain_text("플랫폼 접수")
    expect(page.locator(".platform-requests")).to_contain_text("HTTP 202")


def test_an_operator_resends_to_the_failed_and_follows_the_link(page: Page, live_server, platform):
    alice, fake = platform
    fake.call("send-requests", sms("S-9", list(PHONES.values())))
    at = timezone.now().isoformat()
    outcomes = [("success", "1000"), ("failure", "2003"), ("failure", "2003"), ("failure", "3001")]
    fake.call(
        "results",
        {
            "results": [
                {
                    "send_external_id": "S-9",
                    "recipient_external_id": f"R-{i}",
                    "outcome": outcome,
                    "result_code": code,
                    "carrier": "KT",
                    "completed_at": at,
                }
                for i, (outcome, code) in enumerate(outcomes)
            ]
        },
    )
    original = SendRequest.objects.get(organization=alice.organization, external_id="S-9")
    sign_in_as_operator(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/{original.pk}/")
    page.get_by_role("link", name="실패 건 재발송").click()
    temporary = page.get_by_role("checkbox", name=re.compile("2003"))
    missing = page.get_by_role("checkbox", name=re.compile("3001"))
    expect(temporary).to_be_checked()
    expect(missing).not_to_be_checked()  # a number that does not exist: not worth it
    page.get_by_role("button", name="재발송").click()
    expect(page.get_by_text("발송 플랫폼에 요청했습니다")).to_be_visible()

    # The platform records the resend a moment later, then its result (two calls); the
    # original's page then links it and counts the recovered.
    deadline = time.monotonic() + 15
    while not SendRequest.objects.filter(resend_of="S-9", success_count=1).exists():
        assert time.monotonic() < deadline, "the platform never recorded the resend's result"
        time.sleep(0.2)
    [request] = fake.received
    assert request["type"] == "send.resend"
    assert request["recipients"] == ["R-1", "R-2"]
    page.reload()
    expect(page.locator(".recovered")).to_have_text(
        "실패한 수신자 3명 중 1명이 재발송으로 성공했습니다."
    )
    page.locator(".resend-list a").first.click()
    expect(page.locator(".resend-link")).to_contain_text("재발송 원본:")
    expect(page.locator("#send-facts")).to_contain_text("S-9-R")
