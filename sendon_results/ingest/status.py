"""The moves of a send's status that the platform reports: a reservation released,
cancelled, or a request that failed as a whole; its deliveries and counts move with it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from ..handoff import notifications
from ..models import Delivery, SendRequest
from ..result_codes import REQUEST_FAILED
from ..tallies import TallyChanges
from .errors import Conflict
from .rules import TRANSITIONS


def change_status(*, send: SendRequest, status: str, reason: str) -> SendRequest:
    """A reservation move or a request-level failure; raises Conflict when it cannot
    happen now. Moving to the status the send has is a replay and changes nothing.

    Released now (sending_now), a reservation's waiting messages go to the carriers;
    cancelled, they are never sent and refunded; a failed request's unsent messages (those
    waiting, and those no carrier has answered for) fail with its reason as their result,
    refunded too. Messages a carrier has taken wait for its answer.
    """
    with transaction.atomic():
        send = SendRequest.objects.select_for_update().get(pk=send.pk)
        # Asked for from the console (handoff/actions.py), a release is 즉시 발송중 with its
        # messages still waiting: the platform's sending_now confirms it and sends them.
        confirmed = status == send.status == SendRequest.Status.SENDING_NOW and send.waiting_count
        if status == send.status and not confirmed:
            return send  # a replay
        if not confirmed and status not in TRANSITIONS.get(send.status, set()):
            raise Conflict(
                [
                    {
                        "field": "status",
                        "message": f"Cannot move from {send.status} to {status}.",
                        "current_status": send.status,
                    }
                ]
            )
        # Taken away as it was and counted again as it becomes: a status move changes
        # few deliveries, but with UPDATE, so they are read grouped before and after.
        changes = TallyChanges()
        changes.send(send, -1)
        changes.deliveries_of(send, -1)
        Outcome = Delivery.Status
        deliveries = Delivery.objects.of_send(send)
        waiting = deliveries.filter(status=Outcome.WAITING)
        if status == SendRequest.Status.SENDING_NOW:
            _move_deliveries(send, waiting, Outcome.SENDING)
        elif status == SendRequest.Status.CANCELLED:
            _move_deliveries(send, waiting, Outcome.CANCELLED, refund=True)
        elif status == SendRequest.Status.FAILED:
            unanswered = Q(status=Outcome.SENDING, carrier="", completed_at__isnull=True)
            _move_deliveries(
                send,
                deliveries.filter(Q(status=Outcome.WAITING) | unanswered),
                Outcome.FAILURE,
                refund=True,
                result_code=REQUEST_FAILED,
                result_message=reason[:300],
                completed_at=timezone.now(),
            )
        send.status = status
        send.failure_reason = reason[:500] if status == SendRequest.Status.FAILED else ""
        send.save()
        changes.send(send)
        changes.deliveries_of(send)
        changes.save()
        notifications.finished(send.organization_id, [send])
    return send


def _move_deliveries(
    send: SendRequest,
    moving: QuerySet[Delivery],
    target: str,
    *,
    refund: bool = False,
    **fields: Any,
) -> None:
    """Move these deliveries of the send to `target`, and its counts with them."""
    if refund:
        owed = moving.aggregate(owed=Sum(F("points_charged") - F("points_refunded")))["owed"]
        send.points_refunded += owed or 0
        fields["points_refunded"] = F("points_charged")
    for source, count in _count_by_status(moving).items():
        setattr(send, f"{source}_count", getattr(send, f"{source}_count") - count)
        setattr(send, f"{target}_count", getattr(send, f"{target}_count") + count)
    moving.update(status=target, **fields)


def _count_by_status(deliveries: QuerySet[Delivery]) -> dict[str, int]:
    rows = deliveries.order_by().values_list("status").annotate(n=Count("id"))
    return dict(rows)
