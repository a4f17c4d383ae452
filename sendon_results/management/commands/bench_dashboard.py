"""Times the dashboard, whole requests through Django, on this database.

Seed first (`seed_scale` on PostgreSQL) and count the tallies (`rebuild_tallies`), then
`manage.py bench_dashboard`. Reports p50/p95 server time per period over --repeat
requests, for the organization with most sends, and the slowest query's plan. Reads only.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from ...accounts.middleware import SESSION_KEY
from ...models import DeliveryTally, Membership, Organization, SenderProfile, SendTally


class Command(BaseCommand):
    help = "Measure the dashboard over 30 days, 90 days and a year, whole and filtered."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per period")
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
        # force_login writes one session row; the organization worked in is the member's
        # first unless the session says otherwise, so say it there too.
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(member.user)
        session = client.session
        session[SESSION_KEY] = chosen.pk
        session.save()

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
        self.measured: list[str] = []
        for label, query in periods.items():
            self.stdout.write(
                f"{label:<24}{self._time(client, f'/dashboard/?{query}', repeat):>20}"
            )
        self._explain_slowest(client)

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
        self.measured.append(url)
        return f"{statistics.median(timings):.1f} / {p95:.1f}"

    def _explain_slowest(self, client: Client) -> None:
        """EXPLAIN (ANALYZE, BUFFERS) of the slowest database query any measured page ran."""
        queries: list[tuple[float, str, Any, str]] = []

        def timed(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries.append((time.perf_counter() - started, sql, params, url))

        with connection.execute_wrapper(timed):
            for url in self.measured:
                client.get(url)
        seconds, sql, params, url = max(queries, key=lambda query: query[0])
        self.stdout.write(f"\nSlowest query ({seconds * 1000:.1f} ms), on {url}:")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                self.stdout.write("\n".join(line for (line,) in cursor.fetchall()))
