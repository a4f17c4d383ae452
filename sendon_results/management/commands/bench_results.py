"""Times the results list and detail pages, whole requests through Django, on this database.

Seed first (`seed_scale` on PostgreSQL), then `manage.py bench_results`. Reports p50/p95
server time per page over --repeat requests, then EXPLAIN (ANALYZE, BUFFERS) of the
slowest query of the slowest page.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from ...benchmarks import (
    LAST_LINK,
    NEXT_LINK,
    chosen_organization,
    explain_slowest,
    follow,
    percentiles,
    signed_in_client,
    time_url,
)
from ...demo import DEMO_NUMBER
from ...models import Organization, SenderProfile, SendRequest
from ...results.filters import SendRequestFilter
from ...results.summary import summarize, tallied
from ...results.views import bounded_count
from ...retention import kept


class Command(BaseCommand):
    help = "Measure the results list (first, deep and oldest pages, each filter) and detail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per page")
        parser.add_argument("--depth", type=int, default=100, help="the deep page's number")
        parser.add_argument("--organization", help="its name; default: the one with most sends")

    def handle(
        self, *args: Any, repeat: int, depth: int, organization: str | None, **options: Any
    ) -> None:
        chosen = chosen_organization(organization)
        client = signed_in_client(chosen) if chosen else None
        if chosen is None or client is None:
            self.stderr.write("No organization with members: run seed_demo first.")
            return

        sends = SendRequest.objects.filter(organization=chosen)
        deliveries = sum(sends.values_list("recipient_count", flat=True).iterator(50_000))
        self.stdout.write(
            f"{connection.vendor}: {chosen.name} holds {sends.count():,} sends, "
            f"{deliveries:,} deliveries; {repeat} requests per page, p50 / p95 in ms"
        )
        kakao = SenderProfile.objects.filter(organization=chosen, kind="kakao").first()
        month_ago = (timezone.localdate() - timedelta(days=30)).isoformat()
        queries = {
            "unfiltered": "",
            "status=failed": "status=failed",
            "outcome=failure": "outcome=failure",
            "outcome=sending": "outcome=sending",
            "sender=<kakao>": f"sender={kakao.pk}" if kakao else "",
            "channel=mms": "channel=mms",
            "source=web": "source=web",
            "last 30 days": f"requested_from={month_ago}",
            "q=인증번호": "q=인증번호",
            "recipient": f"recipient={DEMO_NUMBER}",
            "recipient=<last 4>": f"recipient={DEMO_NUMBER[-4:]}",
            "status+channel+period": (
                f"status=completed&channel=alimtalk&requested_from={month_ago}"
            ),
        }
        self.measured: list[str] = []
        columns = ("first", f"page {depth}", "last")
        self.stdout.write(f"{'results list':<26}" + "".join(f"{c:>16}" for c in columns))
        for label, query in queries.items():
            first = f"/results/?{query}"
            deep = follow(client, first, NEXT_LINK, depth - 1)
            last = follow(client, first, LAST_LINK, 1)
            row = [
                self._time(client, url, repeat) if url else "(one page)"
                for url in (first, deep, last)
            ]
            self.stdout.write(f"{label:<26}" + "".join(f"{cell:>16}" for cell in row))

        self._time_summaries(chosen, queries, client, repeat)

        # The largest send the pages still show (an older one is past the retention window).
        largest = kept(sends).order_by("-recipient_count").first()
        if largest:
            detail = f"/results/{largest.pk}/"
            self.stdout.write(
                f"{f'detail, {largest.recipient_count:,} recipients':<26}"
                f"{'first':>16}{'last':>16}{'failures only':>16}"
            )
            last = follow(client, detail, LAST_LINK, 1)
            row = [
                self._time(client, detail, repeat),
                self._time(client, last, repeat) if last else "(one page)",
                self._time(client, detail + "?outcome=failure", repeat),
            ]
            self.stdout.write(f"{'':<26}" + "".join(f"{cell:>16}" for cell in row))
        explain_slowest(client, self.measured, self.stdout.write)

    def _time_summaries(
        self, organization: Organization, queries: dict[str, str], client: Client, repeat: int
    ) -> None:
        """What the summary adds to each list page: the summary alone, as the list view
        computes it after its bounded count; where it is summed in a request of its own
        instead, that request."""
        self.stdout.write(
            f"\n{'summary above the list':<26}{'adds to the page':>20}{'own request':>16}"
        )
        for label, query in queries.items():
            filterset = SendRequestFilter(QueryDict(query), organization=organization)
            assert filterset.is_valid(), filterset.errors
            count, capped = bounded_count(filterset.qs)
            matched = None if capped else count
            summarize(filterset, matched=matched)  # warm
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                found = summarize(filterset, matched=matched)
                timings.append((time.perf_counter() - started) * 1000)
            own = "" if found else self._time(client, f"/results/summary/?{query}", repeat)
            how = "tallies" if tallied(filterset) else "sends" if found else "(deferred)"
            self.stdout.write(f"{label:<26}{percentiles(timings) + ' ' + how:>20}{own:>16}")

    def _time(self, client: Client, url: str, repeat: int) -> str:
        """Times `url` and keeps it among the pages whose slowest query is explained."""
        self.measured.append(url)
        return time_url(client, url, repeat)
