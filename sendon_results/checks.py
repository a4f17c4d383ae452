"""System checks: what must be in place before the console serves a request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .statements.fonts import FONT_DIR, FONTS


@register()
def statement_fonts(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Statements embed the bundled Korean font; without it a PDF would show empty boxes."""
    return [
        Error(
            f"Missing font {FONT_DIR / name}",
            hint="Restore static/fonts/ from the repository.",
            id="sendon_results.E001",
        )
        for name in FONTS
        if not (FONT_DIR / name).is_file()
    ]


@register()
def korea_time(app_configs: Any, **kwargs: Any) -> list[Error]:
    """PostgreSQL keeps sends in Korea-time months (migration 0024) and the purge drops a
    month with the daily tallies of its days, which are days of TIME_ZONE: the two must
    be the same days."""
    if "postgresql" not in str(settings.DATABASES["default"]["ENGINE"]):
        return []
    if settings.TIME_ZONE == "Asia/Seoul":
        return []
    return [
        Error(
            f"TIME_ZONE is {settings.TIME_ZONE!r}; on PostgreSQL it must be 'Asia/Seoul'.",
            hint="The monthly partitions of sends are Korea-time months.",
            id="sendon_results.E002",
        )
    ]


@register(Tags.security, deploy=True)
def shared_cache(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Sign-in throttling and the verification limit count in the cache: in a process's own
    memory, each gunicorn worker would count for itself and let through that many times
    more attempts."""
    if "LocMemCache" not in settings.CACHES["default"]["BACKEND"]:
        return []
    return [
        Warning(
            "The cache is this process's memory: sign-in attempts are counted per worker.",
            hint="Set CACHE_URL to a Redis shared by every web process, e.g. redis://host:6379/1.",
            id="sendon_results.W001",
        )
    ]
