"""Result notifications: a send that reaches its end gets a signed summary posted to the
URL its organization's owner set, through the outbox; none when no URL is set."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from sendon_results.handoff import delivery
from sendon_results.ingest import apply_results, change_status, create_send
from sendon_results.models import OutboxMessage, PlatformEndpoint, SendRequest

from .test_handoff_delivery import (  # noqa: F401 (fixtures)
    Platform,
    endpoint,
    organization,
    platform,
    reserved,
)
from .test_ingest import new_send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_deliveries")]

NOTIFY_PATH = "/hooks/results"


@pytest.fixture
def notifying(endpoint: PlatformEndpoint, platform: Platform) -> PlatformEndpoint:  # noqa: F811
    endpoint.notify_url = f"http://127.0.0.1:{platform.port}{NOTIFY_PATH}"
    endpoint.save()
    return endpoint


def a_send(organization, external_id: str = "N-1") -> None:  # noqa: F811
    """A send of two recipients, R-0 and R-1, recorded as the API records it."""
    create_send(organization=organization, send=new_send(external_id, recipients=2))


def results(external_id: str, outcomes: list[str]) -> list:
    return [
        {
            "send_external_id": external_id,
            "recipient_external_id": f"R-{i}",
            "outcome": outcome,
            "result_code": "1000" if outcome == "success" else "3019",
            "result_message": "",
            "carrier": "SKT",
            "final_channel": "",
            "completed_at": timezone.now(),
            "points_refunded": Decimal("9") if outcome == "failure" else Decimal("0"),
        }
        for i, outcome in enumerate(outcomes)
    ]


def test_a_send_that_ends_is_summed_up_to_the_notification_url(
    organization,  # noqa: F811
    notifying,
    platform,  # noqa: F811
    queued_deliveries,
    django_capture_on_commit_callbacks,
):
    a_send(organization)
    with django_capture_on_commit_callbacks(execute=True):
        apply_results(organization=organization, results=results("N-1", ["success"]))
    assert not OutboxMessage.objects.exists()  # one message still on its way
    with django_capture_on_commit_callbacks(execute=True):
        apply_results(organization=organization, results=results("N-1", ["success", "failure"]))
    [message] = OutboxMessage.objects.all()
    assert queued_deliveries == [message.pk]
    assert message.kind == OutboxMessage.Kind.NOTIFY
    assert message.body["type"] == "send.finished"
    assert message.body["send"]["status"] == "completed"
    assert message.body["send"]["counts"] == {
        "recipients": 2,
        "success": 1,
        "failure": 1,
        "sending": 0,
        "waiting": 0,
        "cancelled": 0,
    }
    assert message.body["send"]["points_refunded"] == "9.00"

    delivery.deliver(message.pk)
    [seen] = platform.requests
    assert seen.path == NOTIFY_PATH  # the notification URL, not the endpoint's
    assert json.loads(seen.body)["send"]["external_id"] == "N-1"
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.ACCEPTED


def test_a_cancelled_reservation_is_notified(reserved, notifying):  # noqa: F811
    change_status(send=reserved, status="cancelled", reason="")
    [message] = OutboxMessage.objects.all()
    assert message.body["send"]["status"] == "cancelled"
    assert message.body["send"]["counts"]["cancelled"] == 2


def test_no_url_no_notification(organization, endpoint):  # noqa: F811
    a_send(organization)
    apply_results(organization=organization, results=results("N-1", ["success", "success"]))
    assert SendRequest.objects.get(external_id="N-1").status == "completed"
    assert not OutboxMessage.objects.exists()


def test_a_send_whose_results_came_first_is_notified_when_recorded(organization, notifying):  # noqa: F811
    apply_results(organization=organization, results=results("N-2", ["success", "failure"]))
    a_send(organization, "N-2")
    [message] = OutboxMessage.objects.all()
    assert message.body["send"]["external_id"] == "N-2"
    assert message.body["send"]["status"] == "completed"
