"""A send and its resends (실패 건 재발송), linked by the platform's `resend_of`: each page
links to the other, and the original says how many of its failed recipients a resend
then reached."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Delivery, SendRequest

SHOWN_RESENDS = 20


@dataclass(frozen=True)
class Resends:
    original: SendRequest | None  # the send this one resends
    resends: list[SendRequest]  # the sends that resend this one, oldest first
    recovered: int  # failed recipients of this send that a resend reached


def linked(send: SendRequest) -> Resends:
    same_organization = SendRequest.objects.filter(organization_id=send.organization_id)
    original = (
        same_organization.filter(external_id=send.resend_of).first() if send.resend_of else None
    )
    every_resend = same_organization.filter(resend_of=send.external_id)
    resends = list(every_resend.order_by("requested_at")[:SHOWN_RESENDS])
    if not resends:
        return Resends(original, resends, 0)
    # All of them shown: no second query for the rest.
    counted = resends if len(resends) < SHOWN_RESENDS else list(every_resend)
    return Resends(original, resends, _recovered(send, counted))


def _recovered(send: SendRequest, resends: list[SendRequest]) -> int:
    """Numbers that failed in the send and succeeded in one of its resends (all of them,
    not only those shown)."""
    failed = Delivery.objects.of_send(send).filter(status=Delivery.Status.FAILURE)
    return (
        Delivery.objects.of_sends(resends)
        .filter(status=Delivery.Status.SUCCESS, recipient__in=failed.values("recipient"))
        .values("recipient")
        .distinct()
        .count()
    )
