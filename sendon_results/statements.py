"""Send statements (발송내역서): a period's figures from the database, as a PDF that proves
itself. The only module that imports WeasyPrint.

The figures are gathered in one grouped query over the period's deliveries, stored on
the statement, fingerprinted with SHA-256 and printed with a code and a QR code that
lead to a public page showing the same figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import segno
from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from .models import Channel, Delivery, Export, SenderProfile, SendRequest
from .retention import korea_day_start

APPENDIX_LIMIT = 2_000  # sends listed one by one; beyond, the statement points to Excel
FONT_DIR = Path(settings.BASE_DIR) / "static" / "fonts"
FONTS = ("NanumGothic-Regular.woff2", "NanumGothic-Bold.woff2")
# Crockford's base32 without look-alikes: a code read off paper is typed back right.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
OUTCOMES = ("success", "failure", "sending")
# Decoding the WOFF2 fonts takes seconds; a FontConfiguration kept for the process decodes
# them once. One rendering at a time shares it.
_FONTS = FontConfiguration()
FONT_FACES = " ".join(
    f'@font-face {{ font-family: "Nanum Gothic Statement"; font-weight: {weight}; '
    f'src: url("fonts/{name}") format("woff2"); }}'
    for weight, name in zip((400, 700), FONTS, strict=True)
)
_RENDERING = threading.Lock()


def new_verification_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


def format_code(code: str) -> str:
    """7K3F9QHW2M4X → 7K3F-9QHW-2M4X"""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def statement_number(export: Export) -> str:
    """ST-2026-11-000123: the month it was issued, then a number never used twice."""
    issued = timezone.localtime(export.created_at)
    return f"ST-{issued:%Y-%m}-{export.pk:06d}"


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
            "recipient_count", "success_count", "failure_count",
        )[: APPENDIX_LIMIT + 1 if listed else 0]
    )  # fmt: skip
    sender_names = [
        str(profile)
        for profile in SenderProfile.objects.filter(
            organization=export.organization, pk__in=export.filters.get("sender", [])
        )
    ]
    channel_names = {value: str(label) for value, label in Channel.choices}
    return {
        "number": export.number,
        "organization": export.organization.name,
        "period": [start.isoformat(), end.isoformat()],
        "issued_at": timezone.localtime(timezone.now()).strftime("%Y-%m-%d %H:%M"),
        "requested_by": export.created_by.get_full_name() or export.created_by.get_username(),
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
                "sender": str(SenderProfile(kind=kind, value=value, label=label)),
                "first_line": (body.strip().splitlines() or [""])[0][:60],
                "recipients": recipients,
                "success": success,
                "failure": failure,
            }
            for at, channel, kind, value, label, body, recipients, success, failure in appendix[
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
    with _RENDERING:
        HTML(string=f"<style>{FONT_FACES}</style>가", base_url=str(FONT_DIR.parent)).write_pdf(
            font_config=_FONTS
        )


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
            "appendix_limit": APPENDIX_LIMIT,
            "font_faces": FONT_FACES,
        },
    )
    with _RENDERING:
        HTML(string=html, base_url=str(FONT_DIR.parent)).write_pdf(path, font_config=_FONTS)
    start, end = period_of(export)
    export.file_name = f"{export.number}_{start.isoformat()}_{end.isoformat()}.pdf"
    return figures["total"]["messages"]
