"""Times 번호 일괄 조회 end to end: a 10,000-number .xlsx uploaded through Django (read,
looked up, the page rendered), and the workbook's download, on this database.

Half the numbers are recipients of the organization (sampled from its deliveries), half
numbers it never sent to. Read-only: each request runs inside a transaction that is
rolled back, so the session and the access events it writes are never kept.

    DATABASE_URL=postgres://…/sendon_bench manage.py bench_lookup [--repeat 5] [--period kept]
"""

from __future__ import annotations

import io
import random
import re
import statistics
import time
from typing import Any

import openpyxl
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from openpyxl.worksheet.worksheet import Worksheet

from ...benchmarks import chosen_organization, signed_in_client
from ...demo import DEMO_NUMBER
from ...lookups.forms import PERIODS, period_bounds, period_instants
from ...lookups.outcomes import last_outcomes
from ...lookups.sheets import MAX_NUMBERS
from ...models import Membership, Organization
from ...retention import cutoff

TOKEN = re.compile(r'name="lookup" value="([^"]+)"')


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Measure the number lookup: 10,000 numbers uploaded, looked up and downloaded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--numbers", type=int, default=MAX_NUMBERS)
        parser.add_argument(
            "--period", default="kept", choices=[value for value, _label in PERIODS[:-1]]
        )
        parser.add_argument("--organization", help="its name; default: the one with most sends")

    def handle(
        self,
        *args: Any,
        repeat: int,
        numbers: int,
        period: str,
        organization: str | None,
        **options: Any,
    ) -> None:
        chosen = chosen_organization(organization)
        has_owner = Membership.objects.filter(organization=chosen, role=Membership.Role.OWNER)
        if chosen is None or not has_owner.exists():
            self.stderr.write("No organization with an owner: run seed_demo or seed_scale first.")
            return
        listed = self._numbers(chosen, numbers)
        content = _workbook(listed)
        first, last = period_bounds(period, timezone.localdate())
        self.stdout.write(
            f"{connection.vendor}: {chosen.name}; {len(listed):,} numbers "
            f"({len(content) / 1024:,.0f} kB .xlsx), period {first} ~ {last}; "
            f"{repeat} runs, ms"
        )

        start, end = period_instants(first, last)
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            found = last_outcomes(chosen, listed, start, end)
            times.append((time.perf_counter() - began) * 1000)
        self._report("query alone", times, f"{len(found):,} numbers found")

        page, download = [], []
        for _ in range(repeat):
            try:
                with transaction.atomic():
                    # Signed in afresh each time: the session it writes is rolled back too.
                    client = signed_in_client(chosen, role=Membership.Role.OWNER)
                    assert client is not None
                    upload = SimpleUploadedFile("list.xlsx", content)
                    began = time.perf_counter()
                    response = client.post(
                        "/recipients/lookup/", {"file": upload, "period": period}
                    )
                    page.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, response.status_code
                    size = len(response.content)
                    token = TOKEN.search(response.content.decode())
                    assert token is not None
                    began = time.perf_counter()
                    response = client.post(
                        "/recipients/lookup/download/", {"lookup": token.group(1)}
                    )
                    download.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, response.status_code
                    raise Rollback
            except Rollback:
                pass
        self._report("upload → page", page, f"page {size / 2**20:.1f} MB")
        self._report("xlsx download", download, f"{len(response.content) / 1024:,.0f} kB")

    def _numbers(self, organization: Organization, count: int) -> list[str]:
        """Half the organization's recipients (a sample of its deliveries), half not."""
        with connection.cursor() as cursor:
            sample = "TABLESAMPLE SYSTEM (1)" if connection.vendor == "postgresql" else ""
            # Kept deliveries only: the months the lookup reads, not those awaiting the purge.
            cursor.execute(
                f"SELECT DISTINCT recipient FROM sendon_results_delivery {sample} "
                "WHERE organization_id = %s AND requested_at >= %s LIMIT %s",
                [organization.pk, cutoff(timezone.now()), count // 2],
            )
            seeded = [row[0] for row in cursor.fetchall()]
        chance = random.Random(20260101)
        seeded = list(dict.fromkeys([DEMO_NUMBER, *seeded]))[: count // 2]
        others = {f"0107{chance.randrange(10**7):07d}" for _ in range(count)}
        listed = seeded + sorted(others - set(seeded))[: count - len(seeded)]
        chance.shuffle(listed)
        return listed

    def _report(self, label: str, times: list[float], note: str) -> None:
        ordered = sorted(times)
        self.stdout.write(
            f"{label:<16} first {times[0]:>8,.0f}   p50 {statistics.median(ordered):>8,.0f}"
            f"   max {ordered[-1]:>8,.0f}   ({note})"
        )


def _workbook(numbers: list[str]) -> bytes:
    """The list as a member's Excel has it: a header, numbers as numbers (zero lost)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    sheet.append(["전화번호", "이름"])
    for index, number in enumerate(numbers):
        sheet.append([int(number) if index % 2 else number, f"고객{index}"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
