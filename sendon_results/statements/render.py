"""The statement's PDF, through WeasyPrint: the only module that imports it."""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import segno
from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .. import jobs
from ..models import Channel, Delivery, Statement
from .codes import format_code, verification_url
from .figures import APPENDIX_LIMIT, collect_figures, fingerprint
from .fonts import FONT_DIR, FONT_FACES, FONT_STACK, drawable

# Loading the fonts takes a moment; a FontConfiguration kept for the process loads them
# once. One rendering at a time shares it.
_FONTS = FontConfiguration()
_RENDERING = threading.Lock()
# The only files a statement may load: the bundled fonts and the rest of static/.
STATIC_DIR = Path(settings.BASE_DIR) / "static"


class RefusedURL(ValueError):
    """A statement asked for something that is not one of our own files."""


class OwnFilesOnly(URLFetcher):
    """WeasyPrint's fetcher for statements: files under static/ (the fonts), nothing else.

    Every text a user or recipient wrote is escaped into the statement, so none of it
    should ever become a URL; this is the second barrier, should one ever slip through:
    no http(s) (the network behind the server, cloud metadata addresses), no file
    elsewhere (/etc/passwd, media/ with other organizations' exports), no data: either
    (the statement has no use for it). WeasyPrint skips a refused resource with a warning
    and renders the rest.
    """

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        path = own_file(url)
        content_type, _ = mimetypes.guess_type(path.name)
        return URLFetcherResponse(
            path.as_uri(),
            path.open("rb"),
            {"Content-Type": content_type or "application/octet-stream"},
        )


def own_file(url: str) -> Path:
    """The file under static/ that `url` names; RefusedURL for anything else."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise RefusedURL(f"not one of the statement's own files: {url[:200]}")
    try:
        # Resolved, so neither "../" nor a link leads out of static/.
        path = Path(url2pathname(parts.path)).resolve()
        inside = path.is_relative_to(STATIC_DIR.resolve()) and path.is_file()
    except (ValueError, OSError):  # a NUL byte, a name too long
        inside = False
    if not inside:
        raise RefusedURL(f"not one of the statement's own files: {url[:200]}")
    return path


def warm_fonts() -> None:
    """Decode the bundled fonts now (seconds), not during a user's first statement."""
    drawable()
    style = f"{FONT_FACES} html {{ font-family: {FONT_STACK}; }}"
    with _RENDERING:
        # Both weights: each face is loaded when first drawn.
        HTML(
            string=f"<style>{style}</style>가 <b>가</b> 🙂 ✓",
            base_url=str(FONT_DIR.parent),
            url_fetcher=OwnFilesOnly(),
        ).write_pdf(font_config=_FONTS)


def render_pdf(html: str, path: Path) -> None:
    """Print `html` (a template on the print base, with FONT_FACES) to a PDF at `path`:
    the bundled fonts, our own files only, one rendering at a time. Every printed document
    (statements, delivery confirmations) goes through here."""
    with _RENDERING:
        HTML(string=html, base_url=str(FONT_DIR.parent), url_fetcher=OwnFilesOnly()).write_pdf(
            path, font_config=_FONTS
        )


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
    render_pdf(html, path)
    start, end = statement.period_from.isoformat(), statement.period_to.isoformat()
    statement.file_name = f"{statement.number}_{start}_{end}.pdf"
    return figures["total"]["messages"]


def run_statement(statement_id: int, *, worker: str = "") -> None:
    """Gather one statement's figures, render its PDF and publish it (see jobs.run: safe
    to run twice, failures recorded on the statement)."""
    jobs.run(Statement, statement_id, worker=worker, build=write_statement)
