"""Recounts the daily tallies from the sends and deliveries (after a restore, a bulk load
or any write that went around the console's own code)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...models import Organization
from ...tallies import rebuild_tallies


class Command(BaseCommand):
    help = "Recount the daily tallies of sends and deliveries from the rows themselves."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", help="its name; default: every organization")

    def handle(self, *args: Any, organization: str | None, **options: Any) -> None:
        chosen = Organization.objects.all()
        if organization is not None:
            chosen = chosen.filter(name=organization)
            if not chosen.exists():
                raise CommandError(f"No organization named {organization!r}.")
        started = time.monotonic()
        sends, deliveries = rebuild_tallies(chosen)
        self.stdout.write(
            f"{sends:,} send tally rows and {deliveries:,} delivery tally rows "
            f"in {time.monotonic() - started:.1f} s"
        )
