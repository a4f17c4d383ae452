"""Times one per-recipient export end to end from the configured database.

`manage.py bench_export --rows 1000000 [--format csv] [--libreoffice]` tops the demo data
up until the newest sends hold at least that many deliveries (seed_demo's organizations),
exports exactly the sends that cover them, and reports rows/s and the process's peak
memory. Run one size per process, so the peak belongs to that size.
"""

from __future__ import annotations

import csv
import datetime as dt
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from ...demo import DEMO_ORGANIZATIONS, ensure_demo_accounts, seed_history
from ...exports.requests import run_export
from ...models import Export, Membership, Organization, SendRequest

LIBREOFFICE_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1"


class Command(BaseCommand):
    help = "Measure a per-recipient export: rows/s and peak memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
        parser.add_argument(
            "--libreoffice", action="store_true", help="open the file with LibreOffice too"
        )

    def handle(self, *args: Any, rows: int, format: str, libreoffice: bool, **kw: Any) -> None:
        ensure_demo_accounts()
        organization = Organization.objects.get(name=DEMO_ORGANIZATIONS[0].name)
        sends = SendRequest.objects.for_org(organization)
        have = sum(sends.values_list("recipient_count", flat=True).iterator(50_000))
        if have < rows:
            self.stdout.write(f"Seeding: {have:,} deliveries, {rows:,} wanted")
            seed_history(
                sends=int(sends.count() * rows / max(have, 1) * 1.1) + 1000, max_recipients=6
            )
        since = self._start_covering(sends, rows)
        member = Membership.objects.filter(organization=organization).first()
        assert member is not None
        export = Export.objects.create(
            organization=organization,
            created_by=member.user,
            kind=Export.Kind.DELIVERIES,
            file_format=format,
            filters={"requested_from": [since]},
            expires_at=timezone.now() + dt.timedelta(days=1),
        )
        started = time.perf_counter()
        run_export(export.pk)
        elapsed = time.perf_counter() - started
        export.refresh_from_db()
        if export.state != Export.State.DONE or export.row_count is None:
            raise CommandError(f"export failed: {export.error}")
        assert export.file_size is not None
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(
            f"{connection.vendor}, {format}: {export.row_count:,} rows in {elapsed:.1f} s = "
            f"{export.row_count / elapsed:,.0f} rows/s; file {export.file_size / 2**20:.1f} MiB; "
            f"peak memory of the process {peak_mb:.0f} MB"
        )
        if libreoffice:
            self._open_with_libreoffice(export)
        export.file.delete(save=False)
        export.delete()

    def _start_covering(self, sends: Any, rows: int) -> str:
        """The latest day such that the sends since then hold at least `rows` deliveries."""
        total = 0
        for requested_at, count in (
            sends.order_by("-requested_at")
            .values_list("requested_at", "recipient_count")
            .iterator(10_000)
        ):
            total += count
            if total >= rows:
                return timezone.localdate(requested_at).isoformat()
        raise CommandError("not enough deliveries even after seeding")

    def _open_with_libreoffice(self, export: Export) -> None:
        soffice = shutil.which("soffice")
        if not soffice:
            raise CommandError("LibreOffice is missing: apt-get install libreoffice-calc-nogui")
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / f"export.{export.file_format}"
            with export.file.open("rb") as file, source.open("wb") as out:
                shutil.copyfileobj(file, out)
            started = time.perf_counter()
            subprocess.run(
                [
                    soffice,
                    "--headless",
                    f"-env:UserInstallation=file://{folder}/profile",
                    "--convert-to",
                    LIBREOFFICE_CSV,
                    "--outdir",
                    f"{folder}/out",
                    str(source),
                ],
                check=True,
                capture_output=True,
            )
            csv.field_size_limit(sys.maxsize)
            sheets = sorted(Path(folder, "out").glob("*.csv"))
            with sheets[0].open(encoding="utf-8") as file:
                records = sum(1 for _ in csv.reader(file)) - 1
            self.stdout.write(
                f"LibreOffice opened it in {time.perf_counter() - started:.0f} s: "
                f"{records:,} rows on the first sheet (the export wrote {export.row_count:,})"
            )
