"""System checks: what must be in place before the console serves a request."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

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
