from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...demo import ensure_demo_accounts, seed_history


class Command(BaseCommand):
    help = "Create the demo organizations, users and 13 months of send history (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sends",
            type=int,
            default=2000,
            help="send requests of the largest organization (others get a share); default 2000",
        )
        parser.add_argument(
            "--max-recipients",
            type=int,
            default=40,
            help="recipients of a typical send at most (1%% of sends are 20× larger); default 40",
        )

    def handle(self, *args: Any, sends: int, max_recipients: int, **options: Any) -> None:
        started = time.monotonic()
        logins = ensure_demo_accounts()
        created = seed_history(sends=sends, max_recipients=max_recipients)
        elapsed = time.monotonic() - started
        self.stdout.write(f"Seeded {created:,} deliveries in {elapsed:.1f} s.")
        self.stdout.write("Demo logins (username / password):")
        for username, password in logins:
            self.stdout.write(f"  {username} / {password}")
