from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...partitions import MONTHS_AHEAD, ensure_ahead, partitioned


class Command(BaseCommand):
    help = (
        f"Make the monthly partitions of sends and deliveries for this month and the next "
        f"{MONTHS_AHEAD} where missing (PostgreSQL; beat does it daily)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not partitioned():
            self.stdout.write("This database keeps no partitions; nothing to do.")
            return
        made = ensure_ahead()
        if made:
            self.stdout.write("Made the partitions of " + ", ".join(f"{m:%Y-%m}" for m in made))
        else:
            self.stdout.write(f"This month's and the next {MONTHS_AHEAD} months' are there.")
