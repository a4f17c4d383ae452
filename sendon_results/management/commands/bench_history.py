"""Times a recipient's history (/recipients/), whole requests through Django, on this
database, read-only: every request runs in one transaction that is rolled back at the end
(the page records each search in the access record, and signing in writes a session).

Seed first (`seed_scale` on PostgreSQL), then `manage.py bench_history`. Reports p50/p95
server time of the first, a deeper and the last page of demo.DEMO_NUMBER's history over
the whole retention window, by the whole number and by its last four digits, then
EXPLAIN (ANALYZE, BUFFERS) of the page query.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from ...benchmarks import LAST_LINK, NEXT_LINK, follow, plan, signed_in_client, time_url
from ...dates import day_start
from ...demo import DEMO_NUMBER
from ...models import Confirmation, Delivery, Organization
from ...recipients.history import deliveries_to
from ...retention import oldest_kept_day


class Command(BaseCommand):
    help = "Measure a recipient's history page (first, deeper, last; number and last four)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=30, help="requests per page")
        parser.add_argument("--number", default=DEMO_NUMBER, help="digits; default DEMO_NUMBER")
        parser.add_argument(
            "--days", type=int, default=0, help="the period's length up to today; 0: all kept"
        )

    def handle(self, *args: Any, repeat: int, number: str, days: int, **options: Any) -> None:
        with transaction.atomic():
            if Confirmation._meta.db_table not in connection.introspection.table_names():
                # A benchmark database seeded before confirmations existed: their (empty)
                # table, made inside this transaction and rolled back with it (PostgreSQL's
                # DDL is transactional), so the page can list them.
                with connection.schema_editor(atomic=False) as editor:
                    editor.create_model(Confirmation)
            self._bench(repeat, number, days)
            transaction.set_rollback(True)  # leave the database as it was

    def _bench(self, repeat: int, number: str, days: int) -> None:
        today = timezone.localdate()
        start = today - timedelta(days=days - 1) if days else oldest_kept_day(today)
        busiest = (
            Delivery.objects.filter(recipient=number, requested_at__gte=day_start(start))
            .values("organization")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        if busiest is None:
            self.stderr.write(f"No deliveries to {number[-4:]}: run seed_scale first.")
            return
        organization = Organization.objects.get(pk=busiest["organization"])
        client = signed_in_client(organization)
        if client is None:
            self.stderr.write("That organization has no members.")
            return
        period = f"requested_from={start.isoformat()}&requested_to={today.isoformat()}"
        kept = deliveries_to(organization, number, start, today, ending=False).count()
        ending = deliveries_to(organization, number[-4:], start, today, ending=True).count()
        self.stdout.write(
            f"{connection.vendor}: {organization.name}, {start} ~ {today}: {kept:,} deliveries "
            f"to the number and {ending:,} to its last four digits; {repeat} requests per page, "
            "p50 / p95 in ms"
        )
        self.stdout.write(f"{'history':<20}{'first':>16}{'page 5':>16}{'last':>16}")
        for label, typed in (("whole number", number), ("last four", number[-4:])):
            first = f"/recipients/?number={typed}&{period}"
            deep = follow(client, first, NEXT_LINK, 4)
            last = follow(client, first, LAST_LINK, 1)
            row = [
                time_url(client, url, repeat) if url else "(one page)"
                for url in (first, deep, last)
            ]
            self.stdout.write(f"{label:<20}" + "".join(f"{cell:>16}" for cell in row))
        queryset = (
            deliveries_to(organization, number, start, today, ending=False)
            .select_related("send_request__sender")
            .order_by("-requested_at", "-send_request_id", "-id")[:51]
        )
        lines = plan(*queryset.query.sql_with_params())
        if lines:
            self.stdout.write("\nfirst page's query:")
            for line in lines:
                self.stdout.write(f"  {line}")
