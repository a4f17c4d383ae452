from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...retention import DELIVERY_BATCH, PurgeAlreadyRunning, purge_expired


class Command(BaseCommand):
    help = (
        "Delete send records older than the retention period, expired export files, and "
        "access events older than AUDIT_RETENTION_DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report what would go")
        parser.add_argument(
            "--batch-size", type=int, default=DELIVERY_BATCH, help="deliveries per transaction"
        )

    def handle(self, *args: Any, dry_run: bool, batch_size: int, **options: Any) -> None:
        started = time.monotonic()
        try:
            result = purge_expired(dry_run=dry_run, batch_size=batch_size)
        except PurgeAlreadyRunning:
            raise CommandError("Another purge is running; nothing was done.") from None
        elapsed = time.monotonic() - started
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} what was requested before {result.cutoff:%Y-%m-%d %H:%M %Z}: "
            f"{result.sends:,} sends, {result.deliveries:,} deliveries, {result.files:,} files, "
            f"{result.pending_results:,} results whose send never came, "
            f"{result.access_events:,} access events in {elapsed:.1f} s"
            + (
                f" ({result.deliveries / elapsed:,.0f} deliveries/s)"
                if elapsed and not dry_run
                else ""
            )
        )
        for name, counts in result.per_organization.items():
            self.stdout.write(
                f"  {name}: {counts['sends']:,} sends, {counts['deliveries']:,} deliveries, "
                f"{counts['files']:,} files"
            )
