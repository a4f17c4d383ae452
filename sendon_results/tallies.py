"""Keeping the daily tallies (models/tallies.py) exact.

Every writer of sends and deliveries collects what it changes in a `TallyChanges` — a
send or delivery as it was taken away, as it is now added — and saves the sum in its own
transaction: one upsert per table that adds the differences to the rows they belong to.
`rebuild_tallies` recounts them from the sends and deliveries themselves.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import (
    Delivery,
    DeliveryTally,
    Organization,
    SendMonthTally,
    SendRequest,
    SendTally,
)

# The dimensions and sums of each tally, in their columns' order.
SEND_KEY = ("organization_id", "day", "sender_id", "channel", "source", "status")
SEND_MONTH_KEY = ("organization_id", "month", *SEND_KEY[2:])
SEND_SUMS = (
    "sends",
    "recipients",
    "success",
    "failure",
    "sending",
    "waiting",
    "cancelled",
    "points_charged",
    "points_refunded",
)
DELIVERY_KEY = (
    "organization_id",
    "day",
    "sender_id",
    "channel",
    "final_channel",
    "status",
    "result_code",
    "carrier",
)
DELIVERY_SUMS = ("deliveries", "points_charged", "points_refunded")

# PostgreSQL advisory locks (one bigint each, beside the purge's) by which writers of an
# organization's tallies, who share it, keep out its recount, which takes it alone.
LOCK_BASE = 0x7A11_0000_0000

# What counting a send reads of it (for .only(): a send's body can be long).
SEND_FIELDS = (
    "organization",
    "requested_at",
    "sender",
    "channel",
    "source",
    "status",
    "recipient_count",
    "success_count",
    "failure_count",
    "sending_count",
    "waiting_count",
    "cancelled_count",
    "points_charged",
    "points_refunded",
)

Key = tuple[Any, ...]
Sums = list[int | Decimal]


def tally_day(moment: dt.datetime) -> dt.date:
    """The Korea-time day (TIME_ZONE) a send counts on: the day of its requested_at."""
    return moment.astimezone(timezone.get_default_timezone()).date()


class TallyChanges:
    """The differences a transaction makes to the tallies, saved in one go by `save`."""

    def __init__(self) -> None:
        self.sends: dict[Key, Sums] = defaultdict(lambda: [0] * len(SEND_SUMS))
        self.deliveries: dict[Key, Sums] = defaultdict(lambda: [0] * len(DELIVERY_SUMS))
        self._days: dict[dt.datetime, dt.date] = {}  # a batch's results share few sends

    def _day(self, send: SendRequest) -> dt.date:
        if (day := self._days.get(send.requested_at)) is None:
            day = self._days[send.requested_at] = tally_day(send.requested_at)
        return day

    def send(self, send: SendRequest, sign: int = 1) -> None:
        """Count the send as it is now (sign 1), or take it away as it was (sign -1)."""
        key = (
            send.organization_id,
            self._day(send),
            send.sender_id,
            send.channel,
            send.source,
            send.status,
        )
        values = (
            1,
            send.recipient_count,
            send.success_count,
            send.failure_count,
            send.sending_count,
            send.waiting_count,
            send.cancelled_count,
            send.points_charged,
            send.points_refunded,
        )
        _add(self.sends[key], values, sign)

    def delivery(self, send: SendRequest, delivery: Delivery, sign: int = 1) -> None:
        """Count one delivery of the send as it is now, or take it away as it was."""
        key = (
            send.organization_id,
            self._day(send),
            send.sender_id,
            send.channel,
            delivery.final_channel,
            delivery.status,
            delivery.result_code,
            delivery.carrier,
        )
        _add(
            self.deliveries[key],
            (1, delivery.points_charged, delivery.points_refunded),
            sign,
        )

    def delivery_groups(
        self,
        send: SendRequest,
        groups: Mapping[tuple[str, str, str, str], Sequence[Any]],
        sign: int = 1,
    ) -> None:
        """Add differences to the send's deliveries already summed by (final_channel,
        status, result_code, carrier): (count, points charged, points refunded) each. A
        batch of results sums its changes first, rather than two calls per delivery."""
        day = self._day(send)
        for (final_channel, status, code, carrier), values in groups.items():
            key = (
                send.organization_id,
                day,
                send.sender_id,
                send.channel,
                final_channel,
                status,
                code,
                carrier,
            )
            _add(self.deliveries[key], values, sign)

    def deliveries_of(self, send: SendRequest, sign: int = 1) -> None:
        """Count every delivery of the send as the database holds them now: one grouped
        read of its deliveries, for changes made with UPDATE rather than row by row."""
        rows = (
            Delivery.objects.of_send(send)
            .order_by()
            .values_list("final_channel", "status", "result_code", "carrier")
            .annotate(Count("id"), Sum("points_charged"), Sum("points_refunded"))
        )
        groups = {
            (final_channel, status, code, carrier): (count, charged or 0, refunded or 0)
            for final_channel, status, code, carrier, count, charged, refunded in rows
        }
        self.delivery_groups(send, groups, sign)

    def save(self) -> None:
        """Add the differences to the tallies; rows left counting nothing are removed."""
        organizations = {key[0] for key in self.sends} | {key[0] for key in self.deliveries}
        _lock(sorted(organizations), shared=True)
        _upsert(SendTally, SEND_KEY, SEND_SUMS, self.sends)
        _upsert(SendMonthTally, SEND_MONTH_KEY, SEND_SUMS, _by_month(self.sends))
        _upsert(DeliveryTally, DELIVERY_KEY, DELIVERY_SUMS, self.deliveries)
        self.sends.clear()
        self.deliveries.clear()


def _by_month(sends: dict[Key, Sums]) -> dict[Key, Sums]:
    """The send tallies' differences summed by month (SendMonthTally's rows)."""
    months: dict[Key, Sums] = defaultdict(lambda: [0] * len(SEND_SUMS))
    for (organization_id, day, *rest), values in sends.items():
        _add(months[(organization_id, day.replace(day=1), *rest)], values, 1)
    return months


def _lock(organization_ids: list[int], *, shared: bool) -> None:
    """Until the transaction ends: shared by writers of these organizations' tallies, alone
    by a recount, which so never misses a change made while it reads nor counts one twice.
    SQLite runs one writing transaction at a time anyway."""
    if connection.vendor != "postgresql" or not organization_ids:
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        for organization_id in organization_ids:  # in order: no deadlock between writers
            cursor.execute(f"SELECT {function}(%s)", [LOCK_BASE + organization_id])


def _add(sums: Sums, values: Sequence[int | Decimal], sign: int) -> None:
    for index, value in enumerate(values):
        sums[index] += sign * value


def _upsert(model: Any, key: Sequence[str], sums: Sequence[str], changes: dict[Key, Sums]) -> None:
    """INSERT … ON CONFLICT DO UPDATE adding each difference to its row, rows in key order
    so that two transactions touching the same rows lock them in the same order."""
    rows = sorted((k, v) for k, v in changes.items() if any(value != 0 for value in v))
    if not rows:
        return
    table = model._meta.db_table
    period = key[1]  # day or month
    columns = [*key, *sums]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    additions = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sums)
    # The first sum counts rows (sends, deliveries): nothing left counts nothing.
    emptied = f"DELETE FROM {table} WHERE {sums[0]} = 0 AND organization_id = %s AND {period} = %s"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                + ", ".join([placeholders] * len(chunk))
                + f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {additions}",
                [value for k, v in chunk for value in (*k, *v)],
            )
        # Only a row that lost something can have reached nothing.
        for organization_id, moment in sorted({(k[0], k[1]) for k, v in rows if v[0] < 0}):
            cursor.execute(emptied, [organization_id, moment])


def tally_removed(sends: list[SendRequest]) -> TallyChanges:
    """The differences that deleting these sends (loaded, and locked by the caller) and
    their deliveries makes: the sends counted away as they are, their deliveries read in
    one grouped query by send, without a join (the purge's batches)."""
    changes = TallyChanges()
    by_id = {send.pk: send for send in sends}
    for send in sends:
        changes.send(send, -1)
    rows = (
        Delivery.objects.of_sends(sends)
        .order_by()
        .values_list("send_request_id", *DELIVERY_KEY[4:])
        .annotate(Count("id"), Sum("points_charged"), Sum("points_refunded"))
    )
    for send_id, final_channel, status, code, carrier, count, charged, refunded in rows:
        send = by_id[send_id]
        key = (
            send.organization_id,
            changes._day(send),
            send.sender_id,
            send.channel,
            final_channel,
            status,
            code,
            carrier,
        )
        _add(changes.deliveries[key], (count, charged or 0, refunded or 0), -1)
    return changes


def tally_of_sends(sends: QuerySet[SendRequest]) -> TallyChanges:
    """What these sends and their deliveries add to the tallies, read in two grouped
    queries (a recount: an organization's whole history, never loaded row by row)."""
    changes = TallyChanges()
    zone = timezone.get_default_timezone()
    day = TruncDate("requested_at", tzinfo=zone)
    send_rows = (
        sends.order_by()
        .annotate(day=day)
        .values_list(*SEND_KEY[:1], "day", *SEND_KEY[2:])
        .annotate(
            Count("id"),
            Sum("recipient_count"),
            Sum("success_count"),
            Sum("failure_count"),
            Sum("sending_count"),
            Sum("waiting_count"),
            Sum("cancelled_count"),
            Sum("points_charged"),
            Sum("points_refunded"),
        )
    )
    for row in send_rows:
        _add(changes.sends[tuple(row[: len(SEND_KEY)])], row[len(SEND_KEY) :], 1)
    # The deliveries of the sends' months only, and each one's day from its own copy of
    # the send's requested_at (PostgreSQL prunes on the delivery's column, not the send's).
    span = sends.aggregate(first=Min("requested_at"), last=Max("requested_at"))
    if span["first"] is None:
        return changes
    delivery_rows = (
        Delivery.objects.filter(send_request__in=sends.values("id"))
        .requested_within(span["first"], span["last"])
        .order_by()
        .annotate(
            day=TruncDate("requested_at", tzinfo=zone),
            sender_id=F("send_request__sender_id"),
            channel=F("send_request__channel"),
        )
        .values_list("organization_id", "day", "sender_id", "channel", *DELIVERY_KEY[4:])
        .annotate(Count("id"), Sum("points_charged"), Sum("points_refunded"))
    )
    for row in delivery_rows:
        _add(changes.deliveries[tuple(row[: len(DELIVERY_KEY)])], row[len(DELIVERY_KEY) :], 1)
    return changes


def rebuild_tallies(organizations: Iterable[Organization] | None = None) -> tuple[int, int]:
    """Recount the tallies of these organizations (all, by default) from their sends and
    deliveries, each organization in one transaction; returns the rows written."""
    chosen = list(organizations) if organizations is not None else Organization.objects.all()
    written = (0, 0)
    for organization in chosen:
        with transaction.atomic():
            # Writers wait meanwhile; a change whose rows it reads as they were before is
            # added by its writer after the recount commits.
            _lock([organization.pk], shared=False)
            for model in (SendTally, SendMonthTally, DeliveryTally):
                model.objects.filter(organization=organization).delete()
            sends = SendRequest.objects.filter(organization=organization)
            changes = tally_of_sends(sends)
            written = (written[0] + len(changes.sends), written[1] + len(changes.deliveries))
            changes.save()
    if connection.vendor == "postgresql":
        # Fresh statistics: the planner otherwise takes the new rows for a handful (a
        # year's fallback query read 9,471 rows it estimated at 1).
        with connection.cursor() as cursor:
            tables = (SendTally, SendMonthTally, DeliveryTally)
            cursor.execute(f"ANALYZE {', '.join(model._meta.db_table for model in tables)}")
    return written
