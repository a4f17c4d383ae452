"""What a confirmation prints, from the database now: the deliveries to its number in its
period, oldest first, and their counts by outcome; the number only masked (the PDF adds it
in full when asked for). Kept on the confirmation with their SHA-256 fingerprint."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..accounts.people import person_name
from ..masking import mask_phone
from ..models import Channel, Confirmation, Delivery, SenderProfile
from ..recipients.history import deliveries_to
from ..result_codes import REQUEST_FAILED, REQUEST_FAILED_EXPLANATION, explain
from ..statements.fonts import printable

# What fits on one page under the heading and above the verification box; beyond, the
# counts still cover every message and the page says how many are not listed.
ROWS_LIMIT = 25
OUTCOMES = tuple(Delivery.Status.values)
# What a message without a result code says, as the pages say it.
UNCODED: dict[str, Promise] = {
    Delivery.Status.SENDING: _("Waiting for the carrier's answer"),
    Delivery.Status.WAITING: _("Waiting for the reserved time"),
    Delivery.Status.CANCELLED: _("Not sent: the reservation was cancelled (refunded in full)"),
}


def collect_figures(confirmation: Confirmation) -> dict[str, Any]:
    """Everything the confirmation prints but the full number, as JSON-ready values."""
    deliveries = deliveries_to(
        confirmation.organization,
        confirmation.recipient,
        confirmation.period_from,
        confirmation.period_to,
        ending=False,
    )
    counts: dict[str, int] = {
        row["status"]: row["n"]
        for row in deliveries.order_by().values("status").annotate(n=Count("id"))
    }
    rows = list(
        deliveries.select_related("send_request__sender").order_by(
            "requested_at", "send_request_id", "id"
        )[:ROWS_LIMIT]
    )
    messages = sum(counts.values())
    return {
        "number": confirmation.number,
        "organization": printable(confirmation.organization.name),
        "recipient": mask_phone(confirmation.recipient),
        "period": [confirmation.period_from.isoformat(), confirmation.period_to.isoformat()],
        "issued_at": timezone.localtime(timezone.now()).strftime("%Y-%m-%d %H:%M"),
        "requested_by": printable(person_name(confirmation.created_by)),
        "total": {"messages": messages, **{o: counts.get(o, 0) for o in OUTCOMES}},
        "rows": [_row(delivery) for delivery in rows],
        "not_listed": messages - len(rows),
    }


def _row(delivery: Delivery) -> dict[str, str]:
    send = delivery.send_request
    sender: SenderProfile = send.sender
    return {
        "requested_at": timezone.localtime(send.requested_at).strftime("%Y-%m-%d %H:%M"),
        "completed_at": (
            timezone.localtime(delivery.completed_at).strftime("%Y-%m-%d %H:%M")
            if delivery.completed_at
            else ""
        ),
        "sender": printable(str(sender)),
        "channel": str(Channel(send.channel).label),
        "final_channel": (
            str(Channel(delivery.final_channel).label)
            if delivery.final_channel != send.channel
            else ""
        ),
        "outcome": delivery.status,
        "result_code": delivery.result_code,
        "result": printable(_explained(delivery)),
    }


def _explained(delivery: Delivery) -> str:
    """The result in words: our explanation of the code, else the platform's own text."""
    if delivery.result_code == REQUEST_FAILED:
        return delivery.result_message or str(REQUEST_FAILED_EXPLANATION.summary)
    if not delivery.result_code and delivery.status in UNCODED:
        return str(UNCODED[delivery.status])
    info = explain(delivery.result_code, delivery.final_channel) if delivery.result_code else None
    return str(info.summary) if info else delivery.result_message
