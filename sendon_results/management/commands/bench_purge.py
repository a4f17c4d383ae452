"""Times the retention purge on this database while the results list is being browsed.

`manage.py bench_purge [--baseline 10]`: a second process requests the list page in a
loop, first without a purge (the baseline), then during the purge; reports the purge's
deliveries/s and how long the page took before and during it. Deletes for real: run it
on a copy (`createdb -T bench bench_purge`).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.test import Client

from ...demo import DEMO_ORGANIZATIONS
from ...models import Membership, Organization
from ...retention import purge_expired


class Command(BaseCommand):
    help = "Measure the purge: deliveries/s, and list-page times before and during it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--baseline", type=float, default=10.0, help="seconds before")
        # The second process: this command again, browsing instead of purging.
        parser.add_argument("--page-loop", type=float, help=argparse.SUPPRESS)

    def handle(self, *args: Any, baseline: float, page_loop: float | None, **kw: Any) -> None:
        if page_loop is not None:
            self._page_loop(page_loop)
            return
        loop = subprocess.Popen(
            [sys.executable, "manage.py", "bench_purge", "--page-loop", "600"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(baseline)
        purge_started = time.time()
        result = purge_expired()
        purge_ended = time.time()
        loop.terminate()
        timings = [json.loads(line) for line in loop.communicate()[0].splitlines()]
        before = [ms for at, ms in timings if at + ms / 1000 < purge_started]
        during = [ms for at, ms in timings if purge_started <= at < purge_ended]
        elapsed = purge_ended - purge_started
        self.stdout.write(
            f"purge: {result.sends:,} sends and {result.deliveries:,} deliveries in "
            f"{elapsed:.1f} s = {result.deliveries / elapsed:,.0f} deliveries/s"
        )
        for label, values in (("before the purge", before), ("during the purge", during)):
            if values:
                values.sort()
                self.stdout.write(
                    f"list page {label}: {len(values)} requests, p50 "
                    f"{statistics.median(values):.1f} ms, p95 {values[int(0.95 * len(values))]:.1f}"
                    f" ms, max {max(values):.1f} ms"
                )
        if before and during:
            self.stdout.write(
                f"slowest during / median before: {max(during) / statistics.median(before):.2f}×"
            )

    def _page_loop(self, seconds: float) -> None:
        """Print (start time, milliseconds) of each list request, one JSON line each."""
        logging.getLogger("sendon_results.requests").setLevel(logging.WARNING)  # not per request
        organization = Organization.objects.get(name=DEMO_ORGANIZATIONS[0].name)
        member = Membership.objects.filter(organization=organization).first()
        assert member is not None
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(member.user)
        deadline = time.time() + seconds
        while time.time() < deadline:
            started = time.time()
            client.get("/results/")
            print(json.dumps([started, (time.time() - started) * 1000]), flush=True)
