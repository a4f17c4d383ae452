"""The daily tallies stay equal to a direct count of the sends and deliveries, whatever
ingest, status moves and the purge do to them, in whatever order."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from sendon_results.ingest import (
    Conflict,
    NewResult,
    NewSend,
    apply_results,
    change_status,
    create_send,
)
from sendon_results.models import (
    Delivery,
    DeliveryTally,
    Organization,
    SendMonthTally,
    SendRequest,
    SendTally,
)
from sendon_results.retention import purge_expired
from sendon_results.tallies import SEND_MONTH_KEY, SEND_SUMS, rebuild_tallies

from .factories import OrganizationFactory

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")
CHANNELS = ["sms", "lms", "mms", "alimtalk", "friendtalk"]
CODES = {"success": ["1000", "0000"], "failure": ["3001", "3019", "E915", "3015"], "sending": [""]}
CARRIERS = ["SKT", "KT", "LGU+", ""]


def counted_directly() -> tuple[Counter[Any], Counter[Any]]:
    """What the tallies must hold, counted here from every row, in Python: non-zero sums
    per key, days in Korea time."""
    sends: Counter[Any] = Counter()
    deliveries: Counter[Any] = Counter()
    for send in SendRequest.objects.all():
        day = send.requested_at.astimezone(SEOUL).date()
        key = (send.organization_id, day, send.sender_id, send.channel, send.source, send.status)
        for name, value in [
            ("sends", 1),
            ("recipients", send.recipient_count),
            ("success", send.success_count),
            ("failure", send.failure_count),
            ("sending", send.sending_count),
            ("waiting", send.waiting_count),
            ("cancelled", send.cancelled_count),
            ("points_charged", send.points_charged),
            ("points_refunded", send.points_refunded),
        ]:
            sends[(*key, name)] += value
        for delivery in send.deliveries.all():
            key = (
                send.organization_id,
                day,
                send.sender_id,
                send.channel,
                delivery.final_channel,
                delivery.status,
                delivery.result_code,
                delivery.carrier,
            )
            deliveries[(*key, "deliveries")] += 1
            deliveries[(*key, "points_charged")] += delivery.points_charged
            deliveries[(*key, "points_refunded")] += delivery.points_refunded
    return +sends, +deliveries


def tallied() -> tuple[Counter[Any], Counter[Any]]:
    sends: Counter[Any] = Counter()
    for row in SendTally.objects.all():
        key = (row.organization_id, row.day, row.sender_id, row.channel, row.source, row.status)
        for name in [
            "sends",
            "recipients",
            "success",
            "failure",
            "sending",
            "waiting",
            "cancelled",
            "points_charged",
            "points_refunded",
        ]:
            sends[(*key, name)] += getattr(row, name)
    deliveries: Counter[Any] = Counter()
    for row in DeliveryTally.objects.all():
        key = (
            row.organization_id,
            row.day,
            row.sender_id,
            row.channel,
            row.final_channel,
            row.status,
            row.result_code,
            row.carrier,
        )
        for name in ["deliveries", "points_charged", "points_refunded"]:
            deliveries[(*key, name)] += getattr(row, name)
    return +sends, +deliveries


def months_of_days() -> Counter[Any]:
    """The daily send tallies summed by month: what the monthly ones must hold."""
    months: Counter[Any] = Counter()
    for (organization_id, day, *rest, name), value in tallied()[0].items():
        months[(organization_id, day.replace(day=1), *rest, name)] += value
    return +months


def tallied_by_month() -> Counter[Any]:
    months: Counter[Any] = Counter()
    for row in SendMonthTally.objects.values():
        key = tuple(row[name] for name in SEND_MONTH_KEY)
        for name in SEND_SUMS:
            months[(*key, name)] += row[name]
    return +months


def assert_exact() -> None:
    assert tallied() == counted_directly()
    assert tallied_by_month() == months_of_days()
    # A row that counts nothing is removed, not kept at zero.
    assert not SendTally.objects.filter(sends=0).exists()
    assert not SendMonthTally.objects.filter(sends=0).exists()
    assert not DeliveryTally.objects.filter(deliveries=0).exists()


def new_send(rng: random.Random, number: int, now: dt.datetime) -> NewSend:
    # Some sends a second either side of midnight in Korea, some past the one-year limit.
    if rng.random() < 0.3:
        midnight = dt.datetime.combine(
            now.astimezone(SEOUL).date() - dt.timedelta(days=rng.randint(0, 3)),
            dt.time.min,
            tzinfo=SEOUL,
        )
        requested_at = midnight + dt.timedelta(seconds=rng.choice([-1, 0, 1]))
    else:
        requested_at = now - dt.timedelta(days=rng.uniform(0, 400))
    channel = rng.choice(CHANNELS)
    kakao = channel in ("alimtalk", "friendtalk")
    reserved = rng.random() < 0.25
    return {
        "external_id": f"send-{number}",
        "requested_at": requested_at,
        "source": rng.choice(["web", "api"]),
        "channel": channel,
        "title": "",
        "body": "안내",
        "scheduled_at": now + dt.timedelta(days=1) if reserved else None,
        "points_per_message": Decimal(rng.choice(["8.40", "13", "30"])),
        "fallback": kakao,
        "sender": {
            "kind": "kakao" if kakao else "phone",
            "value": rng.choice(["@hanbit", "@store"]) if kakao else rng.choice(["0212345678"]),
            "label": "",
        },
        "recipients": [
            {"external_id": f"r{i}", "phone": f"010{rng.randint(0, 99999999):08d}", "name": ""}
            for i in range(rng.randint(1, 6))
        ],
    }


def new_result(rng: random.Random, send: NewSend, now: dt.datetime) -> NewResult:
    outcome = rng.choice(["success", "failure", "failure", "sending"])
    final_channel = ""
    if send["channel"] in ("alimtalk", "friendtalk") and rng.random() < 0.3:
        final_channel = "lms"
    return {
        "send_external_id": send["external_id"],
        "recipient_external_id": rng.choice(send["recipients"])["external_id"],
        "outcome": outcome,
        "result_code": rng.choice(CODES[outcome]),
        "result_message": "",
        "carrier": rng.choice(CARRIERS),
        "final_channel": final_channel,
        "completed_at": max(send["requested_at"], now - dt.timedelta(hours=1))
        + dt.timedelta(seconds=rng.randint(0, 3000)),
        "points_refunded": send["points_per_message"] if outcome == "failure" else Decimal(0),
    }


@pytest.mark.parametrize("seed", range(6))
def test_tallies_equal_a_direct_count_after_random_ingest_moves_and_purges(seed: int) -> None:
    rng = random.Random(seed)
    now = timezone.now()
    organizations = [OrganizationFactory(), OrganizationFactory()]
    posted: dict[int, list[NewSend]] = {org.pk: [] for org in organizations}
    for step in range(60):
        organization = rng.choice(organizations)
        sends = posted[organization.pk]
        action = rng.random()
        if action < 0.35 or not sends:
            send = new_send(rng, step, now)
            if rng.random() < 0.2:  # results that come before their send
                apply_results(
                    organization=organization,
                    results=[new_result(rng, send, now) for _ in range(rng.randint(1, 3))],
                )
            create_send(organization=organization, send=send)
            sends.append(send)
        elif action < 0.75:
            batch = [new_result(rng, rng.choice(sends), now) for _ in range(rng.randint(1, 8))]
            apply_results(organization=organization, results=batch)
        elif action < 0.95:
            send = rng.choice(sends)
            row = SendRequest.objects.get(
                organization=organization, external_id=send["external_id"]
            )
            target = rng.choice(["sending_now", "cancelling", "cancelled", "failed"])
            try:
                change_status(send=row, status=target, reason="잔액 부족")
            except Conflict:
                pass
        else:
            purge_expired(batch_size=rng.choice([1, 5, 1000]))
        if step % 20 == 19:
            assert_exact()
    purge_expired(batch_size=3)
    assert_exact()
    assert SendTally.objects.exists() and DeliveryTally.objects.exists()


def test_a_send_a_second_either_side_of_midnight_in_korea_counts_on_its_own_day() -> None:
    organization = OrganizationFactory()
    midnight = dt.datetime(2026, 11, 1, tzinfo=SEOUL)
    for number, moment in enumerate([midnight - dt.timedelta(seconds=1), midnight]):
        send = new_send(random.Random(number), number, timezone.now())
        send["requested_at"] = moment
        create_send(organization=organization, send=send)
    days = sorted(SendTally.objects.values_list("day", flat=True))
    assert days == [dt.date(2026, 10, 31), dt.date(2026, 11, 1)]


def test_rebuild_recounts_tallies_broken_by_a_write_around_the_console() -> None:
    organization = OrganizationFactory()
    rng = random.Random(7)
    now = timezone.now()
    for number in range(5):
        create_send(organization=organization, send=new_send(rng, number, now))
    assert_exact()
    Delivery.objects.filter(organization=organization).update(carrier="KT")
    SendTally.objects.update(sends=99)
    SendMonthTally.objects.update(success=99)
    assert tallied() != counted_directly()
    assert tallied_by_month() != months_of_days()
    call_command("rebuild_tallies", "--organization", organization.name, stdout=None)
    assert_exact()


def test_rebuild_of_one_organization_leaves_the_others_alone() -> None:
    first, second = OrganizationFactory(), OrganizationFactory()
    rng = random.Random(3)
    now = timezone.now()
    create_send(organization=first, send=new_send(rng, 1, now))
    create_send(organization=second, send=new_send(rng, 2, now))
    before = list(SendTally.objects.filter(organization=second).values())
    rebuild_tallies(Organization.objects.filter(pk=first.pk))
    assert list(SendTally.objects.filter(organization=second).values()) == before
    assert_exact()


# Writers at the same moment (PostgreSQL: SQLite lets one transaction write at a time).


def in_thread(work) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as problem:  # noqa: BLE001 - reported to the test
            outcome["error"] = problem
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def a_result(send: NewSend, outcome: str = "failure") -> NewResult:
    return {
        "send_external_id": send["external_id"],
        "recipient_external_id": send["recipients"][0]["external_id"],
        "outcome": outcome,
        "result_code": "3019",
        "result_message": "",
        "carrier": "KT",
        "final_channel": "",
        "completed_at": send["requested_at"] + dt.timedelta(minutes=1),
        "points_refunded": send["points_per_message"],
    }


@pytest.mark.django_db(transaction=True)
def test_a_recount_waits_for_a_result_being_applied_and_counts_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    organization = OrganizationFactory()
    send = new_send(random.Random(1), 1, timezone.now())
    # One recipient: its result completes the send, which so moves to a tally row of its
    # own, inserted while the recount waits.
    send["scheduled_at"], send["recipients"] = None, send["recipients"][:1]
    create_send(organization=organization, send=send)
    with transaction.atomic():
        apply_results(organization=organization, results=[a_result(send)])
        recount, outcome = in_thread(lambda: rebuild_tallies([organization]))
        recount.join(timeout=1)
        assert recount.is_alive()  # waiting for the result's transaction
    recount.join(timeout=30)
    assert "error" not in outcome
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_the_purge_waits_for_a_result_of_an_expired_send_and_counts_it_away_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    organization = OrganizationFactory()
    send = new_send(random.Random(2), 2, timezone.now())
    send["requested_at"] = timezone.now() - dt.timedelta(days=400)
    send["scheduled_at"] = None
    create_send(organization=organization, send=send)
    with transaction.atomic():
        apply_results(organization=organization, results=[a_result(send)])
        purge, outcome = in_thread(lambda: purge_expired(batch_size=1))
        purge.join(timeout=1)
        assert purge.is_alive()  # waiting for the send's row
    purge.join(timeout=30)
    assert "error" not in outcome, outcome
    assert not SendRequest.objects.exists()
    assert_exact()
    assert not SendTally.objects.exists() and not DeliveryTally.objects.exists()
