"""A confirmation's PDF: the figures gathered, kept and printed through
statements.render (the only WeasyPrint importer). Imported by the worker's task only."""

from __future__ import annotations

from pathlib import Path

import segno
from django.conf import settings
from django.template.loader import render_to_string

from .. import jobs
from ..models import Confirmation, Delivery
from ..phones import format_phone
from ..statements.codes import format_code
from ..statements.figures import fingerprint
from ..statements.fonts import FONT_FACES, FONT_STACK
from ..statements.render import render_pdf
from .figures import ROWS_LIMIT, collect_figures


def verification_url(code: str) -> str:
    """Where the code printed on a confirmation leads: its public verification page."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/confirmations/verify/{format_code(code)}/"


def write_confirmation(path: Path, confirmation: Confirmation) -> int:
    """Gather the figures, keep them on the confirmation, render its PDF to `path`.

    Returns the number of messages it covers. The number prints in full only on a
    confirmation asked for so (by a member who may see numbers); the figures, which the
    verification page shows, hold it masked either way."""
    figures = collect_figures(confirmation)
    confirmation.figures = figures
    confirmation.fingerprint = fingerprint(figures)
    url = verification_url(confirmation.verification_code)
    shown = format_phone(confirmation.recipient) if confirmation.unmasked else figures["recipient"]
    html = render_to_string(
        "confirmations/confirmation.html",
        {
            "figures": figures,
            "recipient": shown,
            "fingerprint": confirmation.fingerprint,
            "code": format_code(confirmation.verification_code),
            "url": url,
            "qr": segno.make(url, error="m").svg_inline(scale=2, border=0),
            "outcomes": [(value, str(label)) for value, label in Delivery.Status.choices],
            "rows_limit": ROWS_LIMIT,
            "font_faces": FONT_FACES,
            "font_stack": FONT_STACK,
        },
    )
    render_pdf(html, path)
    confirmation.file_name = f"{confirmation.number}.pdf"
    messages: int = figures["total"]["messages"]
    return messages


def run_confirmation(confirmation_id: int, *, worker: str = "") -> None:
    """Gather one confirmation's figures, render its PDF and publish it (see jobs.run: safe
    to run twice, failures recorded on the confirmation)."""
    jobs.run(Confirmation, confirmation_id, worker=worker, build=write_confirmation)
