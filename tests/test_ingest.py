"""The ingest state machine, called directly: sends recorded once, results applied in any
order exactly once, the status moves of reservations and failed requests, and the counts
that follow. What the API makes of it (statuses, JSON) is tests/test_api.py's."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import cast

import pytest
import time_machine
from django.db import connection

from sendon_results.ingest import (
    Conflict,
    Invalid,
    NewResult,
    NewSend,
    TooManyWaiting,
    UnknownRecipient,
    apply_results,
    change_status,
    create_send,
)
from sendon_results.ingest.results import save_results
from sendon_results.ingest.rules import RESULT_FIELDS, content_hash, posted_hash
from sendon_results.models import Delivery, Organization, PendingResult, SendRequest
from tests.factories import make_send

NOW = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
KST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture(autouse=True)
def _in_that_week():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def organization(alice) -> Organization:
    return alice.organization


def at(hour: int, minute: int, second: int = 0, day: int = 20) -> dt.datetime:
    """A moment of November 2026, Korea time."""
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=KST)


def new_send(external_id: str = "S-1", recipients: int = 3, **fields: object) -> NewSend:
    """A send as validation hands it over: numbers as digits, amounts with two decimals."""
    send = {
        "external_id": external_id,
        "requested_at": at(10, 0),
        "source": "api",
        "channel": "sms",
        "title": "",
        "body": "[API] 안내 메시지",
        "scheduled_at": None,
        "points_per_message": Decimal("9.00"),
        "fallback": False,
        "sender": {"kind": "phone", "value": "0212345678", "label": "대표"},
        "recipients": [
            {"external_id": f"R-{i}", "phone": f"0101111{i:04d}", "name": "수신자"}
            for i in range(recipients)
        ],
        **fields,
    }
    return cast(NewSend, send)


def result(
    recipient: str, outcome: str, completed_at: dt.datetime, send: str = "S-1", **fields: object
) -> NewResult:
    item = {
        "send_external_id": send,
        "recipient_external_id": recipient,
        "outcome": outcome,
        "result_code": "",
        "result_message": "",
        "carrier": "",
        "final_channel": "",
        "completed_at": completed_at,
        "points_refunded": Decimal("0.00"),
        **fields,
    }
    return cast(NewResult, item)


def counts(send: SendRequest) -> dict[str, int]:
    send.refresh_from_db()
    outcomes = Delivery.Status.values
    return {o: getattr(send, f"{o}_count") for o in outcomes if getattr(send, f"{o}_count")}


def test_a_replay_changes_nothing_and_other_content_is_a_conflict(organization):
    send, created, _ = create_send(organization=organization, send=new_send())
    assert created and send.status == "in_progress"
    again, created, early = create_send(organization=organization, send=new_send())
    assert (again.pk, created, early) == (
        send.pk,
        False,
        {"applied": 0, "unchanged": 0, "dropped": 0},
    )
    with pytest.raises(Conflict) as refused:
        create_send(organization=organization, send=new_send(body="다른 본문"))
    assert refused.value.errors[0]["field"] == "external_id"
    batch = [result("R-0", "failure", at(10, 0, 5), points_refunded=Decimal("9.00"))]
    assert apply_results(organization=organization, results=batch)["applied"] == 1
    assert apply_results(organization=organization, results=batch) == {
        "applied": 0,
        "unchanged": 1,
        "pending": 0,
    }
    send.refresh_from_db()
    assert (send.failure_count, send.sending_count, send.points_refunded) == (1, 2, 9)
    assert SendRequest.objects.count() == 1 and Delivery.objects.count() == 3


def test_the_same_instant_at_another_offset_is_the_same_send(organization):
    assert content_hash(new_send()) == content_hash(
        new_send(requested_at=dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC))
    )
    assert content_hash(new_send()) != content_hash(new_send(requested_at=at(10, 0, 1)))


def test_a_send_stored_with_the_hash_of_its_posted_form_is_still_a_replay(organization):
    send, _, _ = create_send(organization=organization, send=new_send())
    # Sends stored before instants were hashed in UTC carry the hash of the form posted.
    SendRequest.objects.filter(pk=send.pk).update(content_hash=posted_hash(new_send()))
    _, created, _ = create_send(organization=organization, send=new_send())
    assert not created
    with pytest.raises(Conflict):
        create_send(organization=organization, send=new_send(requested_at=at(10, 0, 1)))


def test_results_before_their_send_are_applied_when_it_comes(organization):
    early = [result("R-1", "success", at(10, 0, 5))]
    summary = apply_results(organization=organization, results=early)
    assert summary == {"applied": 0, "unchanged": 0, "pending": 1}
    assert PendingResult.objects.count() == 1
    send, _, applied = create_send(organization=organization, send=new_send())
    assert applied == {"applied": 1, "unchanged": 0, "dropped": 0}
    assert (send.success_count, send.sending_count) == (1, 2)
    assert Delivery.objects.get(external_id="R-1").completed_at == at(10, 0, 5)
    assert not PendingResult.objects.exists()


def test_an_early_result_for_no_recipient_is_dropped_and_counted(organization):
    early = [
        result("R-0", "success", at(10, 0, 5)),
        result("R-7", "success", at(10, 0, 5)),
        result("R-1", "failure", at(10, 0, 5), points_refunded=Decimal("99.00")),
    ]
    assert apply_results(organization=organization, results=early)["pending"] == 3
    send, created, summary = create_send(organization=organization, send=new_send())
    assert created and summary == {"applied": 1, "unchanged": 0, "dropped": 2}
    assert counts(send) == {"success": 1, "sending": 2}
    assert not PendingResult.objects.exists()
    # Later results of the send are accepted as usual.
    later = [result("R-1", "success", at(10, 0, 9))]
    assert apply_results(organization=organization, results=later)["applied"] == 1


def test_an_older_or_unfinished_result_never_overwrites_a_final_one(organization):
    create_send(organization=organization, send=new_send(recipients=1))
    final = result("R-0", "failure", at(10, 5), result_code="3019")
    older = result("R-0", "success", at(10, 1), result_code="1000")
    still = result("R-0", "sending", at(10, 9))
    assert apply_results(organization=organization, results=[final])["applied"] == 1
    assert apply_results(organization=organization, results=[older, still])["unchanged"] == 2
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.result_code) == ("failure", "3019")
    # Out of order inside one batch: the newer final outcome wins.
    create_send(organization=organization, send=new_send("S-2", recipients=1))
    batch = [
        result("R-0", "success", at(10, 7), send="S-2"),
        result("R-0", "sending", at(10, 6), send="S-2"),
    ]
    apply_results(organization=organization, results=batch)
    send = SendRequest.objects.get(external_id="S-2")
    assert (send.success_count, send.sending_count, send.status) == (1, 0, "completed")


def test_a_later_sending_result_moves_a_sending_message_on(organization):
    create_send(organization=organization, send=new_send(recipients=1))
    first = result("R-0", "sending", at(10, 1), carrier="KT")
    earlier = result("R-0", "sending", at(10, 0, 30), carrier="SKT")
    later = result("R-0", "sending", at(10, 2), carrier="LGU+")
    assert apply_results(organization=organization, results=[first])["applied"] == 1
    assert apply_results(organization=organization, results=[earlier])["unchanged"] == 1
    assert apply_results(organization=organization, results=[later])["applied"] == 1
    assert Delivery.objects.get().carrier == "LGU+"


def test_a_final_outcome_of_unknown_time_takes_a_result_that_has_one(organization):
    """Sends the API recorded always know when an outcome came; one recorded otherwise (the
    console's own data) may not, and a result for it is not a 500."""
    send = make_send(
        organization, outcomes=["success", "failure"], external_id="W-1", requested_at=at(10, 0)
    )
    changed = result("W-1-0", "failure", at(10, 0, 5), send="W-1", result_code="3019")
    assert apply_results(organization=organization, results=[changed])["applied"] == 1
    assert counts(send) == {"failure": 2}


def test_a_reservation_waits_and_a_cancelled_one_was_never_sent(organization):
    send, _, _ = create_send(
        organization=organization, send=new_send(scheduled_at=at(9, 0, day=30))
    )
    assert send.status == "reserved" and counts(send) == {"waiting": 3}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"waiting"}
    moved = change_status(send=send, status="cancelling", reason="")
    assert moved.status == "cancelling"
    cancelled = change_status(send=send, status="cancelled", reason="")
    assert cancelled.status == "cancelled" and counts(cancelled) == {"cancelled": 3}
    assert cancelled.points_refunded == cancelled.points_charged == Decimal("27.00")
    for delivery in Delivery.objects.all():
        assert (delivery.status, delivery.carrier, delivery.completed_at) == ("cancelled", "", None)
        assert delivery.points_refunded == delivery.points_charged
    assert change_status(send=send, status="cancelled", reason="").status == "cancelled"  # replay
    with pytest.raises(Conflict) as refused:
        change_status(send=send, status="sending_now", reason="")
    assert refused.value.errors == [
        {
            "field": "status",
            "message": "Cannot move from cancelled to sending_now.",
            "current_status": "cancelled",
        }
    ]
    # A late carrier answer for a message never sent changes nothing.
    late = [result("R-0", "success", at(10, 0, day=21))]
    assert apply_results(organization=organization, results=late)["unchanged"] == 1


def test_sending_now_hands_waiting_messages_to_the_carriers(organization):
    send, _, _ = create_send(
        organization=organization, send=new_send(scheduled_at=at(9, 0, day=30))
    )
    released = change_status(send=send, status="sending_now", reason="")
    assert released.status == "sending_now" and counts(released) == {"sending": 3}
    results = [result(f"R-{i}", "success", at(12, 0, day=21)) for i in range(3)]
    apply_results(organization=organization, results=results)
    assert SendRequest.objects.get().status == "completed"


def test_a_failed_request_gives_its_reason_to_every_unsent_message(organization):
    send, _, _ = create_send(organization=organization, send=new_send(recipients=4))
    answered = [
        result("R-0", "success", at(10, 0, 5)),
        result("R-3", "sending", at(10, 0, 5), carrier="KT"),
    ]
    apply_results(organization=organization, results=answered)
    reason = "발신번호 인증이 만료되었습니다."
    failed = change_status(send=send, status="failed", reason=reason)
    assert failed.status == "failed" and failed.failure_reason == reason
    # R-3 is with a carrier: it waits for the carrier's answer, not the request's.
    assert counts(failed) == {"success": 1, "failure": 2, "sending": 1}
    stopped = Delivery.objects.filter(status="failure")
    assert {(d.result_code, d.result_message, d.carrier) for d in stopped} == {
        ("REQUEST", reason, "")
    }
    assert all(d.completed_at and d.points_refunded == d.points_charged for d in stopped)
    assert failed.points_refunded == Decimal("18.00")


def test_a_result_that_cannot_apply_refuses_the_whole_batch(organization):
    create_send(organization=organization, send=new_send())
    ok = result("R-0", "success", at(10, 0, 5))
    unknown = result("R-9", "success", at(10, 0, 5))
    with pytest.raises(UnknownRecipient) as refused:
        apply_results(organization=organization, results=[ok, unknown])
    assert refused.value.errors[0]["field"] == "results[1].recipient_external_id"
    too_much = result("R-1", "failure", at(10, 0, 5), points_refunded=Decimal("9.01"))
    before = result("R-2", "success", at(9, 59, 59, day=19))
    # A rule broken besides an unknown recipient: the errors of both, as invalid input.
    with pytest.raises(Invalid) as refused:
        apply_results(organization=organization, results=[unknown, too_much, before])
    assert [error["field"] for error in refused.value.errors] == [
        "results[0].recipient_external_id",
        "results[1].points_refunded",
        "results[2].completed_at",
    ]
    send = SendRequest.objects.get()
    assert (send.sending_count, send.points_refunded) == (3, 0)
    assert Delivery.objects.filter(status="sending").count() == 3


def test_results_waiting_for_sends_are_limited(organization, settings):
    settings.PENDING_RESULT_LIMIT = 2
    early = [result(f"R-{i}", "success", at(10, 0, 5), send="S-9") for i in range(2)]
    assert apply_results(organization=organization, results=early)["pending"] == 2
    more = [result("R-5", "success", at(10, 0, 5), send="S-8")]
    with pytest.raises(TooManyWaiting) as refused:
        apply_results(organization=organization, results=more)
    assert refused.value.errors[0]["field"] == "results"
    assert PendingResult.objects.count() == 2


def test_another_organizations_results_wait_for_a_send_of_their_own(organization, bob):
    create_send(organization=organization, send=new_send())
    other = apply_results(
        organization=bob.organization, results=[result("R-0", "success", at(10, 0, 5))]
    )
    assert other == {"applied": 0, "unchanged": 0, "pending": 1}
    assert SendRequest.objects.get(external_id="S-1").success_count == 0


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_from_threads_keep_counts_right(alice):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: runs in the PostgreSQL pass of .ci/run")
    organization = alice.organization
    create_send(organization=organization, send=new_send(recipients=200))
    outcomes = ["success", "failure"]

    def worker(offset: int) -> None:
        batch = [
            result(f"R-{i}", outcomes[(i + offset) % 2], at(10, i % 60, offset)) for i in range(200)
        ]
        apply_results(organization=organization, results=batch)
        connection.close()

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send = SendRequest.objects.get()
    counted = {
        o: Delivery.objects.filter(status=o).count() for o in ("success", "failure", "sending")
    }
    assert (send.success_count, send.failure_count, send.sending_count) == (
        counted["success"],
        counted["failure"],
        counted["sending"],
    )
    assert counted["sending"] == 0 and send.status == "completed"


def test_results_are_stored_as_they_came(organization):
    """Texts the way save_results writes them (PostgreSQL: arrays in their text form)
    come back unchanged, through a whole batch."""
    create_send(organization=organization, send=new_send(recipients=3))
    texts = ['"quoted", {braced}', 'back\\slash \\" NULL', "NULL"]
    batch = [
        result(f"R-{i}", "failure", at(10, 0, 5 + i), result_message=text, carrier=f" {text} "[:20])
        for i, text in enumerate(texts)
    ]
    assert apply_results(organization=organization, results=batch)["applied"] == 3
    stored = Delivery.objects.order_by("external_id").values_list(
        "result_message", "carrier", "completed_at"
    )
    assert list(stored) == [
        (text, f" {text} "[:20], at(10, 0, 5 + i)) for i, text in enumerate(texts)
    ]


def test_the_sql_that_saves_results_writes_what_bulk_update_writes(organization):
    """save_results' UPDATE … FROM unnest (PostgreSQL) against Django's bulk_update, on
    two sends given the same results."""
    if connection.vendor != "postgresql":
        pytest.skip("the SQL twin runs on PostgreSQL only")
    rows = {}
    for name in ("sql", "django"):
        send, _, _ = create_send(organization=organization, send=new_send(name, recipients=3))
        deliveries = list(send.deliveries.order_by("external_id"))
        for delivery, (outcome, code, channel, carrier, refunded) in zip(
            deliveries,
            [
                ("success", "1000", "sms", "SKT", "0.00"),
                ("failure", "3019", "lms", "KT", "9.00"),
                ("sending", "", "sms", "LGU+", "0.00"),
            ],
            strict=True,
        ):
            delivery.status, delivery.result_code, delivery.final_channel = outcome, code, channel
            delivery.carrier, delivery.points_refunded = carrier, Decimal(refunded)
            # What the text form of an array holds specially, as text.
            delivery.result_message = f'{outcome} "결과", {{NULL}} \\ \\" '
            delivery.completed_at = at(10, 0, 5) if outcome != "sending" else None
        if name == "sql":
            save_results(deliveries)
        else:
            Delivery.objects.bulk_update(deliveries, RESULT_FIELDS)
        rows[name] = list(
            send.deliveries.order_by("external_id").values_list("external_id", *RESULT_FIELDS)
        )
    assert rows["sql"] == rows["django"]
    assert [row[1] for row in rows["sql"]] == ["success", "failure", "sending"]
