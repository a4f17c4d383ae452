"""Times the failure analysis page, whole requests through Django, on this database.

Seed first (`seed_scale` on PostgreSQL, then `rebuild_tallies`), then `manage.py
bench_failures`. Reports p50/p95 server time for a month, three months and a year of the
organization with most sends (all senders and channels, one sender, one channel), then
EXPLAIN (ANALYZE, BUFFERS) of the page's tally query for the year. Reads only.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count, Sum
from django.test import Client
from django.utils import timezone

from ...models import DeliveryTally, Membership, Organization, SenderProfile
from ...retention import oldest_kept_day

PERIODS = {"a month": 30, "3 months": 91, "a year": 365}


class Command(BaseCommand):
    help = "Measure the failure analysis page for a month, three months and a year."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per page")
        parser.add_argument("--organization", help="its name; default: the one with most sends")

    def handle(self, *args: Any, repeat: int, organization: str | None, **options: Any) -> None:
        logging.getLogger("sendon_results.requests").setLevel(logging.WARNING)  # not per request
        organizations = Organization.objects.annotate(sends=Count("send_requests"))
        chosen = (
            organizations.filter(name=organization)
            if organization
            else organizations.order_by("-sends")
        ).first()
        member = Membership.objects.filter(organization=chosen).first()
        if chosen is None or member is None:
            self.stderr.write("No organization with members: run seed_demo first.")
            return
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(member.user)
        client.post("/organizations/switch/", {"organization": chosen.pk})

        today = timezone.localdate()
        tallies = DeliveryTally.objects.filter(organization=chosen)
        counted = tallies.aggregate(rows=Count("id"), deliveries=Sum("deliveries"))
        self.stdout.write(
            f"{connection.vendor}: {chosen.name} has {counted['rows']:,} delivery tally rows "
            f"counting {counted['deliveries'] or 0:,} deliveries; {repeat} requests per page, "
            "p50 / p95 in ms"
        )
        sender = (
            SenderProfile.objects.filter(organization=chosen)
            .annotate(n=Count("send_requests"))
            .order_by("-n")
            .first()
        )
        scopes = {
            "all": "",
            "one sender": f"&sender={sender.pk}" if sender else "",
            "channel=alimtalk": "&channel=alimtalk",
        }
        self.stdout.write(f"{'failure analysis':<18}" + "".join(f"{s:>20}" for s in scopes))
        for label, days in PERIODS.items():
            start = max(today - timedelta(days=days - 1), oldest_kept_day(today))
            period = f"/failures/?requested_from={start.isoformat()}&requested_to={today}"
            row = [self._time(client, period + extra, repeat) for extra in scopes.values()]
            self.stdout.write(f"{label:<18}" + "".join(f"{cell:>20}" for cell in row))
        self._explain(client, f"/failures/?requested_from={oldest_kept_day(today)}")

    def _time(self, client: Client, url: str, repeat: int) -> str:
        client.get(url)  # warm
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        timings.sort()
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        return f"{statistics.median(timings):.1f} / {p95:.1f}"

    def _explain(self, client: Client, url: str) -> None:
        """EXPLAIN (ANALYZE, BUFFERS) of the tally query the page runs for `url`."""
        queries: list[tuple[str, Any]] = []

        def kept(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            queries.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(kept):
            client.get(url)
        tally = [(sql, params) for sql, params in queries if "deliverytally" in sql]
        if not tally or connection.vendor != "postgresql":
            return
        sql, params = tally[0]
        self.stdout.write(f"\nThe tally query of {url}:")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            self.stdout.write("\n".join(line for (line,) in cursor.fetchall()))
