"""Times the failure analysis page, whole requests through Django, on this database.

Seed first (`seed_scale` on PostgreSQL, then `rebuild_tallies`), then `manage.py
bench_failures`. Reports p50/p95 server time for a month, three months and a year of the
organization with most sends (all senders and channels, one sender, one channel), then
EXPLAIN (ANALYZE, BUFFERS) of the page's tally query for the year. Reads only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count, Sum
from django.test import Client
from django.utils import timezone

from ...benchmarks import chosen_organization, plan, queries_of, signed_in_client, time_url
from ...models import DeliveryTally, SenderProfile
from ...retention import oldest_kept_day

PERIODS = {"a month": 30, "3 months": 91, "a year": 365}


class Command(BaseCommand):
    help = "Measure the failure analysis page for a month, three months and a year."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per page")
        parser.add_argument("--organization", help="its name; default: the one with most sends")

    def handle(self, *args: Any, repeat: int, organization: str | None, **options: Any) -> None:
        chosen = chosen_organization(organization)
        client = signed_in_client(chosen) if chosen else None
        if chosen is None or client is None:
            self.stderr.write("No organization with members: run seed_demo first.")
            return

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
            row = [time_url(client, period + extra, repeat) for extra in scopes.values()]
            self.stdout.write(f"{label:<18}" + "".join(f"{cell:>20}" for cell in row))
        self._explain(client, f"/failures/?requested_from={oldest_kept_day(today)}")

    def _explain(self, client: Client, url: str) -> None:
        """EXPLAIN (ANALYZE, BUFFERS) of the tally query the page runs for `url`."""
        tally = [query for query in queries_of(client, [url]) if "deliverytally" in query.sql]
        lines = plan(tally[0].sql, tally[0].params) if tally else []
        if not lines:
            return
        self.stdout.write(f"\nThe tally query of {url}:")
        self.stdout.write("\n".join(lines))
