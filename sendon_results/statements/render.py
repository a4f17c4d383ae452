"""The statement's PDF, through WeasyPrint: the only module that imports it."""

from __future__ import annotations

import threading
from pathlib import Path

import segno
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from ..models import Channel, Delivery, Export
from .codes import format_code, verification_url
from .figures import APPENDIX_LIMIT, collect_figures, fingerprint, period_of
from .fonts import FONT_DIR, FONT_FACES, FONT_STACK, drawable

# Loading the fonts takes a moment; a FontConfiguration kept for the process loads them
# once. One rendering at a time shares it.
_FONTS = FontConfiguration()
_RENDERING = threading.Lock()


def warm_fonts() -> None:
    """Decode the bundled fonts now (seconds), not during a user's first statement."""
    drawable()
    style = f"{FONT_FACES} html {{ font-family: {FONT_STACK}; }}"
    with _RENDERING:
        # Both weights: each face is loaded when first drawn.
        HTML(
            string=f"<style>{style}</style>가 <b>가</b> 🙂 ✓", base_url=str(FONT_DIR.parent)
        ).write_pdf(font_config=_FONTS)


def write_statement(path: Path, export: Export) -> int:
    """Gather the figures, keep them on the statement, render its PDF to `path`.

    Returns the number of messages it covers. Call with the statement's language active.
    """
    figures = collect_figures(export)
    export.figures = figures
    export.fingerprint = fingerprint(figures)
    url = verification_url(export.verification_code)
    html = render_to_string(
        "statements/statement.html",
        {
            "figures": figures,
            "fingerprint": export.fingerprint,
            "code": format_code(export.verification_code),
            "url": url,
            "qr": segno.make(url, error="m").svg_inline(scale=2, border=0),
            "channel_names": {value: str(label) for value, label in Channel.choices},
            "outcomes": [(value, str(label)) for value, label in Delivery.Status.choices],
            "appendix_limit": APPENDIX_LIMIT,
            "font_faces": FONT_FACES,
            "font_stack": FONT_STACK,
        },
    )
    with _RENDERING:
        HTML(string=html, base_url=str(FONT_DIR.parent)).write_pdf(path, font_config=_FONTS)
    start, end = period_of(export)
    export.file_name = f"{export.number}_{start.isoformat()}_{end.isoformat()}.pdf"
    return figures["total"]["messages"]
