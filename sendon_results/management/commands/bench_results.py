"""Times the results list and detail pages, whole requests through Django, on this database.

Seed first (`seed_scale` on PostgreSQL), then `manage.py bench_results`. Reports p50/p95
server time per page over --repeat requests, then EXPLAIN (ANALYZE, BUFFERS) of the
slowest query of the slowest page.
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
from django.db import connection
from django.db.models import Count
from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from ...demo import DEMO_NUMBER
from ...models import Membership, Organization, SenderProfile, SendRequest
from ...results.filters import SendRequestFilter
from ...results.summary import summarize, tallied
from ...results.views import bounded_count
from ...retention import kept

NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')
LAST_LINK = re.compile(r'<a href="([^"]+)" rel="last">')


class Command(BaseCommand):
    help = "Measure the results list (first, deep and oldest pages, each filter) and detail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per page")
        parser.add_argument("--depth", type=int, default=100, help="the deep page's number")
        parser.add_argument("--organization", help="its name; default: the one with most sends")

    def handle(
        self, *args: Any, repeat: int, depth: int, organization: str | None, **options: Any
    ) -> None:
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
            deep = self._follow(client, first, NEXT_LINK, depth - 1)
            last = self._follow(client, first, LAST_LINK, 1)
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
            last = self._follow(client, detail, LAST_LINK, 1)
            row = [
                self._time(client, detail, repeat),
                self._time(client, last, repeat) if last else "(one page)",
                self._time(client, detail + "?outcome=failure", repeat),
            ]
            self.stdout.write(f"{'':<26}" + "".join(f"{cell:>16}" for cell in row))
        self._explain_slowest(client)

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
            self.stdout.write(f"{label:<26}{_percentiles(timings) + ' ' + how:>20}{own:>16}")

    def _follow(self, client: Client, url: str, link: re.Pattern[str], times: int) -> str | None:
        """Follow a pager link `times` times, as a user would; None where the pages end."""
        path = url.split("?", 1)[0]
        for _ in range(times):
            found = link.search(client.get(url).content.decode())
            if not found:
                return None
            url = path + html.unescape(found.group(1))
        return url

    def _time(self, client: Client, url: str, repeat: int) -> str:
        client.get(url)  # warm
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        self.measured.append(url)
        return _percentiles(timings)

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


def _percentiles(timings: list[float]) -> str:
    """p50 / p95 in milliseconds."""
    ordered = sorted(timings)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered):.1f} / {p95:.1f}"
