from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...demo import ensure_demo_accounts, seed_history


class Command(BaseCommand):
    help = (
        "Create the demo organizations, users and 13 months of send history up to today "
        "(idempotent: a later run fills the days since and settles what was live)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sends",
            type=int,
            default=2000,
            help="about this many send requests of the largest organization over the 13 "
            "months, at least one a day (others get a share); default 2000",
        )
        parser.add_argument(
            "--max-recipients",
            type=int,
            default=40,
            help="recipients of a batch send at most (campaigns have 1-4× as many); default 40",
        )

    def handle(self, *args: Any, sends: int, max_recipients: int, **options: Any) -> None:
        started = time.monotonic()
        logins = ensure_demo_accounts()
        seeded = seed_history(sends=sends, max_recipients=max_recipients)
        elapsed = time.monotonic() - started
        rebuilt = (
            f" ({seeded.rebuilt:,} of them the last run's live sends, rebuilt as they stand now)"
            if seeded.rebuilt
            else ""
        )
        self.stdout.write(
            f"Seeded {seeded.sends:,} sends with {seeded.deliveries:,} deliveries{rebuilt} "
            f"in {elapsed:.1f} s."
        )
        for name in seeded.outdated:
            self.stderr.write(
                f"{name} holds sends of an earlier demo, left as they are: delete the "
                "database (db.sqlite3) and run again for the current one."
            )
        self.stdout.write("Demo logins (username / password):")
        for username, password in logins:
            self.stdout.write(f"  {username} / {password}")
