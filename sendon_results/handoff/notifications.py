"""Result notifications (optional, per organization): when a send reaches its end
(처리완료, 처리실패, 예약 취소), a signed summary goes to the URL the owner set, through
the outbox like any request, so the customer's systems need not poll."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..ingest.rules import iso_utc
from ..models import Delivery, OutboxMessage, PlatformEndpoint, SendRequest

FINAL = {SendRequest.Status.COMPLETED, SendRequest.Status.FAILED, SendRequest.Status.CANCELLED}


def finished(organization_id: int, sends: Iterable[SendRequest]) -> None:
    """In the transaction that brought these sends to their end: a notification for
    each, when the organization asked for them; queued once it commits."""
    ended = [send for send in sends if send.status in FINAL]
    if not ended:
        return
    endpoint = (
        PlatformEndpoint.objects.filter(organization_id=organization_id)
        .exclude(notify_url="")
        .first()
    )
    if endpoint is None:
        return
    now = timezone.now()
    messages = []
    for send in ended:
        message = OutboxMessage(
            organization_id=organization_id,
            kind=OutboxMessage.Kind.NOTIFY,
            send_id=send.pk,
            send_requested_at=send.requested_at,
            next_try_at=now,
        )
        message.body = {
            "id": str(message.key),
            "type": "send.finished",
            "created_at": iso_utc(now),
            "send": _summary(send),
        }
        messages.append(message)
    made = OutboxMessage.objects.bulk_create(messages)
    transaction.on_commit(lambda: _queue([message.pk for message in made]))


def _summary(send: SendRequest) -> dict[str, object]:
    return {
        "external_id": send.external_id,
        "requested_at": iso_utc(send.requested_at),
        "status": send.status,
        "counts": {
            "recipients": send.recipient_count,
            **{outcome: getattr(send, f"{outcome}_count") for outcome in Delivery.Status.values},
        },
        "points_charged": f"{send.points_charged:.2f}",
        "points_refunded": f"{send.points_refunded:.2f}",
    }


def _queue(message_ids: list[int]) -> None:
    from .. import tasks  # the workers' module, which imports ingest in its turn

    for message_id in message_ids:
        tasks.queue_outbox_delivery(message_id)
