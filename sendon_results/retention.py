"""What is expired, and how it is removed: send records are kept exactly RETENTION_DAYS.

The rule, in Korea time at day granularity: a send requested on day R is deleted by the
first purge on or after day R + RETENTION_DAYS + 1, 00:00 — requested 2025-11-27 14:00,
deleted from 2026-11-28 00:00 on, never a run before. Export files go when they expire
or when the oldest record in them is purged, whichever is first; a statement lives as
long as the last record of its period. Results that came for a send that never arrived
go after PENDING_RESULT_DAYS. Events of the access record go after AUDIT_RETENTION_DAYS.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from . import partitions
from .dates import day_start
from .models import (
    AccessEvent,
    Confirmation,
    Delivery,
    Export,
    Job,
    Organization,
    OutboxMessage,
    PendingResult,
    PurgeLock,
    PurgeLog,
    SendRequest,
    Statement,
)
from .models.sends import SendRequestQuerySet
from .tallies import SEND_FIELDS, tally_removed

logger = logging.getLogger(__name__)

DELIVERY_BATCH = 5_000  # deliveries per transaction, at most (a send is never split)
SEND_BATCH = 1_000
# A breath between batches: on two cores the purge's database backend would otherwise
# keep a core busy the list page's requests are waiting for.
BATCH_PAUSE = 0.02
WARNING_DAYS = 30  # sends this close to deletion are marked, and offered for export
ACCESS_EVENT_BATCH = 10_000  # access events per transaction
ADVISORY_LOCK_KEY = 0x5E4D0_9E  # pg_try_advisory_lock: one purge at a time
LOCK_ROW_HOLD = dt.timedelta(hours=2)


class PurgeAlreadyRunning(Exception):
    pass


def trusted_now() -> dt.datetime:
    """The earlier of this machine's clock and the database's: a clock that jumps ahead
    alone cannot widen the window."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_TIMESTAMP")
        database_now = cursor.fetchone()[0]
    if isinstance(database_now, str):  # SQLite answers in text, in UTC
        database_now = dt.datetime.fromisoformat(database_now).replace(tzinfo=dt.UTC)
    return min(timezone.now(), database_now)


def cutoff(now: dt.datetime) -> dt.datetime:
    """Sends requested before this instant are expired at `now`."""
    today = timezone.localdate(now)
    return day_start(today - dt.timedelta(days=settings.RETENTION_DAYS))


def kept(sends: SendRequestQuerySet) -> SendRequestQuerySet:
    """Only the sends still kept: one requested before the cutoff is expired, and is shown
    nowhere (list, detail, API, exports) even before the nightly purge removes it."""
    return sends.requested_between(cutoff(timezone.now()), None)


def deletion_day(requested_at: dt.datetime) -> dt.date:
    """The day (Korea time) from which the purge deletes a send."""
    return timezone.localdate(requested_at) + dt.timedelta(days=settings.RETENTION_DAYS + 1)


def oldest_kept_day(today: dt.date) -> dt.date:
    """The first day whose sends are still kept: the period filter starts no earlier."""
    return today - dt.timedelta(days=settings.RETENTION_DAYS)


def soon_deleted_until(today: dt.date) -> dt.date:
    """Sends requested on or before this day are deleted within WARNING_DAYS."""
    return today - dt.timedelta(days=settings.RETENTION_DAYS + 1 - WARNING_DAYS)


@dataclass
class PurgeResult:
    cutoff: dt.datetime
    sends: int = 0
    deliveries: int = 0
    files: int = 0
    # Months whose partitions were dropped whole (PostgreSQL), their rows counted above.
    months: list[dt.date] = field(default_factory=list)
    pending_results: int = 0  # results whose send never came
    access_events: int = 0  # of the access record, older than AUDIT_RETENTION_DAYS
    per_organization: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: {"sends": 0, "deliveries": 0, "files": 0})
    )


def purge_expired(
    *, dry_run: bool = False, batch_size: int = DELIVERY_BATCH, max_batches: int | None = None
) -> PurgeResult:
    """Delete expired sends with their deliveries, in bounded batches, expired files, the
    requests to the platform made before the cutoff, and the access record's events older
    than AUDIT_RETENTION_DAYS.

    Each batch is one transaction of whole sends (deliveries and their send together), and
    re-checks the cutoff as it deletes, so an interrupted run leaves nothing half done and
    the next run finishes the job. `max_batches` stops early (for tests of interruption).
    Raises PurgeAlreadyRunning when another purge holds the lock.
    """
    with _single_purge():
        now = trusted_now()
        limit = cutoff(now)
        result = PurgeResult(limit)
        log = PurgeLog.objects.create(started_at=timezone.now(), cutoff=limit, dry_run=dry_run)
        # Whole expired months first, each dropped at once (PostgreSQL); the batches then
        # delete what is left, the sends of the month the cutoff falls in.
        dropped = partitions.drop_expired(limit, dry_run=dry_run)
        _count_dropped(result, dropped)
        # In a dry run the dropped months still hold their rows, counted already.
        kept_from = max((month.end for month in dropped), default=None)
        # A month whose drop stopped half way is the next run's to finish, not the batches'.
        skipped = [
            (partitions.month_start(month), partitions.month_start(partitions.next_month(month)))
            for month in partitions.unfinished(limit)
        ]
        batches = 0
        for organization in Organization.objects.order_by("id"):
            expired = _skipping(
                SendRequest.objects.for_org(organization).filter(requested_at__lt=limit), skipped
            )
            if dry_run and kept_from is not None:
                expired = expired.filter(requested_at__gte=kept_from)
            counts = result.per_organization[organization.name]
            if dry_run:
                totals = expired.aggregate(sends=Count("id"), deliveries=Sum("recipient_count"))
                counts["sends"] += totals["sends"]
                counts["deliveries"] += totals["deliveries"] or 0
            else:
                for low, high in _id_ranges(expired, batch_size):
                    if max_batches is not None and batches >= max_batches:
                        break
                    sends, deliveries = _delete_range(organization, limit, low, high, skipped)
                    counts["sends"] += sends
                    counts["deliveries"] += deliveries
                    batches += 1
                    time.sleep(BATCH_PAUSE)
            counts["files"] += _expire_files(organization, limit, dry_run=dry_run)
            if not any(counts.values()):
                del result.per_organization[organization.name]
        result.pending_results = _purge_pending_results(dry_run=dry_run)
        # Requests to the platform go with the records they are about: a resend's names
        # recipients, a notification sums a send up.
        platform_requests = OutboxMessage.objects.filter(created_at__lt=limit)
        if not dry_run:
            platform_requests.delete()
        result.access_events = _purge_access_events(access_record_cutoff(now), dry_run=dry_run)
        for counts in result.per_organization.values():
            result.sends += counts["sends"]
            result.deliveries += counts["deliveries"]
            result.files += counts["files"]
        log.sends, log.deliveries, log.files = result.sends, result.deliveries, result.files
        log.pending_results = result.pending_results
        log.access_events = result.access_events
        log.per_organization = dict(result.per_organization)
        log.completed = max_batches is None or batches < max_batches
        log.finished_at = timezone.now()
        log.save()
    if result.months:
        logger.info(
            "purge%s: the partitions of %s",
            " (dry run)" if dry_run else "",
            ", ".join(f"{month:%Y-%m}" for month in result.months),
        )
    for name, counts in result.per_organization.items():
        logger.info("purge%s %s: %s", " (dry run)" if dry_run else "", name, counts)
    if result.pending_results:
        logger.info(
            "purge%s: %s results whose send never came",
            " (dry run)" if dry_run else "",
            result.pending_results,
        )
    if result.access_events:
        logger.info(
            "purge%s: %s access events older than %s days",
            " (dry run)" if dry_run else "",
            result.access_events,
            settings.AUDIT_RETENTION_DAYS,
        )
    return result


def _count_dropped(result: PurgeResult, dropped: list[partitions.DroppedMonth]) -> None:
    """What the dropped months held, into the result's counts per organization."""
    if not dropped:
        return
    names = dict(Organization.objects.values_list("id", "name"))
    for month in dropped:
        result.months.append(month.month)
        for kind, counted in (("sends", month.sends), ("deliveries", month.deliveries)):
            for organization_id, count in counted.items():
                name = names.get(organization_id, str(organization_id))
                result.per_organization[name][kind] += count


def access_record_cutoff(now: dt.datetime) -> dt.datetime:
    """Events of the access record from before this instant are expired at `now`."""
    return now - dt.timedelta(days=settings.AUDIT_RETENTION_DAYS)


def _purge_access_events(limit: dt.datetime, *, dry_run: bool) -> int:
    """Delete the access record's events from before `limit`, oldest first, in
    transactions of ACCESS_EVENT_BATCH: the one DELETE the record allows. On PostgreSQL
    its trigger refuses every other; this one says so with a transaction-local setting,
    set for the DELETE and off again before the transaction ends (so nothing else in it
    shares the permission). The application refuses deleting events elsewhere."""
    if dry_run:
        return AccessEvent.objects.filter(at__lt=limit).count()
    table = AccessEvent._meta.db_table
    postgresql = connection.vendor == "postgresql"
    removed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if postgresql:
                cursor.execute("SET LOCAL sendon.audit_purge = 'on'")
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN "
                f"(SELECT id FROM {table} WHERE at < %s ORDER BY at LIMIT %s)",
                [connection.ops.adapt_datetimefield_value(limit), ACCESS_EVENT_BATCH],
            )
            deleted = cursor.rowcount
            if postgresql:
                cursor.execute("SET LOCAL sendon.audit_purge = 'off'")
        removed += deleted
        if deleted < ACCESS_EVENT_BATCH:
            return removed
        time.sleep(BATCH_PAUSE)


def _purge_pending_results(*, dry_run: bool) -> int:
    """Delete results that waited PENDING_RESULT_DAYS for a send that never came, in
    batches of DELIVERY_BATCH."""
    stale = PendingResult.objects.filter(
        received_at__lt=timezone.now() - dt.timedelta(days=settings.PENDING_RESULT_DAYS)
    )
    if dry_run:
        return stale.count()
    removed = 0
    while ids := list(stale.order_by("id").values_list("id", flat=True)[:DELIVERY_BATCH]):
        removed += PendingResult.objects.filter(id__in=ids).delete()[0]
        if len(ids) == DELIVERY_BATCH:  # more to come: a breath for the pages first
            time.sleep(BATCH_PAUSE)
    return removed


def _id_ranges(expired: QuerySet[SendRequest], batch_size: int) -> Iterator[tuple[int, int]]:
    """Primary-key ranges of expired sends, oldest ids first, each holding about
    `batch_size` deliveries (read off the denormalised recipient counts: choosing a batch
    costs no count of deliveries). A send is never split between batches."""
    last_id = 0
    while True:
        candidates = list(
            expired.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "recipient_count")[:SEND_BATCH]
        )
        if not candidates:
            return
        total, high = 0, candidates[0][0]
        for send_id, recipients in candidates:
            if total and total + recipients > batch_size:
                break
            total += recipients
            high = send_id
        yield candidates[0][0], high
        last_id = high


def _skipping(
    sends: QuerySet[SendRequest], skipped: list[tuple[dt.datetime, dt.datetime]]
) -> QuerySet[SendRequest]:
    """The sends but those requested in any of the skipped [start, end) spans."""
    for start, end in skipped:
        sends = sends.exclude(requested_at__gte=start, requested_at__lt=end)
    return sends


def _delete_range(
    organization: Organization,
    limit: dt.datetime,
    low: int,
    high: int,
    skipped: list[tuple[dt.datetime, dt.datetime]],
) -> tuple[int, int]:
    """One transaction: the expired sends with ids in [low, high] and their deliveries,
    but those requested in a skipped span (a month whose drop is unfinished).

    Plain DELETEs, not Model.delete(): the ORM would load every send to cascade by hand.
    The cutoff is checked again here, so a send that is not expired is never touched."""
    # In the database's own form of a datetime (UTC text on SQLite), as the ORM would.
    moment = connection.ops.adapt_datetimefield_value
    sends = f"""
        FROM {SendRequest._meta.db_table}
        WHERE organization_id = %s AND requested_at < %s AND id BETWEEN %s AND %s"""
    params = [organization.pk, moment(limit), low, high]
    for start, end in skipped:
        sends += " AND NOT (requested_at >= %s AND requested_at < %s)"
        params += [moment(start), moment(end)]
    expired = _skipping(
        SendRequest.objects.filter(
            organization=organization, requested_at__lt=limit, id__range=(low, high)
        ),
        skipped,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # Locked first, in id order as ingest locks them: a result for one of these sends
        # either comes before the tallies are read or waits, and finds it gone.
        locked = expired.select_for_update().order_by("id").only(*SEND_FIELDS)
        tally_removed(list(locked)).save()
        # Bounded by the deliveries' own requested_at too: PostgreSQL then reads only the
        # months before the cutoff (after the drops, the one it falls in).
        cursor.execute(
            f"DELETE FROM {Delivery._meta.db_table} "
            f"WHERE requested_at < %s AND send_request_id IN (SELECT id {sends})",
            [params[1], *params],
        )
        deliveries = cursor.rowcount
        cursor.execute(f"DELETE {sends}", params)
        return cursor.rowcount, deliveries


def _expire_files(organization: Organization, limit: dt.datetime, *, dry_run: bool) -> int:
    """Delete files past their expiry or holding purged records; mark their rows expired.

    An export goes at its expiry (EXPORT_EXPIRY_DAYS), or earlier with the oldest record it
    holds. A statement (and a delivery confirmation) lives as long as the records it sums
    up: its expiry, set when it was asked for, is the day its period's last records are
    purged; then a confirmation forgets its number too."""
    now = timezone.now()
    done_jobs: list[QuerySet[Export] | QuerySet[Statement] | QuerySet[Confirmation]] = [
        Export.objects.filter(organization=organization, state=Export.State.DONE).filter(
            Q(expires_at__lte=now) | Q(covers_from__lt=limit)
        ),
        Statement.objects.filter(
            organization=organization, state=Statement.State.DONE, expires_at__lte=now
        ),
        Confirmation.objects.filter(
            organization=organization, state=Confirmation.State.DONE, expires_at__lte=now
        ),
    ]
    if dry_run:
        return sum(expired.count() for expired in done_jobs)
    count = 0
    for expired in done_jobs:
        for job in expired.iterator():
            if job.file:
                job.file.delete(save=False)
            type(job).objects.filter(pk=job.pk).update(
                state=Job.State.EXPIRED, file="", expires_at=min(job.expires_at, now)
            )
            count += 1
    # A confirmation's number, and the messages it lists, go with the records it
    # confirmed, whatever became of it.
    Confirmation.objects.filter(organization=organization, expires_at__lte=now).exclude(
        recipient="", figures__isnull=True
    ).update(recipient="", figures=None, fingerprint="")
    return count


@contextmanager
def _single_purge() -> Iterator[None]:
    """An advisory lock on PostgreSQL, a lock row elsewhere: two purges never overlap."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            if not cursor.fetchone()[0]:
                raise PurgeAlreadyRunning
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        return
    now = timezone.now()
    PurgeLock.objects.get_or_create(pk=1, defaults={"held_until": now})
    if not PurgeLock.objects.filter(pk=1, held_until__lte=now).update(
        held_until=now + LOCK_ROW_HOLD
    ):
        raise PurgeAlreadyRunning
    try:
        yield
    finally:
        PurgeLock.objects.filter(pk=1).update(held_until=timezone.now())
