from __future__ import annotations

from django.apps import AppConfig


class SendonResultsConfig(AppConfig):
    name = "sendon_results"
    verbose_name = "Send results"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
