"""Times a recipient's history (/recipients/), whole requests through Django, on this
database, read-only: every request runs in one transaction that is rolled back at the end
(the page records each search in the access record, and signing in writes a session).

Seed first (`seed_scale` on PostgreSQL), then `manage.py bench_history`. Reports p50/p95
server time of the first, a deeper and the last page of demo.DEMO_NUMBER's history over
the whole retention window, by the whole number and by its last four digits, then
EXPLAIN (ANALYZE, BUFFERS) of the page query.
"""

from __future__ import annotations

import html
import logging
import re
import statistics
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from ...demo import DEMO_NUMBER
from ...models import Confirmation, Delivery, Membership, Organization
from ...recipients.history import deliveries_to
from ...retention import oldest_kept_day

NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')
LAST_LINK = re.compile(r'<a href="([^"]+)" rel="last">')


class Command(BaseCommand):
    help = "Measure a recipient's history page (first, deeper, last; number and last four)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=30, help="requests per page")
        parser.add_argument("--number", default=DEMO_NUMBER, help="digits; default DEMO_NUMBER")
        parser.add_argument(
            "--days", type=int, default=0, help="the period's length up to today; 0: all kept"
        )

    def handle(self, *args: Any, repeat: int, number: str, days: int, **options: Any) -> None:
        logging.getLogger("sendon_results.requests").setLevel(logging.WARNING)
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
        busiest = (
            Delivery.objects.filter(recipient=number)
            .values("organization")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        if busiest is None:
            self.stderr.write(f"No deliveries to {number[-4:]}: run seed_scale first.")
            return
        organization = Organization.objects.get(pk=busiest["organization"])
        member = Membership.objects.filter(organization=organization).first()
        if member is None:
            self.stderr.write("That organization has no members.")
            return
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(member.user)
        client.post("/organizations/switch/", {"organization": organization.pk})
        today = timezone.localdate()
        start = today - timedelta(days=days - 1) if days else oldest_kept_day(today)
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
            deep = self._follow(client, first, NEXT_LINK, 4)
            last = self._follow(client, first, LAST_LINK, 1)
            row = [
                self._time(client, url, repeat) if url else "(one page)"
                for url in (first, deep, last)
            ]
            self.stdout.write(f"{label:<20}" + "".join(f"{cell:>16}" for cell in row))
        queryset = (
            deliveries_to(organization, number, start, today, ending=False)
            .select_related("send_request__sender")
            .order_by("-send_request__requested_at", "-send_request_id", "-id")[:51]
        )
        sql, params = queryset.query.sql_with_params()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                self.stdout.write("\nfirst page's query:")
                for (line,) in cursor.fetchall():
                    self.stdout.write(f"  {line}")

    def _follow(self, client: Client, url: str, link: re.Pattern[str], times: int) -> str | None:
        for _ in range(times):
            found = link.search(client.get(url).content.decode())
            if not found:
                return None
            url = html.unescape(found.group(1))
            if url.startswith("?"):
                url = "/recipients/" + url
        return url

    def _time(self, client: Client, url: str, repeat: int) -> str:
        client.get(url)  # warm
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        return _percentiles(timings)


def _percentiles(timings: list[float]) -> str:
    p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
    return f"{statistics.median(timings):.1f} / {p95:.1f}"
