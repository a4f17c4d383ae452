"""Acting on a send from its page (예약 취소, 즉시 발송) and the owner's settings of the
sending platform: who may, what the pages say, what is recorded."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading

import pytest
from django.test import Client
from django.utils import timezone

from sendon_results.models import (
    AccessEvent,
    Membership,
    OutboxMessage,
    PlatformEndpoint,
    SendRequest,
)

from .factories import MembershipFactory, make_send
from .test_tallies import assert_exact

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_deliveries")]


@pytest.fixture(autouse=True)
def _platform_example_resolves(monkeypatch):
    """platform.example is a public address here (these machines have no DNS)."""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "platform.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def signed_in(account, role: str) -> Client:
    client = Client()
    client.force_login(MembershipFactory(organization=account.organization, role=role).user)
    return client


def reservation(account) -> SendRequest:
    return make_send(
        account.organization,
        outcomes=["waiting"] * 3,
        status="reserved",
        scheduled_at=timezone.now() + dt.timedelta(days=2),
        points_charged=27,
    )


def connected(account) -> PlatformEndpoint:
    return PlatformEndpoint.objects.create(
        organization=account.organization, url="https://platform.example/hooks", secret="whsec_x"
    )


def test_an_operator_cancels_a_reservation_after_seeing_what_it_does(
    alice, queued_deliveries, django_capture_on_commit_callbacks
):
    connected(alice)
    send = reservation(alice)
    operator = signed_in(alice, Membership.Role.OPERATOR)
    page = operator.get(f"/results/{send.pk}/").content.decode()
    assert f'href="/results/{send.pk}/cancel/"' in page
    assert f'href="/results/{send.pk}/send-now/"' in page
    confirm = operator.get(f"/results/{send.pk}/cancel/").content.decode()
    assert "27" in confirm  # the points refunded
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/results/{send.pk}/cancel/")
    assert response.status_code == 302
    send.refresh_from_db()
    assert send.status == SendRequest.Status.CANCELLING
    assert send.waiting_count == 3  # nothing moved until the platform confirms
    [message] = OutboxMessage.objects.all()
    assert (message.kind, message.state, message.previous_status) == (
        "cancel",
        "pending",
        "reserved",
    )
    assert message.body["send"]["external_id"] == send.external_id
    assert queued_deliveries == [message.pk]
    [event] = AccessEvent.objects.filter(action=AccessEvent.Action.SEND_CANCEL_ASKED)
    assert event.object_id == send.pk
    assert_exact()
    after = operator.get(f"/results/{send.pk}/").content.decode()
    assert "예약 취소중" in after and "플랫폼 응답 대기" in after
    assert f'href="/results/{send.pk}/cancel/"' not in after


def test_a_double_click_makes_one_request(alice):
    connected(alice)
    send = reservation(alice)
    alice.client.post(f"/results/{send.pk}/send-now/")
    second = alice.client.post(f"/results/{send.pk}/send-now/", follow=True)
    assert OutboxMessage.objects.count() == 1
    assert "이미 요청" in second.content.decode()
    send.refresh_from_db()
    assert send.status == SendRequest.Status.SENDING_NOW


def test_a_send_in_another_state_is_refused_with_a_reason(alice):
    connected(alice)
    done = make_send(alice.organization, outcomes=["success"])
    page = alice.client.get(f"/results/{done.pk}/cancel/").content.decode()
    assert "예약 대기 중인 발송만" in page
    assert '<form method="post" class="actions">' not in page
    answer = alice.client.post(f"/results/{done.pk}/cancel/", follow=True)
    assert "예약 대기 중인 발송만" in answer.content.decode()
    assert not OutboxMessage.objects.exists()
    done.refresh_from_db()
    assert done.status == SendRequest.Status.COMPLETED


def test_without_a_platform_nothing_moves(alice):
    send = reservation(alice)
    answer = alice.client.post(f"/results/{send.pk}/cancel/", follow=True)
    assert "연결된 발송 플랫폼이 없습니다" in answer.content.decode()
    send.refresh_from_db()
    assert send.status == SendRequest.Status.RESERVED
    assert not OutboxMessage.objects.exists()


def test_a_viewer_is_not_offered_and_may_not(alice):
    connected(alice)
    send = reservation(alice)
    viewer = signed_in(alice, Membership.Role.VIEWER)
    assert "/cancel/" not in viewer.get(f"/results/{send.pk}/").content.decode()
    assert viewer.post(f"/results/{send.pk}/cancel/").status_code == 403
    send.refresh_from_db()
    assert send.status == SendRequest.Status.RESERVED


def test_another_organizations_send_is_not_found(alice, bob):
    connected(alice)
    send = reservation(alice)
    assert bob.client.post(f"/results/{send.pk}/cancel/").status_code == 404
    assert not OutboxMessage.objects.exists()


def test_an_owner_connects_the_platform_and_sees_the_secret_once(alice):
    page = alice.client.get("/settings/platform/")
    assert page.status_code == 200
    # It names every request the console sends there.
    assert "(예약 취소, 즉시 발송, 실패 건 재발송)" in page.content.decode()
    response = alice.client.post(
        "/settings/platform/", {"url": "https://platform.example/console-requests"}
    )
    assert response.status_code == 302
    endpoint = PlatformEndpoint.objects.get(organization=alice.organization)
    assert endpoint.secret.startswith("whsec_")
    shown = alice.client.get("/settings/platform/").content.decode()
    assert endpoint.secret in shown
    assert endpoint.secret not in alice.client.get("/settings/platform/").content.decode()
    assert AccessEvent.objects.filter(action=AccessEvent.Action.PLATFORM_ENDPOINT_SET).exists()
    # Changing the URL keeps the secret.
    alice.client.post("/settings/platform/", {"url": "https://platform.example/v2"})
    changed = PlatformEndpoint.objects.get(organization=alice.organization)
    assert (changed.url, changed.secret) == ("https://platform.example/v2", endpoint.secret)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://platform.example/x", "https://"),
        ("https://127.0.0.1:8443/x", "사설"),
        ("https://10.1.2.3/x", "사설"),
        ("https://user:pw@platform.example/x", "사용자"),
        ("ftp://platform.example/x", "URL"),
    ],
)
def test_unsafe_endpoints_are_refused_with_the_reason(alice, settings, url, problem):
    settings.PLATFORM_ALLOW_HTTP = False
    response = alice.client.post("/settings/platform/", {"url": url})
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not PlatformEndpoint.objects.exists()


def test_the_console_itself_is_refused(alice, settings):
    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = True
    settings.PLATFORM_ALLOW_HTTP = True
    response = alice.client.post(
        "/settings/platform/", {"url": "http://127.0.0.1:8000/hooks"}, HTTP_HOST="127.0.0.1:8000"
    )
    assert "콘솔 자신" in response.content.decode()
    assert not PlatformEndpoint.objects.exists()


def test_a_rotated_secret_still_signs_for_a_day(alice):
    endpoint = connected(alice)
    alice.client.post("/settings/platform/rotate/")
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == "whsec_x"
    assert endpoint.secret.startswith("whsec_") and endpoint.secret != "whsec_x"
    left = endpoint.previous_until - timezone.now()
    assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24)
    page = alice.client.get("/settings/platform/").content.decode()
    assert endpoint.secret in page
    assert "이전 비밀키도" in page
    assert AccessEvent.objects.filter(action=AccessEvent.Action.PLATFORM_SECRET_ROTATED).exists()


def test_the_platforms_answers_are_shown_escaped(alice):
    connected(alice)
    send = reservation(alice)
    OutboxMessage.objects.create(
        organization=alice.organization,
        kind="cancel",
        send_id=send.pk,
        send_requested_at=send.requested_at,
        body={},
        state="refused",
        answer='<script>alert("x")</script>이미 발송됨',
        tries=[{"at": timezone.now().isoformat(), "status": 409, "ms": 12}],
    )
    for url in (f"/results/{send.pk}/", "/settings/platform/"):
        page = alice.client.get(url).content.decode()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;이미 발송됨" in page
        assert '<script>alert("x")' not in page
        assert "HTTP 409" in page


def test_send_a_test_shows_what_the_platform_answered(alice, settings):
    """The owner's test goes to the real platform while they wait: accepted, then
    answered 500, each said on the page; a failed test is not tried again."""
    from .test_handoff_delivery import Platform, accepting, failing

    settings.PLATFORM_ALLOW_HTTP = True
    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = True
    settings.PLATFORM_TIMEOUT_SECONDS = 1
    platform = Platform()
    thread = threading.Thread(target=platform.server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = PlatformEndpoint.objects.create(
            organization=alice.organization, url=platform.url, secret="whsec_test"
        )
        platform.secret = endpoint.secret
        platform.answer = accepting(200)
        page = alice.client.post("/settings/platform/test/", follow=True).content.decode()
        assert "플랫폼이 테스트를 받았습니다 (HTTP 200" in page
        platform.answer = failing(500)
        page = alice.client.post("/settings/platform/test/", follow=True).content.decode()
        assert "테스트가 받아들여지지 않았습니다: HTTP 500 · Internal Server Error" in page
    finally:
        platform.server.shutdown()
    accepted, refused = OutboxMessage.objects.order_by("id")
    assert (accepted.kind, accepted.state) == ("test", "accepted")
    assert (refused.state, refused.next_try_at) == ("gave_up", None)
    assert [seen.body for seen in platform.requests] == [
        json.dumps(accepted.body, ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(refused.body, ensure_ascii=False, separators=(",", ":")).encode(),
    ]


def test_a_second_rotation_waits_for_the_first_to_end(alice):
    """Rotating again within the day would drop a secret the platform may still use."""
    endpoint = connected(alice)
    alice.client.post("/settings/platform/rotate/")
    endpoint.refresh_from_db()
    second = alice.client.post("/settings/platform/rotate/", follow=True).content.decode()
    assert "이전 비밀키를" in second
    assert PlatformEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_a_port_out_of_range_is_a_form_error(alice):
    response = alice.client.post("/settings/platform/", {"url": "https://platform.example:99999/x"})
    assert response.status_code == 200
    assert "포트" in response.content.decode()
