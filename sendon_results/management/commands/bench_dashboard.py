"""Times the dashboard, whole requests through Django, on this database.

Seed first (`seed_scale` on PostgreSQL) and count the tallies (`rebuild_tallies`), then
`manage.py bench_dashboard`. Reports p50/p95 server time per period over --repeat
requests, for the organization with most sends, and the slowest query's plan. Reads only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from ...benchmarks import chosen_organization, explain_slowest, signed_in_client, time_url
from ...models import DeliveryTally, SenderProfile, SendTally


class Command(BaseCommand):
    help = "Measure the dashboard over 30 days, 90 days and a year, whole and filtered."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per period")
        parser.add_argument("--organization", help="its name; default: the one with most sends")

    def handle(self, *args: Any, repeat: int, organization: str | None, **options: Any) -> None:
        chosen = chosen_organization(organization)
        client = signed_in_client(chosen) if chosen else None
        if chosen is None or client is None:
            self.stderr.write("No organization with members: run seed_demo first.")
            return

        today = timezone.localdate()
        tallies = SendTally.objects.filter(organization=chosen)
        self.stdout.write(
            f"{connection.vendor}: {chosen.name}, {chosen.sends:,} sends; tally rows: "
            f"{tallies.count():,} send, "
            f"{DeliveryTally.objects.filter(organization=chosen).count():,} delivery; "
            f"{repeat} requests per period, p50 / p95 in ms"
        )
        busiest = (
            tallies.values_list("sender_id", flat=True)
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        sender = SenderProfile.objects.filter(pk=busiest).first() if busiest else None
        year = f"requested_from={(today - timedelta(days=364)).isoformat()}"
        periods = {
            "30 days": "",
            "90 days": f"requested_from={(today - timedelta(days=89)).isoformat()}",
            "a year": year,
            "a year, one sender": f"{year}&sender={sender.pk}" if sender else year,
            "a year, alimtalk": f"{year}&channel=alimtalk",
        }
        for label, query in periods.items():
            self.stdout.write(f"{label:<24}{time_url(client, f'/dashboard/?{query}', repeat):>20}")
        urls = [f"/dashboard/?{query}" for query in periods.values()]
        explain_slowest(client, urls, self.stdout.write)
