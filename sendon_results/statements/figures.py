"""A statement's figures: one grouped query over the period's deliveries, the sends
listed, and the SHA-256 fingerprint of it all."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..dates import day_start
from ..models import Channel, Delivery, Export, SenderProfile, SendRequest
from .fonts import printable

APPENDIX_LIMIT = 2_000  # sends listed one by one; beyond, the statement points to Excel
OUTCOMES = tuple(Delivery.Status.values)


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


def period_of(export: Export) -> tuple[dt.date, dt.date]:
    return (
        dt.date.fromisoformat(export.filters["from"][0]),
        dt.date.fromisoformat(export.filters["to"][0]),
    )


def _sends(export: Export) -> Any:
    start, end = period_of(export)
    sends = SendRequest.objects.for_org(export.organization).requested_between(
        day_start(start), day_start(end + dt.timedelta(days=1))
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


def fingerprint(figures: dict[str, Any]) -> str:
    """SHA-256 of the figures written canonically: any change to any figure changes it."""
    canonical = json.dumps(figures, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
