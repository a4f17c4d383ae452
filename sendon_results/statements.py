"""Send statements (발송내역서): a period's figures from the database, as a PDF that proves
itself. The only module that imports WeasyPrint.

The figures are gathered in one grouped query over the period's deliveries, stored on
the statement, fingerprinted with SHA-256 and printed with a code and a QR code that
lead to a public page showing the same figures and scope. Statements are numbered per
organization and month, in the transaction that creates them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import secrets
import threading
import unicodedata
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.utils import timezone
from fontTools.ttLib import TTFont
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from .models import Channel, Delivery, Export, Organization, SenderProfile, SendRequest
from .retention import korea_day_start

APPENDIX_LIMIT = 2_000  # sends listed one by one; beyond, the statement points to Excel
FONT_DIR = Path(settings.BASE_DIR) / "static" / "fonts"
# The bundled fonts, in the order a character looks for its glyph: Korean text, then
# emoji drawn in one colour, then arrows, shapes and dingbats. Nothing comes from the
# fonts of the machine that renders, so every worker prints the same PDF. All TrueType:
# the NanumGothic pair as WOFF2 took 25 s to decode, as TrueType 0.5 s. (family, weight,
# file, format); static/fonts/README.md says where each file comes from.
FONT_FILES = (
    ("Nanum Gothic Statement", 400, "NanumGothic-Regular.ttf", "truetype"),
    ("Nanum Gothic Statement", 700, "NanumGothic-Bold.ttf", "truetype"),
    ("Noto Emoji Statement", 400, "NotoEmoji-Regular.ttf", "truetype"),
    ("Noto Symbols Statement", 400, "NotoSansSymbols2-Subset.ttf", "truetype"),
)
FONTS = tuple(name for _, _, name, _ in FONT_FILES)
FONT_STACK = ", ".join(dict.fromkeys(f'"{family}"' for family, *_ in FONT_FILES))
# What a character none of the bundled fonts can draw prints as (the last font has it):
# a visible mark instead of an empty box or a glyph from whatever font the server has.
REPLACEMENT = "\ufffd"
# Crockford's base32 without look-alikes: a code read off paper is typed back right.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
# What people type for the code's letters: O for 0, I and L for 1, lower case, dashes and
# spaces between the groups.
CODE_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
OUTCOMES = tuple(Delivery.Status.values)
# Loading the fonts takes a moment; a FontConfiguration kept for the process loads them
# once. One rendering at a time shares it.
_FONTS = FontConfiguration()
FONT_FACES = " ".join(
    f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
    f'src: url("fonts/{name}") format("{file_format}"); }}'
    for family, weight, name, file_format in FONT_FILES
)
_RENDERING = threading.Lock()


def new_verification_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """7K3F9QHW2M4X → 7K3F-9QHW-2M4X"""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize_code(text: str) -> str | None:
    """A verification code as typed (7k3f-9qhw-2m4x, 7K3F 9QHW 2M4X, O for 0, I or L for
    1) as stored, or None when it cannot be one: then there is nothing to look up."""
    code = "".join(text.split()).replace("-", "").upper().translate(CODE_LOOKALIKES)
    return code if CODE_PATTERN.fullmatch(code) else None


def next_statement_number(organization: Organization, issued_at: dt.datetime) -> str:
    """ST-2026-11-0001: the organization's next statement number in the month of
    `issued_at` (Korea time), one more than the highest taken, so there are no gaps.

    Call in the transaction that saves the number: it locks the organization's row, so
    two statements asked for at once take turns and never get the same number.
    """
    # FOR NO KEY UPDATE: it does not wait for the key-share locks that recording sends and
    # results take on the organization's row.
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    prefix = f"ST-{timezone.localtime(issued_at):%Y-%m}-"
    taken = Export.objects.filter(
        organization=organization, kind=Export.Kind.STATEMENT, number__startswith=prefix
    ).values_list("number", flat=True)
    # Parsed, not compared as text: 10000 follows 9999, and a month that already holds
    # numbers of the older, longer form goes on after the highest of them.
    last = max((int(n[len(prefix) :]) for n in taken if n[len(prefix) :].isdigit()), default=0)
    return f"{prefix}{last + 1:04d}"


def person_name(user: AbstractBaseUser) -> str:
    """Who asked, as people call them: a Korean name family name first and unspaced
    (김민준), another as Django writes it (Jane Doe), the login when none is set."""
    first = (getattr(user, "first_name", "") or "").strip()
    last = (getattr(user, "last_name", "") or "").strip()
    if first and last and all(_is_hangul(c) for c in first + last):
        return f"{last}{first}"
    return " ".join(part for part in (first, last) if part) or user.get_username()


def _is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3" or "\u3131" <= char <= "\u318e"


@functools.cache
def _drawable() -> frozenset[int]:
    """Every character some bundled font has a glyph for (read once, 0.2 s)."""
    covered: set[int] = set()
    for name in FONTS:
        covered.update(TTFont(FONT_DIR / name, lazy=True).getBestCmap())
    return frozenset(covered)


def printable(text: str) -> str:
    """`text` as the statement can print it: a character no bundled font can draw becomes
    REPLACEMENT (control characters too), so nothing prints as an empty box. Invisible
    formatting characters the fonts lack (a zero-width space pasted with a body) are left
    out, and white space is a space."""
    drawable = _drawable()
    return "".join(_printable_char(char, drawable) for char in text)


def _printable_char(char: str, drawable: frozenset[int]) -> str:
    if ord(char) in drawable:
        return char
    if char.isspace():
        return " "
    return "" if unicodedata.category(char) == "Cf" else REPLACEMENT


def verification_url(code: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/statements/verify/{format_code(code)}/"


def period_of(export: Export) -> tuple[dt.date, dt.date]:
    return (
        dt.date.fromisoformat(export.filters["from"][0]),
        dt.date.fromisoformat(export.filters["to"][0]),
    )


def _sends(export: Export) -> Any:
    start, end = period_of(export)
    sends = SendRequest.objects.for_org(export.organization).requested_between(
        korea_day_start(start), korea_day_start(end + dt.timedelta(days=1))
    )
    if senders := export.filters.get("sender"):
        sends = sends.filter(sender_id__in=senders)
    if channels := export.filters.get("channel"):
        sends = sends.filter(channel__in=channels)
    return sends


def collect_figures(export: Export) -> dict[str, Any]:
    """Everything the statement prints, as JSON-ready values, from the database now."""
    start, end = period_of(export)
    sends = _sends(export)
    # One pass over the period's deliveries, grouped by Korea-time day, the send's channel,
    # the channel it went by and the outcome: every table of the statement adds these up.
    korea = timezone.get_current_timezone()
    grouped = (
        Delivery.objects.filter(
            organization=export.organization, send_request__in=sends.values("id")
        )
        .annotate(day=TruncDate("send_request__requested_at", tzinfo=korea))
        .values("day", "send_request__channel", "final_channel", "status")
        .annotate(
            messages=Count("id"), charged=Sum("points_charged"), refunded=Sum("points_refunded")
        )
        .order_by()
    )
    by_channel: dict[str, dict[str, Any]] = defaultdict(_empty_line)
    by_fallback: dict[str, dict[str, Any]] = defaultdict(_empty_line)
    by_day: dict[str, dict[str, Any]] = defaultdict(_empty_line)
    total = _empty_line()
    for row in grouped:
        channel, final = row["send_request__channel"], row["final_channel"]
        lines = [by_day[row["day"].isoformat()], total]
        lines.append(by_fallback[final] if final != channel else by_channel[channel])
        for line in lines:
            _add(line, row)
    listed = export.filters.get("appendix") != ["no"]
    appendix = list(
        sends.select_related("sender")
        .order_by("requested_at", "id")
        .values_list(
            "requested_at", "channel", "sender__kind", "sender__value", "sender__label", "body",
            "recipient_count", *(f"{outcome}_count" for outcome in OUTCOMES),
        )[: APPENDIX_LIMIT + 1 if listed else 0]
    )  # fmt: skip
    sender_names = [
        printable(str(profile))
        for profile in SenderProfile.objects.filter(
            organization=export.organization, pk__in=export.filters.get("sender", [])
        )
    ]
    channel_names = {value: str(label) for value, label in Channel.choices}
    return {
        "number": export.number,
        "organization": printable(export.organization.name),
        "period": [start.isoformat(), end.isoformat()],
        "issued_at": timezone.localtime(timezone.now()).strftime("%Y-%m-%d %H:%M"),
        "requested_by": printable(person_name(export.created_by)),
        "senders": sender_names,
        "channels": [channel_names[c] for c in export.filters.get("channel", [])],
        "sends": sends.count(),
        "summary": [_finish(line, channel=c) for c, line in sorted(by_channel.items(), key=_rank)],
        "fallback": [
            _finish(line, channel=c) for c, line in sorted(by_fallback.items(), key=_rank)
        ],
        "total": _finish(total),
        "daily": [_finish(line, day=day) for day, line in sorted(by_day.items())],
        "appendix": [
            {
                "requested_at": timezone.localtime(at).strftime("%Y-%m-%d %H:%M"),
                "channel": channel,
                "sender": printable(str(SenderProfile(kind=kind, value=value, label=label))),
                "first_line": printable((body.strip().splitlines() or [""])[0][:60]),
                "recipients": recipients,
                **dict(zip(OUTCOMES, counts, strict=True)),
            }
            for at, channel, kind, value, label, body, recipients, *counts in appendix[
                :APPENDIX_LIMIT
            ]
        ],
        "appendix_listed": listed,
        "appendix_truncated": len(appendix) > APPENDIX_LIMIT,
    }


def _empty_line() -> dict[str, Any]:
    return {
        "messages": 0,
        **dict.fromkeys(OUTCOMES, 0),
        "charged": Decimal(0),
        "refunded": Decimal(0),
    }


def _add(line: dict[str, Any], row: dict[str, Any]) -> None:
    line["messages"] += row["messages"]
    line[row["status"]] += row["messages"]
    line["charged"] += row["charged"] or 0
    line["refunded"] += row["refunded"] or 0


def _finish(line: dict[str, Any], **label: str) -> dict[str, Any]:
    """Points as exact decimal strings, and the net: JSON keeps them as printed."""
    charged, refunded = line["charged"], line["refunded"]
    return {
        **label,
        **{key: line[key] for key in ("messages", *OUTCOMES)},
        "charged": f"{charged:.2f}",
        "refunded": f"{refunded:.2f}",
        "net": f"{charged - refunded:.2f}",
    }


def _rank(item: tuple[str, Any]) -> int:
    return list(Channel.values).index(item[0])


def warm_fonts() -> None:
    """Decode the bundled fonts now (seconds), not during a user's first statement."""
    _drawable()
    style = f"{FONT_FACES} html {{ font-family: {FONT_STACK}; }}"
    with _RENDERING:
        # Both weights: each face is loaded when first drawn.
        HTML(
            string=f"<style>{style}</style>가 <b>가</b> 🙂 ✓", base_url=str(FONT_DIR.parent)
        ).write_pdf(font_config=_FONTS)


def fingerprint(figures: dict[str, Any]) -> str:
    """SHA-256 of the figures written canonically: any change to any figure changes it."""
    canonical = json.dumps(figures, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
