"""The monthly partitions of sends and deliveries (PostgreSQL, migration 0024): making a
month's before its rows come, and dropping a whole expired month at once.

A month is a Korea-time month, [YYYY-MM-01 00:00+09, the next month's 1st 00:00+09), and
its two partitions are sendon_results_sendrequest_p2026_05 and
sendon_results_delivery_p2026_05; the deliveries' one holds the key to the sends' one.
The SQL functions sendon_partition_name and sendon_ensure_month (sql/0024_partitions.sql)
name and make them. SQLite keeps plain tables: everything here does nothing there.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .models import Delivery, DeliveryTally, SendMonthTally, SendRequest, SendTally
from .tallies import LOCK_BASE

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3  # beat keeps this month's partitions and the next three's made
# How long making, detaching or dropping a month may wait for a lock: it gives way (the
# purge's batched delete does the month's work; beat makes the month the next day)
# rather than queue the readers of the tables it locks behind a long query.
LOCK_TIMEOUT = "5s"
# The partitions' zone is written into their bounds (+09, sql/0024_partitions.sql), not
# taken from TIME_ZONE.
KOREA = ZoneInfo("Asia/Seoul")
SENDS = SendRequest._meta.db_table
DELIVERIES = Delivery._meta.db_table
PARTITION_NAME = re.compile(
    rf"^(?P<parent>{SENDS}|{DELIVERIES})_p(?P<year>\d{{4}})_(?P<month>\d{{2}})$"
)


def month_of(moment: dt.datetime) -> dt.date:
    """The first day of the Korea-time month the moment falls in."""
    return moment.astimezone(KOREA).date().replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_start(month: dt.date) -> dt.datetime:
    """The instant the month's partitions begin: its 1st, 00:00 Korea time."""
    return dt.datetime(month.year, month.month, 1, tzinfo=KOREA)


def partition_names(month: dt.date) -> tuple[str, str]:
    """(the sends' partition, the deliveries' partition) of the month."""
    suffix = f"_p{month:%Y_%m}"
    return SENDS + suffix, DELIVERIES + suffix


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def ensure_month(moment: dt.datetime) -> None:
    """Make the partitions of the moment's month where missing, before a send of that
    month is written: a month beat has not made yet must not fail the write. Asked of
    the database each time (three catalog lookups), so that no process trusts a month
    another one's purge has dropped since.

    A missing month is made in the caller's transaction, which then holds both parents
    locked until it ends; behind a long query it gives up after LOCK_TIMEOUT (an
    OperationalError: the API answers 503, retry)."""
    if not partitioned():
        return
    with _lock_timeout():
        _make(month_of(moment))


def ensure_since(start: dt.datetime, end: dt.datetime | None = None) -> None:
    """ensure_month for every month from start's to end's (now's): for a writer of a
    whole history at once (the demo's, the scale data set's)."""
    if not partitioned():
        return
    month, last = month_of(start), month_of(end or timezone.now())
    while month <= last:
        ensure_month(month_start(month))
        month = next_month(month)


def ensure_ahead(today: dt.date | None = None) -> list[dt.date]:
    """Make this month's partitions and the next MONTHS_AHEAD months' where missing;
    returns the months that were made (beat, daily)."""
    if not partitioned():
        return []
    month = (today or timezone.localdate(timezone.now(), KOREA)).replace(day=1)
    months = [month]
    for _ in range(MONTHS_AHEAD):
        months.append(next_month(months[-1]))
    made = []
    # Making a month locks both parents (ACCESS EXCLUSIVE) for a moment: behind a long
    # query it gives way, and beat tries again the next day, months ahead of need.
    with _lock_timeout():
        for month in months:
            if not _complete(month):
                try:
                    _make(month)
                except DatabaseError:
                    logger.warning("could not make the partitions of %s", month, exc_info=True)
                    break
                made.append(month)
    return made


def _complete(month: dt.date) -> bool:
    sends, deliveries = partition_names(month)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND EXISTS (SELECT FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) AND conname = %s)",
            [sends + "_external_id", deliveries, deliveries + "_send"],
        )
        return bool(cursor.fetchone()[0])


def _make(month: dt.date) -> None:
    """sendon_ensure_month, in a savepoint: two writers meeting the same missing month
    make it at once, and the one that comes second finds it made when it tries again."""
    for attempt in (1, 2):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT sendon_ensure_month(%s)", [month])
            return
        except DatabaseError:
            if attempt == 2:
                raise


@dataclass
class DroppedMonth:
    """A month whose partitions went (or would go, in a dry run), with what they held per
    organization id."""

    month: dt.date
    sends: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    deliveries: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def end(self) -> dt.datetime:
        return month_start(next_month(self.month))


def drop_expired(cutoff: dt.datetime, *, dry_run: bool = False) -> list[DroppedMonth]:
    """Drop the partitions of every month that ends at or before `cutoff` (all its sends
    expired), oldest first, and the tallies of its days and of itself; returns the months
    dropped with what they held. A dry run only counts them.

    Each month's deliveries' partition is detached first (it holds the key to the sends'
    one), then the sends'; CONCURRENTLY, so readers and writers of the other months never
    wait, except inside a transaction (the tests), where only a plain DETACH may run. A
    detach left pending by a crash is finished, a table left detached but not dropped by
    an interrupted run is dropped. A month whose lock is not had within LOCK_TIMEOUT stops
    the drops; the purge's batched delete then removes its rows instead.
    """
    if not partitioned():
        return []
    expired = [
        (month, tables)
        for month, tables in sorted(_tables().items())
        if month_start(next_month(month)) <= cutoff
    ]
    if dry_run or not expired:
        return [_counted(month, tables) for month, tables in expired]
    dropped = []
    with _lock_timeout(), _checks_now():
        try:
            _finish_detaches(expired)
        except DatabaseError:
            logger.warning("could not finish a detach left pending", exc_info=True)
            return []
        for month, tables in expired:
            gone = _counted(month, tables)
            try:
                _drop_month(month, tables)
            except DatabaseError:
                logger.warning("could not drop the partitions of %s", month, exc_info=True)
                break
            dropped.append(gone)
    return dropped


def unfinished(cutoff: dt.datetime) -> list[dt.date]:
    """The expired months a drop left half done (a table detached, or its detach pending):
    the next purge finishes them. Until then the batched delete must leave their sends
    alone: their deliveries are out of its sight, and still hold the key to them."""
    if not partitioned():
        return []
    return sorted(
        month
        for month, tables in _tables().items()
        if month_start(next_month(month)) <= cutoff
        and any(state != "attached" for state in tables.values())
    )


def _finish_detaches(expired: list[tuple[dt.date, dict[str, str]]]) -> None:
    """FINALIZE the detaches a crash or a lock timeout left pending, first: while one
    partition of a table is pending detach, PostgreSQL detaches no other."""
    for month, tables in expired:
        for table, parent in zip(partition_names(month), (SENDS, DELIVERIES), strict=True):
            if tables.get(table) == "pending":
                _execute(f"ALTER TABLE {parent} DETACH PARTITION {table} FINALIZE")
                tables[table] = "detached"


def _tables() -> dict[dt.date, dict[str, str]]:
    """Every month with a partition, or a table left detached from its parent by an
    interrupted drop: {month: {table: "attached", "pending" (detach) or "detached"}}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.inhdetachpending FROM pg_class c "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "WHERE c.relkind = 'r' AND pg_table_is_visible(c.oid) "
            "AND (c.relname LIKE %s OR c.relname LIKE %s)",
            [SENDS + r"\_p%", DELIVERIES + r"\_p%"],
        )
        rows = cursor.fetchall()
    months: dict[dt.date, dict[str, str]] = defaultdict(dict)
    for name, pending in rows:
        if match := PARTITION_NAME.match(name):
            month = dt.date(int(match["year"]), int(match["month"]), 1)
            state = "detached" if pending is None else "pending" if pending else "attached"
            months[month][name] = state
    return months


def _counted(month: dt.date, tables: dict[str, str]) -> DroppedMonth:
    """What the month's tables hold per organization, counted in them: the purge log says
    what went, whatever wrote the rows."""
    gone = DroppedMonth(month)
    with connection.cursor() as cursor:
        for table, counts in zip(
            partition_names(month), (gone.sends, gone.deliveries), strict=True
        ):
            if table in tables:
                cursor.execute(f"SELECT organization_id, count(*) FROM {table} GROUP BY 1")
                counts.update(cursor.fetchall())
    return gone


def _drop_month(month: dt.date, tables: dict[str, str]) -> None:
    sends, deliveries = partition_names(month)
    concurrently = not connection.in_atomic_block
    for table, parent in ((deliveries, DELIVERIES), (sends, SENDS)):
        if tables.get(table) == "attached":
            how = " CONCURRENTLY" if concurrently else ""
            _execute(f"ALTER TABLE {parent} DETACH PARTITION {table}{how}")
    # The tables and the tallies of their days go together. A recount of an organization
    # (rebuild_tallies) waits, or has finished: none writes tallies from rows going here.
    # Dropping the tables takes their keys' triggers off the organizations' and senders'
    # tables, which locks those (ACCESS EXCLUSIVE) for a moment: LOCK_TIMEOUT bounds how
    # long their readers may queue behind it.
    days = {"day__gte": month, "day__lt": next_month(month)}
    with transaction.atomic(), connection.cursor() as cursor:
        organizations = sorted(
            set(SendTally.objects.filter(**days).values_list("organization_id", flat=True))
            | set(DeliveryTally.objects.filter(**days).values_list("organization_id", flat=True))
        )
        for organization_id in organizations:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_BASE + organization_id])
        cursor.execute(f"DROP TABLE IF EXISTS {deliveries}, {sends}")
        DeliveryTally.objects.filter(**days).delete()
        SendTally.objects.filter(**days).delete()
        SendMonthTally.objects.filter(month=month).delete()
    logger.info("dropped the partitions of %s", f"{month:%Y-%m}")


def _execute(statement: str) -> None:
    """One DETACH; in a transaction, in a savepoint: a lock timeout leaves the caller's
    transaction usable."""
    if not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(statement)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


@contextmanager
def _checks_now() -> Iterator[None]:
    """Inside a transaction: the key checks deferred to its end done first, rows written
    earlier in it included; PostgreSQL detaches or drops no table with checks pending."""
    if not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def _lock_timeout() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, false)",
            [LOCK_TIMEOUT],
        )
        was = cursor.fetchone()[0]
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [was])
