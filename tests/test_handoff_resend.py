"""실패 건 재발송: an operator chooses which failures to resend, the console hands the
request to the platform, the platform records the resend through the API naming the
original, and both pages link to each other with what the resend reached."""

from __future__ import annotations

import pytest

from sendon_results.models import (
    AccessEvent,
    Delivery,
    Membership,
    OutboxMessage,
    PlatformEndpoint,
    SendRequest,
)

from .factories import MembershipFactory
from .test_api import new_send, platform, post, result  # noqa: F401 (platform: a fixture)
from .test_tallies import assert_exact

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_deliveries")]

AT = "2026-11-20T10:05:00+09:00"


@pytest.fixture
def original(alice, platform) -> SendRequest:  # noqa: F811
    """A send of five: two delivered, two failed with a temporary code (2003, handset
    off), one with a number that does not exist (3001)."""
    PlatformEndpoint.objects.create(
        organization=alice.organization, url="https://platform.example/x", secret="whsec_x"
    )
    assert post(platform, "/api/v1/send-requests", new_send("S-1", 5)).status_code == 201
    outcomes = [("success", "1000"), ("success", "1000"), ("failure", "2003")]
    outcomes += [("failure", "2003"), ("failure", "3001")]
    batch = [
        result(f"R-{i}", outcome, AT, result_code=code, carrier="SKT")
        for i, (outcome, code) in enumerate(outcomes)
    ]
    assert post(platform, "/api/v1/results", {"results": batch}).status_code == 200
    return SendRequest.objects.get(organization=alice.organization, external_id="S-1")


def operator_of(alice):
    client = alice.client.__class__()
    membership = MembershipFactory(organization=alice.organization, role=Membership.Role.OPERATOR)
    client.force_login(membership.user)
    return client


def test_the_page_offers_the_failures_worth_resending(alice, original):
    page = operator_of(alice).get(f"/results/{original.pk}/resend/").content.decode()
    assert 'value="2003|sms" checked' in page
    assert 'value="3001|sms">' in page  # a number that does not exist: not by default
    assert "2명" in page and "1명" in page


def test_an_operator_resends_the_chosen_failures(
    alice, original, queued_deliveries, django_capture_on_commit_callbacks
):
    operator = operator_of(alice)
    detail = operator.get(f"/results/{original.pk}/").content.decode()
    assert f'href="/results/{original.pk}/resend/"' in detail
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/results/{original.pk}/resend/", {"group": ["2003|sms"]})
    assert response.status_code == 302
    [message] = OutboxMessage.objects.all()
    assert message.kind == "resend" and message.state == "pending"
    assert message.body["type"] == "send.resend"
    assert message.body["result_codes"] == ["2003"]
    assert message.body["recipients"] == ["R-2", "R-3"]
    assert message.body["send"]["external_id"] == "S-1"
    assert queued_deliveries == [message.pk]
    original.refresh_from_db()
    assert original.status == SendRequest.Status.COMPLETED  # a resend leaves it as it is
    [event] = AccessEvent.objects.filter(action=AccessEvent.Action.SEND_RESEND_ASKED)
    assert event.detail == {"result_codes": ["2003"], "recipients": 2}
    # A second click while the platform has not answered makes no second request.
    again = operator.post(f"/results/{original.pk}/resend/", {"group": ["2003|sms"]}, follow=True)
    assert "이미 요청" in again.content.decode()
    assert OutboxMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("groups", "problem"),
    [([], "하나 이상"), (["9999|sms"], "해당하는 것이 없습니다"), (["2003|lms"], "해당하는")],
)
def test_a_choice_that_names_no_failure_is_refused(alice, original, groups, problem):
    answer = operator_of(alice).post(
        f"/results/{original.pk}/resend/", {"group": groups}, follow=True
    )
    assert problem in answer.content.decode()
    assert not OutboxMessage.objects.exists()


def test_a_send_without_failures_or_still_reserved_is_not_resent(alice, platform):  # noqa: F811
    PlatformEndpoint.objects.create(
        organization=alice.organization, url="https://platform.example/x", secret="whsec_x"
    )
    post(platform, "/api/v1/send-requests", new_send("S-OK", 1))
    post(platform, "/api/v1/results", {"results": [result("R-0", "success", AT, send="S-OK")]})
    fine = SendRequest.objects.get(external_id="S-OK")
    page = alice.client.get(f"/results/{fine.pk}/").content.decode()
    assert "/resend/" not in page
    answer = alice.client.post(f"/results/{fine.pk}/resend/", {"group": ["1000|sms"]}, follow=True)
    assert "실패한 수신자가 있는 발송만" in answer.content.decode()
    assert not OutboxMessage.objects.exists()


def test_a_viewer_and_another_organization_cannot(alice, bob, original):
    viewer = alice.client.__class__()
    membership = MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER)
    viewer.force_login(membership.user)
    assert "/resend/" not in viewer.get(f"/results/{original.pk}/").content.decode()
    assert (
        viewer.post(f"/results/{original.pk}/resend/", {"group": ["2003|sms"]}).status_code == 403
    )
    assert bob.client.get(f"/results/{original.pk}/resend/").status_code == 404
    assert not OutboxMessage.objects.exists()


def test_the_platform_records_the_resend_and_the_pages_link_both_ways(alice, original, platform):  # noqa: F811
    resend = new_send("S-1-R", 2, resend_of="S-1", requested_at="2026-11-20T11:00:00+09:00")
    resend["recipients"] = [
        {"external_id": "R2-0", "phone": "010-1111-0002", "name": "수신자"},
        {"external_id": "R2-1", "phone": "010-1111-0003", "name": "수신자"},
    ]
    created = post(platform, "/api/v1/send-requests", resend)
    assert created.status_code == 201
    assert created.json()["resend_of"] == "S-1"
    # The same send again is a replay, not a conflict.
    assert post(platform, "/api/v1/send-requests", resend).status_code == 200
    later = "2026-11-20T11:05:00+09:00"
    results = [
        result("R2-0", "success", later, send="S-1-R", result_code="1000"),
        result("R2-1", "failure", later, send="S-1-R", result_code="2003"),
    ]
    assert post(platform, "/api/v1/results", {"results": results}).status_code == 200
    again = SendRequest.objects.get(external_id="S-1-R")
    assert again.resend_of == "S-1"

    page = alice.client.get(f"/results/{original.pk}/").content.decode()
    assert f'href="/results/{again.pk}/"' in page
    # 010-1111-0002 failed in the original and succeeded in the resend; 0003 failed twice.
    assert "실패한 수신자 3명 중 1명이 재발송으로 성공했습니다." in page
    back = alice.client.get(f"/results/{again.pk}/").content.decode()
    assert "재발송 원본:" in back and f'href="/results/{original.pk}/"' in back
    assert Delivery.objects.of_send(again).count() == 2
    assert_exact()


def test_a_resend_of_an_unknown_send_is_refused_naming_the_field(alice, platform):  # noqa: F811
    answer = post(platform, "/api/v1/send-requests", new_send("S-2", 1, resend_of="NOPE"))
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        {"field": "resend_of", "message": "No send with this external_id."}
    ]
    assert not SendRequest.objects.filter(external_id="S-2").exists()
