"""A statement's figures: one grouped query over the period's deliveries, the sends
listed, and the SHA-256 fingerprint of it all."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from ..accounts.people import person_name
from ..models import Channel, Delivery, SenderProfile, SendRequest, Statement
from ..results.filters import SendRequestFilter
from .fonts import printable

APPENDIX_LIMIT = 2_000  # sends listed one by one; beyond, the statement points to Excel
OUTCOMES = tuple(Delivery.Status.values)


def scope_filters(statement: Statement) -> dict[str, list[str]]:
    """The statement's period, sender and channel as the results list's parameters."""
    saved = {
        "requested_from": [statement.period_from.isoformat()],
        "requested_to": [statement.period_to.isoformat()],
    }
    if statement.sender_id is not None:
        saved["sender"] = [str(statement.sender_id)]
    if statement.channel:
        saved["channel"] = [statement.channel]
    return saved


def _filterset(statement: Statement) -> SendRequestFilter:
    """The statement's sends (`.qs`), through the results list's own FilterSet: a statement
    counts the sends the list shows for the same period, sender and channel.

    StatementForm checked the period when it was asked for (inside the window, not in the
    future, a year at most); the FilterSet's own check of the window is off for a saved
    filter, as for an export. Its retention rule still holds when the job runs: a send
    that expired meanwhile (a statement asked for just before midnight, or tried again
    days later) is left out, as the nightly purge deletes it anyway.
    """
    filterset = SendRequestFilter.from_saved(
        scope_filters(statement), organization=statement.organization
    )
    if not filterset.is_valid():
        raise ValueError(
            gettext("The saved filter is not valid any more: %(errors)s")
            % {"errors": filterset.form.errors.as_text()}
        )
    return filterset


def collect_figures(statement: Statement) -> dict[str, Any]:
    """Everything the statement prints, as JSON-ready values, from the database now."""
    start, end = statement.period_from, statement.period_to
    filterset = _filterset(statement)
    sends: QuerySet[SendRequest] = filterset.qs
    # One pass over the period's deliveries, grouped by Korea-time day, the send's channel,
    # the channel it went by and the outcome: every table of the statement adds these up.
    # The period bounds the deliveries' own requested_at as well as the sends': PostgreSQL
    # then reads the period's months of deliveries only.
    korea = timezone.get_current_timezone()
    grouped = (
        Delivery.objects.filter(
            organization=statement.organization, send_request__in=sends.values("id")
        )
        .requested_between(**filterset.delivery_period())
        .annotate(day=TruncDate("requested_at", tzinfo=korea))
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
    listed = statement.appendix
    appendix = list(
        sends.select_related("sender")
        .order_by("requested_at", "id")
        .values_list(
            "requested_at",
            "channel",
            "sender__kind",
            "sender__value",
            "sender__label",
            "body",
            "recipient_count",
            *(f"{outcome}_count" for outcome in OUTCOMES),
        )[: APPENDIX_LIMIT + 1 if listed else 0]
    )
    sender_names = [printable(str(statement.sender))] if statement.sender else []
    channel_names = {value: str(label) for value, label in Channel.choices}
    return {
        "number": statement.number,
        "organization": printable(statement.organization.name),
        "period": [start.isoformat(), end.isoformat()],
        "issued_at": timezone.localtime(timezone.now()).strftime("%Y-%m-%d %H:%M"),
        "requested_by": printable(person_name(statement.created_by)),
        "senders": sender_names,
        "channels": [channel_names[statement.channel]] if statement.channel else [],
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


def _add(line: dict[str, Any], row: Mapping[str, Any]) -> None:
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
