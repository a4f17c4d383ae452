from __future__ import annotations

from django.apps import AppConfig


class SendonResultsConfig(AppConfig):
    name = "sendon_results"
    verbose_name = "Send results"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .accounts import sessions, throttle  # noqa: F401  (their sign-in receivers)
        from .audit import signals  # noqa: F401  (records sign-ins in the access record)
