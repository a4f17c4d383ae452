"""The statement's PDF, through WeasyPrint: the only module that imports it."""

from __future__ import annotations

import threading
from pathlib import Path

import segno
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from .. import jobs
from ..models import Channel, Delivery, Statement
from .codes import format_code, verification_url
from .figures import APPENDIX_LIMIT, collect_figures, fingerprint
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


def write_statement(path: Path, statement: Statement) -> int:
    """Gather the figures, keep them on the statement, render its PDF to `path`.

    Returns the number of messages it covers. Call with the statement's language active.
    """
    figures = collect_figures(statement)
    statement.figures = figures
    statement.fingerprint = fingerprint(figures)
    url = verification_url(statement.verification_code)
    html = render_to_string(
        "statements/statement.html",
        {
            "figures": figures,
            "fingerprint": statement.fingerprint,
            "code": format_code(statement.verification_code),
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
    start, end = statement.period_from.isoformat(), statement.period_to.isoformat()
    statement.file_name = f"{statement.number}_{start}_{end}.pdf"
    return figures["total"]["messages"]


def run_statement(statement_id: int, *, worker: str = "") -> None:
    """Gather one statement's figures, render its PDF and publish it (see jobs.run: safe
    to run twice, failures recorded on the statement)."""
    jobs.run(Statement, statement_id, worker=worker, build=write_statement)
