"""Times writing one event of the access record, as a page does.

`manage.py bench_audit [--events 10000] [--table-rows N]`: calls `audit.record()` that
many times for a request of a signed-in member (address, user agent, a detail like a send
view's), each INSERT committed on its own as in a request (autocommit), and
reports the mean, median, p95 and p99 per call. Then, to tell the INSERT from the disk:
on PostgreSQL the same with this connection's commits not waiting for the WAL flush
(`synchronous_commit = off`, this session only: never how the console writes), and the
same inside one transaction (no commit at all).

`--table-rows N` (PostgreSQL) first fills the table with N events of its own over the
last two years (one `INSERT … SELECT` over `generate_series`), so that the INSERTs are
timed against indexes of that size.

It cleans up after itself: its events are deleted with the retention purge's permission
(the one DELETE the append-only trigger lets through), then its member and organization.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test import RequestFactory

from ... import audit
from ...models import AccessEvent, Membership, Organization

BENCH_NAME = "bench-audit"


class Command(BaseCommand):
    help = "Measure one access-record event's write: mean and percentiles per record() call."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=10_000, help="record() calls")
        parser.add_argument(
            "--table-rows", type=int, default=0, help="events in the table first (PostgreSQL)"
        )

    def handle(self, *args: Any, events: int, table_rows: int, **options: Any) -> None:
        if table_rows and connection.vendor != "postgresql":
            raise CommandError("--table-rows needs PostgreSQL")
        organization = Organization.objects.create(name=BENCH_NAME)
        user = get_user_model().objects.create_user(username=BENCH_NAME)
        Membership.objects.create(user=user, organization=organization, role="owner")
        request = RequestFactory().get(
            "/results/1/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Mozilla/5.0 " * 20
        )
        request.user = user
        cast(Any, request).organization = organization  # as OrganizationMiddleware sets it
        try:
            if table_rows:
                self._fill(organization, user, table_rows)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {AccessEvent._meta.db_table}")
                existing = cursor.fetchone()[0]
            self.stdout.write(
                f"{connection.vendor}, {existing:,} events in the table; {events:,} record() calls"
            )
            self._report("autocommit (as in a request)", self._time(request, events))
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET synchronous_commit = off")
                self._report("commits not waiting for the disk", self._time(request, events))
                with connection.cursor() as cursor:
                    cursor.execute("RESET synchronous_commit")
            with transaction.atomic():
                self._report("inside one transaction", self._time(request, events))
        finally:
            removed = self._clean_up()
            user.delete()
            organization.delete()
            self.stdout.write(f"cleaned up: {removed:,} events of its own deleted")

    def _fill(self, organization: Organization, user: Any, rows: int) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {AccessEvent._meta.db_table} (at, action, user_id, username,
                    organization_id, organization_name, address, user_agent, object_type,
                    object_id, detail)
                SELECT now() - (i * interval '730 days' / %s), 'send_viewed', %s, %s, %s, %s,
                    '203.0.113.7', 'Mozilla/5.0', 'sendrequest', i, '{{"numbers": "masked"}}'
                FROM generate_series(1, %s) AS i
                """,
                [rows, user.pk, BENCH_NAME, organization.pk, BENCH_NAME, rows],
            )
            cursor.execute(f"ANALYZE {AccessEvent._meta.db_table}")
        self.stdout.write(f"filled: {rows:,} events in {time.perf_counter() - started:.1f} s")

    def _time(self, request: Any, events: int) -> list[float]:
        timings = []
        for i in range(events):
            detail = {"numbers": "masked", "recipients": ["010-****-5678"]} if i % 10 else {}
            started = time.perf_counter()
            audit.record(request, audit.Action.SEND_VIEWED, detail=detail)
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    def _report(self, label: str, timings: list[float]) -> None:
        timings.sort()
        self.stdout.write(
            f"{label}: mean {statistics.fmean(timings):.3f} ms, median "
            f"{statistics.median(timings):.3f} ms, p95 {timings[int(len(timings) * 0.95)]:.3f} "
            f"ms, p99 {timings[int(len(timings) * 0.99)]:.3f} ms, max {timings[-1]:.3f} ms"
        )

    def _clean_up(self) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL sendon.audit_purge = 'on'")
            cursor.execute(
                f"DELETE FROM {AccessEvent._meta.db_table} WHERE username = %s",
                [BENCH_NAME],
            )
            removed = cursor.rowcount
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL sendon.audit_purge = 'off'")
        return removed
