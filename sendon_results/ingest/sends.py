"""Recording a send: the send and its deliveries, once, and the results that came first.

Posting the same send again (the same content, however it is written) is a replay and
changes nothing; other content under the same external_id is a conflict.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import partitions
from ..handoff import notifications
from ..models import Delivery, Organization, PendingResult, SenderProfile, SendRequest
from ..tallies import TallyChanges
from .errors import Conflict, Invalid
from .payloads import EarlySummary, NewSend
from .results import apply_to_send, revive, take_turns
from .rules import content_hash, posted_hash


def create_send(
    *, organization: Organization, send: NewSend
) -> tuple[SendRequest, bool, EarlySummary]:
    """The send and its deliveries, and any results that came first; returns (send,
    created, what became of the early results). Raises Conflict when the organization has
    another send under this external_id."""
    if (original := send.get("resend_of")) and not SendRequest.objects.filter(
        organization=organization, external_id=original
    ).exists():
        raise Invalid([{"field": "resend_of", "message": "No send with this external_id."}])
    digest = content_hash(send)
    # Before the send's own lock: a month not made yet (beat down for months) is made
    # here, which locks both tables' parents until the call's transaction ends.
    partitions.ensure_month(send["requested_at"])
    take_turns(organization=organization, external_ids=[send["external_id"]])
    existing = SendRequest.objects.filter(
        organization=organization, external_id=send["external_id"]
    ).first()
    if existing is None:
        try:
            with transaction.atomic():
                row, early = _insert_send(organization, send, digest)
                return row, True, early
        except IntegrityError:  # the same send, posted at the same moment by a retry
            existing = SendRequest.objects.get(
                organization=organization, external_id=send["external_id"]
            )
    # Sends stored before instants were hashed in UTC carry the hash of the form posted.
    if existing.content_hash not in (digest, posted_hash(send)):
        raise Conflict(
            [
                {
                    "field": "external_id",
                    "message": "A send with this external_id exists with other content.",
                }
            ]
        )
    return existing, False, {"applied": 0, "unchanged": 0, "dropped": 0}


def _insert_send(
    organization: Organization, send: NewSend, digest: str
) -> tuple[SendRequest, EarlySummary]:
    sender, _ = SenderProfile.objects.get_or_create(
        organization=organization,
        kind=send["sender"]["kind"],
        value=send["sender"]["value"],
        defaults={"label": send["sender"]["label"]},
    )
    count = len(send["recipients"])
    scheduled = send["scheduled_at"]
    # A reservation's messages wait for their time; the others are with the carriers.
    reserved = scheduled is not None and scheduled > timezone.now()
    outcome = Delivery.Status.WAITING if reserved else Delivery.Status.SENDING
    row = SendRequest.objects.create(
        organization=organization,
        external_id=send["external_id"],
        requested_at=send["requested_at"],
        source=send["source"],
        channel=send["channel"],
        sender=sender,
        title=send["title"],
        body=send["body"],
        scheduled_at=scheduled,
        fallback=send["fallback"],
        status=SendRequest.Status.RESERVED if reserved else SendRequest.Status.IN_PROGRESS,
        points_charged=send["points_per_message"] * count,
        recipient_count=count,
        **{f"{outcome}_count": count},
        content_hash=digest,
        resend_of=send.get("resend_of", ""),
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                send_request=row,
                organization=organization,
                external_id=r["external_id"],
                recipient=r["phone"],
                recipient_name=r["name"],
                status=outcome,
                final_channel=send["channel"],
                points_charged=send["points_per_message"],
            )
            for r in send["recipients"]
        ],
        batch_size=2_000,
    )
    waiting = PendingResult.objects.filter(
        organization=organization, send_external_id=send["external_id"]
    )
    early = [
        (index, revive(pending.result)) for index, pending in enumerate(waiting.order_by("id"))
    ]
    changes = TallyChanges()
    changes.send(row)
    for delivery in deliveries:
        changes.delivery(row, delivery)
    summary: EarlySummary = {"applied": 0, "unchanged": 0, "dropped": 0}
    if early:
        # Results that fit no recipient of the send as it came (or break its rules) are
        # dropped and counted: they must not keep the send from being recorded.
        summary = apply_to_send(send=row, items=early, changes=changes, drop_invalid=True)
        waiting.delete()
    changes.save()
    notifications.finished(organization.pk, [row])  # its early results may have ended it
    return row, summary
