"""Times one send statement end to end: the figures from the database, the PDF, storage.

`manage.py bench_statement --from 2026-08-01 --to 2026-10-31 [--summary-only]` on the demo
organization; reports the deliveries it covers, seconds, pages and the process's peak
memory. The fonts are decoded first, as a worker process does when it starts.
"""

from __future__ import annotations

import datetime as dt
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import translation

from ...demo import DEMO_ORGANIZATIONS
from ...models import Membership, Organization, Statement
from ...statements.render import run_statement, warm_fonts
from ...statements.requests import request_statement


class Command(BaseCommand):
    help = "Measure a send statement: seconds, pages, peak memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD")
        parser.add_argument("--summary-only", action="store_true", help="without the list of sends")

    def handle(self, *args: Any, start: str, end: str, summary_only: bool, **kw: Any) -> None:
        organization = Organization.objects.get(name=DEMO_ORGANIZATIONS[0].name)
        member = Membership.objects.filter(organization=organization).first()
        if member is None:
            raise CommandError("run seed_demo first")
        warm_fonts()  # as a worker process does when it starts
        with translation.override("ko"):
            statement, created = request_statement(
                user=member.user,
                organization=organization,
                period_from=dt.date.fromisoformat(start),
                period_to=dt.date.fromisoformat(end),
                appendix=not summary_only,
            )
        if not created:  # the member's own statement of a minute ago: not ours to time or delete
            raise CommandError("the same statement was asked for within a minute: run again")
        started = time.perf_counter()
        run_statement(statement.pk)
        elapsed = time.perf_counter() - started
        statement.refresh_from_db()
        if statement.state != Statement.State.DONE:
            raise CommandError(f"statement failed: {statement.error}")
        with tempfile.TemporaryDirectory() as folder:
            pdf = Path(folder) / "statement.pdf"
            pdf.write_bytes(statement.file.open("rb").read())
            info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        pages = next(
            (line.split()[-1] for line in info.splitlines() if line.startswith("Pages")), "?"
        )
        figures = statement.figures or {}
        self.stdout.write(
            f"{connection.vendor}: {statement.number} {start}~{end}: "
            f"{statement.row_count:,} deliveries in {figures.get('sends', 0):,} sends "
            f"({len(figures.get('appendix', [])):,} listed); {elapsed:.1f} s; {pages} pages; "
            f"peak memory of the process "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
        statement.file.delete(save=False)
        statement.delete()
