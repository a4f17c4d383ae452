"""Times the results list and detail pages, whole requests through Django, on this database.

Seed first (e.g. `seed_demo --sends 1000000 --max-recipients 6` on PostgreSQL), then
`manage.py bench_results`. Reports p50/p95 server time per page over --repeat requests.
"""

from __future__ import annotations

import html
import re
import statistics
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from ...demo import DEMO_NUMBER
from ...models import Membership, Organization, SenderProfile, SendRequest

NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')


class Command(BaseCommand):
    help = "Measure the results list (first, deep and oldest pages, each filter) and detail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="requests per page")
        parser.add_argument("--depth", type=int, default=100, help="the deep page's number")

    def handle(self, *args: Any, repeat: int, depth: int, **options: Any) -> None:
        organization = (
            Organization.objects.annotate(sends=Count("send_requests")).order_by("-sends").first()
        )
        member = Membership.objects.filter(organization=organization).first()
        if member is None:
            self.stderr.write("No organization with members: run seed_demo first.")
            return
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(member.user)
        client.post("/organizations/switch/", {"organization": organization.pk})

        sends = SendRequest.objects.filter(organization=organization)
        deliveries = sum(sends.values_list("recipient_count", flat=True).iterator(50_000))
        self.stdout.write(
            f"{connection.vendor}: {organization.name} holds {sends.count():,} sends, "
            f"{deliveries:,} deliveries; {repeat} requests per page, p50 / p95 in ms"
        )
        kakao = SenderProfile.objects.filter(organization=organization, kind="kakao").first()
        month_ago = (timezone.localdate() - timezone.timedelta(days=30)).isoformat()
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
            "status+channel+period": (
                f"status=completed&channel=alimtalk&requested_from={month_ago}"
            ),
        }
        self.stdout.write(f"{'page':<34}{'first':>16}{f'page {depth}':>16}{'oldest':>16}")
        for label, query in queries.items():
            deep = self._deep_url(client, f"/results/?{query}", depth)
            row = [
                self._time(client, f"/results/?{query}", repeat),
                self._time(client, deep, repeat) if deep else "(fewer pages)",
                self._time(client, f"/results/?{query}&order=oldest", repeat),
            ]
            self.stdout.write(f"{label:<34}" + "".join(f"{cell:>16}" for cell in row))

        largest = sends.order_by("-recipient_count").first()
        if largest:
            detail = f"/results/{largest.pk}/"
            self.stdout.write(
                f"{f'detail ({largest.recipient_count:,} recipients)':<34}"
                f"{self._time(client, detail, repeat):>16}"
                f"{self._time(client, detail + '?outcome=failure', repeat):>16}  (failures only)"
            )

    def _deep_url(self, client: Client, url: str, depth: int) -> str | None:
        """Follow "next" links to page `depth`, as a user would."""
        for _ in range(depth - 1):
            found = NEXT_LINK.search(client.get(url).content.decode())
            if not found:
                return None
            url = "/results/" + html.unescape(found.group(1))
        return url

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
