"""Asking the platform to act on a send: cancel a reservation, send it now, or resend it
to the recipients who failed.

The console sends no message itself. An action moves the send to its in-between status
(예약 취소중, 즉시 발송중) and writes the request into the outbox in the same transaction;
the deliverer posts it (delivery.py). The platform then confirms what it did through the
ingest API's status endpoint (cancelled; sending_now, which releases the waiting
messages), or refuses, and the send goes back to what it was. A resend leaves the send
as it is: the platform records it as a new send naming this one (`resend_of`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ..ingest.rules import iso_utc, status_after_results
from ..models import Delivery, OutboxMessage, PlatformEndpoint, SendRequest
from ..result_codes import explain
from ..tallies import TallyChanges
from . import notifications

Kind = OutboxMessage.Kind
Status = SendRequest.Status

# What each action asks of which sends, and the status it moves them to meanwhile.
ASKED_OF: dict[str, set[str]] = {Kind.CANCEL: {Status.RESERVED}, Kind.SEND_NOW: {Status.RESERVED}}
MOVES_TO: dict[str, str] = {Kind.CANCEL: Status.CANCELLING, Kind.SEND_NOW: Status.SENDING_NOW}
BODY_TYPES: dict[str, str] = {
    Kind.CANCEL: "reservation.cancel",
    Kind.SEND_NOW: "reservation.send_now",
    Kind.RESEND: "send.resend",
}


class NotNow(Exception):
    """The action cannot be asked for now; the message says why, for the member."""


def may_ask(send: SendRequest, kind: str) -> bool:
    return send.status in ASKED_OF.get(kind, set())


def ask(
    send: SendRequest, kind: str, *, user: User | None, queue: Callable[[int], object]
) -> OutboxMessage:
    """Move the send to the action's in-between status and write the request; `queue`
    is called with the message's id once the transaction has committed. Raises NotNow."""
    if not PlatformEndpoint.objects.filter(organization_id=send.organization_id).exists():
        raise NotNow(_("No sending platform is connected yet: an owner sets it in Settings."))
    with transaction.atomic():
        send = SendRequest.objects.select_for_update().get(
            pk=send.pk, requested_at=send.requested_at
        )
        if send.status == MOVES_TO[kind]:
            raise NotNow(_("This was already asked for; the platform has not answered yet."))
        if not may_ask(send, kind):
            raise NotNow(_("Only a reservation waiting for its time can be cancelled or sent now."))
        message = _written(send, kind, user=user)
        _move(send, MOVES_TO[kind])
        transaction.on_commit(lambda: queue(message.pk))
    return message


# What a resend may be asked of: sends with failed recipients (a failure is final, even
# while the rest of the send is still under way). Reservations and cancelled sends have
# none.
RESENDABLE = {Status.COMPLETED, Status.IN_PROGRESS, Status.FAILED}


def failed_groups(send: SendRequest) -> list[dict[str, Any]]:
    """The send's failures by (result code, channel), most first, each with our
    explanation and whether resending may help (a number that does not exist will not)."""
    rows = (
        Delivery.objects.of_send(send)
        .filter(status=Delivery.Status.FAILURE)
        .values("result_code", "final_channel")
        .annotate(count=Count("id"))
        .order_by("-count", "result_code", "final_channel")
    )
    groups = []
    for row in rows:
        explanation = explain(row["result_code"], row["final_channel"])
        groups.append(
            {
                **row,
                "key": f"{row['result_code']}|{row['final_channel']}",
                "explanation": explanation,
                "worth_it": explanation is None or explanation.group != "permanent",
            }
        )
    return groups


def ask_resend(
    send: SendRequest,
    keys: list[str],
    *,
    user: User | None,
    queue: Callable[[int], object],
) -> OutboxMessage:
    """Ask the platform to send the send again to its failed recipients of the chosen
    (result code|channel) groups; raises NotNow."""
    if not PlatformEndpoint.objects.filter(organization_id=send.organization_id).exists():
        raise NotNow(_("No sending platform is connected yet: an owner sets it in Settings."))
    if send.status not in RESENDABLE or not send.failure_count:
        raise NotNow(_("Only a send with failed recipients can be resent to them."))
    chosen = [key.partition("|") for key in keys]
    if not chosen:
        raise NotNow(_("Choose at least one result code to resend."))
    earlier = OutboxMessage.objects.filter(
        send_id=send.pk,
        kind=Kind.RESEND,
        state__in=[OutboxMessage.State.PENDING, OutboxMessage.State.ACCEPTED],
    )
    with transaction.atomic():
        # The send's row lock makes two clicks at once one request.
        SendRequest.objects.select_for_update().get(pk=send.pk, requested_at=send.requested_at)
        if earlier.filter(state=OutboxMessage.State.PENDING).exists():
            raise NotNow(_("This was already asked for; the platform has not answered yet."))
        which = Q()
        for code, _sep, channel in chosen:
            which |= Q(result_code=code, final_channel=channel)
        failed = list(
            Delivery.objects.of_send(send)
            .filter(which, status=Delivery.Status.FAILURE)
            .order_by("id")
            .values_list("external_id", flat=True)
        )
        if not failed:
            raise NotNow(_("None of the send's failures has these result codes."))
        # Each failed recipient is resent from here once; a resend's own failures are
        # resent from its page.
        resent = {r for body in earlier.values_list("body", flat=True) for r in body["recipients"]}
        recipients = [external_id for external_id in failed if external_id not in resent]
        if not recipients:
            raise NotNow(
                _(
                    "These recipients were resent already: to try again, resend from the "
                    "resend's own page."
                )
            )
        codes = sorted({code for code, _sep, _channel in chosen})
        message = _written(send, Kind.RESEND, user=user, result_codes=codes, recipients=recipients)
        transaction.on_commit(lambda: queue(message.pk))
    return message


def test_message(endpoint: PlatformEndpoint, *, user: User | None) -> OutboxMessage:
    """A request that asks nothing of the platform: to see that it answers and checks
    the signature."""
    message = OutboxMessage(
        organization_id=endpoint.organization_id, kind=Kind.TEST, created_by=user
    )  # no next try: tried while the owner waits (delivery.deliver(waited_for=True))
    message.body = {"id": str(message.key), "type": "test", "created_at": iso_utc(timezone.now())}
    message.save()
    return message


def give_back(message: OutboxMessage) -> None:
    """After a refusal, or when the platform was never reached: the send, if it is still
    where the action left it, returns to the status it had (the caller holds the
    message's transaction)."""
    if message.send_id is None or message.send_requested_at is None:
        return
    if message.kind not in MOVES_TO:
        return
    send = (
        SendRequest.objects.select_for_update()
        .filter(pk=message.send_id, requested_at=message.send_requested_at)
        .first()
    )
    if send is None or send.status != MOVES_TO[message.kind]:
        return
    # Back to the reservation; or, where the platform has sent messages meanwhile (a
    # cancellation refused because the time had come), to what their counts say.
    returned = copy.copy(send)
    returned.status = message.previous_status
    _move(send, status_after_results(returned))
    notifications.finished(send.organization_id, [send])  # results may have ended it


def _written(send: SendRequest, kind: str, *, user: User | None, **asked: object) -> OutboxMessage:
    """The request about the send, saved and due now; `asked` goes into its body."""
    message = OutboxMessage(
        organization_id=send.organization_id,
        kind=kind,
        send_id=send.pk,
        send_requested_at=send.requested_at,
        previous_status=send.status,
        created_by=user,
        next_try_at=timezone.now(),
    )
    message.body = {
        "id": str(message.key),
        "type": BODY_TYPES[kind],
        "created_at": iso_utc(timezone.now()),
        "send": _described(send),
        **asked,
    }
    message.save()
    return message


def _described(send: SendRequest) -> dict[str, object]:
    return {
        "external_id": send.external_id,
        "requested_at": iso_utc(send.requested_at),
        "scheduled_at": iso_utc(send.scheduled_at) if send.scheduled_at else None,
        "recipients": send.recipient_count,
    }


def _move(send: SendRequest, status: str) -> None:
    changes = TallyChanges()
    changes.send(send, -1)
    send.status = status
    send.save(update_fields=["status", "updated_at"])
    changes.send(send)
    changes.save()
