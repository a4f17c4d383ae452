"""Which monthly partitions each page's queries read (PostgreSQL): every query on sends or
deliveries that the results list, a send's page and a number's history run, with the
partitions in its plan, those it read, and its planning and execution time.

Seed and convert first (`seed_scale`, `migrate`), then `manage.py bench_partitions`;
`--plans` prints each plan whole. Figures: docs/benchmarks.md "Monthly partitions".
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils import timezone

from ...benchmarks import chosen_organization, plan, queries_of, signed_in_client
from ...demo import DEMO_NUMBER
from ...models import SendRequest

PARTITION = re.compile(r" on (sendon_results_(?:sendrequest|delivery)_p\d{4}_\d{2})\b")
TIMES = re.compile(r"^(Planning|Execution) Time: ([\d.]+) ms")


class Command(BaseCommand):
    help = "Show the partitions each page's queries on sends and deliveries read."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", help="its name; default: the one with most sends")
        parser.add_argument("--plans", action="store_true", help="print every plan whole")

    def handle(self, *args: Any, organization: str | None, plans: bool, **options: Any) -> None:
        if connection.vendor != "postgresql":
            self.stderr.write("Partitions are PostgreSQL's: set DATABASE_URL to one.")
            return
        chosen = chosen_organization(organization)
        client = signed_in_client(chosen) if chosen else None
        if chosen is None or client is None:
            self.stderr.write("No organization with members: run seed_scale first.")
            return
        biggest = SendRequest.objects.filter(organization=chosen).order_by("-recipient_count")[0]
        week = (timezone.localdate() - timedelta(days=6)).isoformat()
        pages = {
            "list, no filter": "/results/",
            "list, status=failed": "/results/?status=failed",
            "list, last 7 days": f"/results/?requested_from={week}",
            "list, a busy number": f"/results/?recipient={DEMO_NUMBER}",
            "list, last four digits": f"/results/?recipient={DEMO_NUMBER[-4:]}",
            "summary, a busy number": f"/results/summary/?recipient={DEMO_NUMBER}",
            "a send's page (10,000 recipients)": f"/results/{biggest.pk}/",
            "its failures": f"/results/{biggest.pk}/?status=failure",
            "a number's history (its default period)": f"/recipients/?number={DEMO_NUMBER}",
        }
        self.stdout.write(
            f"{chosen.name}: partitions of sends and deliveries in the plan / read; "
            "planning + execution ms"
        )
        for name, url in pages.items():
            client.get(url)  # a warm cache, as a page met twice
            for query in queries_of(client, [url]):
                if not re.search(r"sendon_results_(sendrequest|delivery)\b", query.sql):
                    continue
                lines = plan(query.sql, query.params)
                in_plan = {m.group(1) for line in lines for m in [PARTITION.search(line)] if m}
                read = {
                    m.group(1)
                    for line in lines
                    for m in [PARTITION.search(line)]
                    if m and "never executed" not in line
                }
                times = {
                    m.group(1): float(m.group(2))
                    for line in lines
                    for m in [TIMES.match(line.strip())]
                    if m
                }
                self.stdout.write(
                    f"{name:36} {len(in_plan):3} / {len(read):3}   "
                    f"{times.get('Planning', 0):5.2f} + {times.get('Execution', 0):6.2f}   "
                    f"{query.sql[:70]}"
                )
                if plans:
                    self.stdout.write("\n".join(lines) + "\n")
