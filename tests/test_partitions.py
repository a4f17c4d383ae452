"""Monthly partitions (PostgreSQL): a whole expired month is dropped at once, the month it
ends in deleted up to the cutoff, the months ahead made before their rows come. On SQLite
the same purge deletes the same rows, row by row."""

from __future__ import annotations

import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from sendon_results import partitions, retention, tasks
from sendon_results.api.keys import create_key
from sendon_results.checks import korea_time
from sendon_results.models import Delivery, DeliveryTally, PurgeLog, SendRequest, SendTally
from tests.conftest import other_connection
from tests.factories import make_send
from tests.test_api import new_send
from tests.test_tallies import assert_exact

KST = ZoneInfo("Asia/Seoul")
# The purge of this midnight deletes what was requested before 2025-11-28 00:00 KST:
# October 2025 wholly, November 2025 up to its 27th.
MIDNIGHT = dt.datetime(2026, 11, 28, 0, 0, 0, tzinfo=KST)
CUTOFF = dt.datetime(2025, 11, 28, 0, 0, 0, tzinfo=KST)
OCTOBER = dt.date(2025, 10, 1)

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="SQLite keeps no partitions"
)


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def kst(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=KST)  # type: ignore[misc]


def external_ids() -> set[str]:
    return set(SendRequest.objects.values_list("external_id", flat=True))


def exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return bool(cursor.fetchone()[0])


def partition_of(model: type[SendRequest] | type[Delivery], pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk]
        )
        return cursor.fetchone()[0]


def drop_month(month: dt.date) -> None:
    """The month's partitions gone, as on a database made before it, or one whose beat was
    down."""
    sends, deliveries = partitions.partition_names(month)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE IF EXISTS {deliveries}, {sends}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.fixture
def history(alice, bob):
    """Sends of both organizations either side of each boundary: October 2025 (expired
    whole), November 2025 before and after the cutoff."""
    sends = {
        "oct-first": (alice, kst(2025, 10, 1, 0, 0), ["success", "failure"]),
        "oct-mid": (bob, kst(2025, 10, 15, 12, 0), ["success"] * 3),
        "oct-last": (alice, kst(2025, 10, 31, 23, 59, 59), ["cancelled"]),
        "nov-before": (bob, kst(2025, 11, 27, 23, 59, 59), ["failure", "success"]),
        "nov-cutoff": (alice, CUTOFF, ["success"]),
        "nov-after": (bob, kst(2025, 11, 30, 9, 0), ["success", "success"]),
        "recent": (alice, MIDNIGHT - dt.timedelta(days=3), ["sending"]),
    }
    for name, (account, requested_at, outcomes) in sends.items():
        make_send(
            account.organization,
            sender=account.phone,
            external_id=name,
            requested_at=requested_at,
            outcomes=outcomes,
        )
    return sends


def test_month_of_is_the_korean_month():
    assert partitions.month_of(kst(2026, 11, 1, 0, 0)) == dt.date(2026, 11, 1)
    assert partitions.month_of(dt.datetime(2026, 10, 31, 15, 0, tzinfo=dt.UTC)) == dt.date(
        2026, 11, 1
    )
    assert partitions.month_of(dt.datetime(2026, 10, 31, 14, 59, 59, tzinfo=dt.UTC)) == dt.date(
        2026, 10, 1
    )
    assert partitions.next_month(dt.date(2026, 12, 1)) == dt.date(2027, 1, 1)
    assert partitions.partition_names(dt.date(2026, 5, 1)) == (
        "sendon_results_sendrequest_p2026_05",
        "sendon_results_delivery_p2026_05",
    )


def test_a_whole_expired_month_goes_and_its_last_month_up_to_the_cutoff(alice, bob, history):
    with at(MIDNIGHT):
        result = retention.purge_expired()
    assert external_ids() == {"nov-cutoff", "nov-after", "recent"}
    assert (result.sends, result.deliveries) == (4, 8)
    assert result.per_organization == {
        alice.organization.name: {"sends": 2, "deliveries": 3, "files": 0},
        bob.organization.name: {"sends": 2, "deliveries": 5, "files": 0},
    }
    log = PurgeLog.objects.get()
    assert (log.sends, log.deliveries, log.completed) == (4, 8, True)
    assert log.per_organization[alice.organization.name]["deliveries"] == 3
    assert Delivery.objects.count() == 4
    # Nothing of October is tallied any more; what is left is tallied exactly.
    assert not SendTally.objects.filter(day__lt=CUTOFF.date()).exists()
    assert not DeliveryTally.objects.filter(day__lt=CUTOFF.date()).exists()
    assert_exact()
    if connection.vendor == "postgresql":
        assert OCTOBER in result.months and dt.date(2025, 11, 1) not in result.months
        assert not any(exists(name) for name in partitions.partition_names(OCTOBER))
        # November stays, with the sends from the cutoff on.
        assert all(exists(name) for name in partitions.partition_names(dt.date(2025, 11, 1)))
    else:
        assert result.months == []


def test_a_second_purge_finds_nothing_more(history):
    with at(MIDNIGHT):
        retention.purge_expired()
        again = retention.purge_expired()
    assert (again.sends, again.deliveries, again.months) == (0, 0, [])
    assert external_ids() == {"nov-cutoff", "nov-after", "recent"}


def test_dry_run_counts_each_row_once_and_drops_nothing(alice, bob, history):
    tallies = (SendTally.objects.count(), DeliveryTally.objects.count())
    with at(MIDNIGHT):
        result = retention.purge_expired(dry_run=True)
    assert (result.sends, result.deliveries) == (4, 8)
    assert result.per_organization[bob.organization.name]["sends"] == 2
    assert len(external_ids()) == len(history) and Delivery.objects.count() == 12
    assert (SendTally.objects.count(), DeliveryTally.objects.count()) == tallies
    log = PurgeLog.objects.get()
    assert log.dry_run and (log.sends, log.deliveries) == (4, 8)
    if connection.vendor == "postgresql":
        assert OCTOBER in result.months
        assert all(exists(name) for name in partitions.partition_names(OCTOBER))


@postgresql_only
def test_an_interrupted_drop_is_finished_by_the_next_run(alice, bob, history):
    sends, deliveries = partitions.partition_names(OCTOBER)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # The run stopped between its detach and its drop: October's deliveries are out
        # of their table, its sends still in theirs.
        cursor.execute(f"ALTER TABLE {Delivery._meta.db_table} DETACH PARTITION {deliveries}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    assert exists(deliveries)
    with at(MIDNIGHT):
        result = retention.purge_expired()
    assert not exists(deliveries) and not exists(sends)
    assert OCTOBER in result.months
    assert (result.sends, result.deliveries) == (4, 8)
    assert external_ids() == {"nov-cutoff", "nov-after", "recent"}
    assert_exact()


@postgresql_only
def test_a_table_left_detached_alone_is_dropped(history):
    sends, deliveries = partitions.partition_names(OCTOBER)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for parent, table in ((Delivery, deliveries), (SendRequest, sends)):
            cursor.execute(f"ALTER TABLE {parent._meta.db_table} DETACH PARTITION {table}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    assert not SendRequest.objects.filter(external_id__startswith="oct").exists()
    with at(MIDNIGHT):
        result = retention.purge_expired()
    assert not exists(deliveries) and not exists(sends)
    # Counted in the detached tables themselves.
    assert (result.sends, result.deliveries) == (4, 8)
    assert_exact()


@postgresql_only
def test_a_send_at_midnight_on_the_first_is_in_the_new_month(alice):
    first = make_send(alice.organization, sender=alice.phone, requested_at=kst(2026, 11, 1, 0, 0))
    last = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=kst(2026, 11, 1, 0, 0) - dt.timedelta(microseconds=1),
    )
    assert partition_of(SendRequest, first.pk) == "sendon_results_sendrequest_p2026_11"
    assert partition_of(SendRequest, last.pk) == "sendon_results_sendrequest_p2026_10"
    delivery = Delivery.objects.get(send_request=first)
    assert partition_of(Delivery, delivery.pk) == "sendon_results_delivery_p2026_11"
    delivery = Delivery.objects.get(send_request=last)
    assert partition_of(Delivery, delivery.pk) == "sendon_results_delivery_p2026_10"


@postgresql_only
def test_ensure_ahead_makes_the_missing_months_once(db):
    today = dt.date(2031, 1, 20)
    months = [dt.date(2031, m, 1) for m in (1, 2, 3, 4)]
    for month in months:
        drop_month(month)
    assert not any(exists(name) for month in months for name in partitions.partition_names(month))
    assert partitions.ensure_ahead(today) == months
    assert all(exists(name) for month in months for name in partitions.partition_names(month))
    assert partitions.ensure_ahead(today) == []
    # A month half made (its deliveries' partition lost) is made whole.
    drop_month(months[2])
    with connection.cursor() as cursor:
        cursor.execute("SELECT sendon_ensure_month(%s, false)", [months[2]])
    assert partitions.ensure_ahead(today) == [months[2]]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = %s",
            ["sendon_results_delivery_p2031_03_send"],
        )
        assert cursor.fetchone()[0] == "sendon_results_sendrequest_p2031_03"


def test_the_task_and_the_command_make_the_months_ahead(db, settings):
    with at(kst(2031, 1, 20, 3, 30)):
        for month in (1, 2, 3, 4):
            if connection.vendor == "postgresql":
                drop_month(dt.date(2031, month, 1))
        made = tasks.ensure_partitions.delay().get()
        out = io.StringIO()
        call_command("ensure_partitions", stdout=out)
    entry = settings.CELERY_BEAT_SCHEDULE["ensure-partitions"]
    assert entry["task"] == tasks.ensure_partitions.name
    if connection.vendor == "postgresql":
        assert made == ["2031-01", "2031-02", "2031-03", "2031-04"]
        assert "are there" in out.getvalue()
    else:
        assert made == [] and "nothing to do" in out.getvalue()


def test_a_send_into_a_month_not_made_yet_is_recorded(alice):
    """Beat was down: the API's first send of a month makes it."""
    now = kst(2031, 5, 20, 12, 0)
    with at(now):
        if connection.vendor == "postgresql":
            drop_month(dt.date(2031, 5, 1))
            assert not exists("sendon_results_sendrequest_p2031_05")
        _, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
        response = alice.client.post(
            "/api/v1/send-requests",
            json.dumps(new_send("S-May", 1, requested_at="2031-05-20T11:00:00+09:00")),
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert response.status_code == 201, response.content
    send = SendRequest.objects.get(external_id="S-May")
    assert send.deliveries.count() == 1
    if connection.vendor == "postgresql":
        assert partition_of(SendRequest, send.pk) == "sendon_results_sendrequest_p2031_05"


@pytest.mark.parametrize("purges", [1, 3])
def test_tallies_equal_a_count_after_months_are_dropped(alice, bob, purges):
    """Sends over eight months, purged a month apart: the tallies stay what a count of the
    rows left says. (In the past: the purge takes the earlier of the clock and the
    database's, which no time machine moves.)"""
    outcomes = [["success"], ["failure", "success"], ["cancelled", "waiting", "success"]]
    number = 0
    for account in (alice, bob):
        day = kst(2024, 6, 1, 0, 0)
        while day < kst(2025, 2, 1):
            make_send(
                account.organization,
                sender=account.kakao if number % 2 else account.phone,
                channel="alimtalk" if number % 2 else "sms",
                requested_at=day,
                outcomes=outcomes[number % 3],
            )
            number += 1
            day += dt.timedelta(days=9, hours=7)
    total = SendRequest.objects.count()
    removed = 0
    for step in range(purges):
        with at(kst(2025, 10 + step, 15, 0, 0)):
            removed += retention.purge_expired().sends
        assert_exact()
    assert SendRequest.objects.count() == total - removed
    assert not SendRequest.objects.filter(requested_at__lt=kst(2024, 10 + purges - 1, 15)).exists()


# A month no other test writes into: what these tests commit stays for the session.
JUNE = dt.date(2024, 6, 1)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_detach_left_pending_is_finalized_and_the_month_dropped(alice):
    send = make_send(alice.organization, sender=alice.phone, requested_at=kst(2024, 6, 10, 9, 0))
    sends, deliveries = partitions.partition_names(JUNE)
    other = other_connection()
    try:
        # A reader's transaction still looks at the sends: a concurrent detach waits for
        # it, and given up after its lock timeout is left pending.
        other.execute("BEGIN")
        other.execute(f"SELECT count(*) FROM {SendRequest._meta.db_table}")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
            with pytest.raises(Exception, match="lock timeout"):
                cursor.execute(
                    f"ALTER TABLE {SendRequest._meta.db_table} DETACH PARTITION {sends} "
                    "CONCURRENTLY"
                )
            cursor.execute("RESET lock_timeout")
            cursor.execute(
                "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = %s::regclass", [sends]
            )
            assert cursor.fetchone()[0] is True
        other.execute("COMMIT")
    finally:
        other.close()
    dropped = partitions.drop_expired(partitions.month_start(dt.date(2024, 7, 1)))
    assert JUNE in [month.month for month in dropped]
    gone = next(month for month in dropped if month.month == JUNE)
    assert (gone.sends[alice.organization.pk], gone.deliveries[alice.organization.pk]) == (1, 1)
    assert not exists(sends) and not exists(deliveries)
    assert not SendRequest.objects.filter(pk=send.pk).exists()
    assert_exact()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_month_whose_lock_is_not_had_is_deleted_by_the_batches(alice, monkeypatch):
    make_send(alice.organization, sender=alice.phone, requested_at=kst(2024, 6, 10, 9, 0))
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=kst(2024, 6, 20, 9, 0),
        outcomes=["success", "failure"],
    )
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    other = other_connection()
    try:
        # Rows may be written meanwhile (ROW EXCLUSIVE), a detach may not.
        other.execute("BEGIN")
        other.execute(f"LOCK TABLE {Delivery._meta.db_table} IN SHARE UPDATE EXCLUSIVE MODE")
        with at(dt.datetime(2025, 7, 1, 12, 0, tzinfo=KST)):  # June 2024 expired whole
            result = retention.purge_expired()
        other.execute("COMMIT")
    finally:
        other.close()
    assert JUNE not in result.months
    assert all(exists(name) for name in partitions.partition_names(JUNE))
    assert (result.sends, result.deliveries) == (2, 3)
    assert not SendRequest.objects.filter(requested_at__lt=kst(2024, 7, 1, 0, 0)).exists()
    assert_exact()


# Another month of its own, for the same reason.
MARCH = dt.date(2023, 3, 1)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_month_left_half_dropped_waits_for_the_next_run(alice, monkeypatch):
    """The deliveries' month detached, the sends' not (its lock not had): the batches leave
    that month's sends alone (their deliveries are out of sight and still hold the key to
    them), the rest of the purge goes on, and the next run drops the month."""
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=kst(2023, 3, 10, 9, 0),
        outcomes=["success", "failure"],
    )
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    sends, deliveries = partitions.partition_names(MARCH)
    other = other_connection()
    try:
        other.execute("BEGIN")
        other.execute(f"LOCK TABLE {SendRequest._meta.db_table} IN SHARE UPDATE EXCLUSIVE MODE")
        with at(dt.datetime(2024, 7, 1, 12, 0, tzinfo=KST)):
            first = retention.purge_expired()
        other.execute("COMMIT")
    finally:
        other.close()
    assert MARCH not in first.months and partitions.unfinished(first.cutoff) == [MARCH]
    assert PurgeLog.objects.latest("pk").completed
    assert exists(sends) and SendRequest.objects.filter(requested_at__lt=first.cutoff).count() == 1
    with at(dt.datetime(2024, 7, 1, 12, 0, tzinfo=KST)):
        second = retention.purge_expired()
    assert MARCH in second.months and (second.sends, second.deliveries) == (1, 2)
    assert not exists(sends) and not exists(deliveries)
    assert_exact()


@postgresql_only
def test_ensure_ahead_gives_way_to_a_long_query(db, monkeypatch):
    """Making a month locks the parents: behind a query that holds them it waits no more
    than its lock timeout, and makes the months on the next day's run."""
    today = dt.date(2040, 1, 10)
    assert not exists("sendon_results_sendrequest_p2040_01")
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    other = other_connection()
    try:
        other.execute("BEGIN")
        other.execute(f"SELECT count(*) FROM {SendRequest._meta.db_table}")
        assert partitions.ensure_ahead(today) == []
        other.execute("COMMIT")
    finally:
        other.close()
    assert len(partitions.ensure_ahead(today)) == 1 + partitions.MONTHS_AHEAD


def test_postgresql_keeps_korea_time(settings):
    """The months of the partitions and the days of the tallies are the same days."""
    assert korea_time(None) == []
    settings.TIME_ZONE = "UTC"
    expected = ["sendon_results.E002"] if partitions.partitioned() else []
    assert [error.id for error in korea_time(None)] == expected
