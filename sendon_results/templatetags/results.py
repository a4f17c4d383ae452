from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import template
from django.utils import timezone

from ..exports import describe_filters
from ..models import Channel, Delivery, Export, SenderProfile, format_phone
from ..result_codes import Explanation, explain
from ..retention import WARNING_DAYS, deletion_day

register = template.Library()


@register.filter
def phone(digits: str) -> str:
    return format_phone(digits)


@register.filter
def explanation(delivery: Delivery | dict[str, str]) -> Explanation | None:
    """Our explanation of a delivery's result code (or a row of its code and channel)."""
    if isinstance(delivery, dict):
        code, channel = delivery["result_code"], delivery["final_channel"]
    else:
        code, channel = delivery.result_code, delivery.final_channel
    return explain(code, channel) if code else None


@register.filter
def channel_label(value: str) -> str:
    return str(Channel(value).label) if value in Channel.values else value


@register.filter
def export_filters(export: Export) -> list[dict[str, str]]:
    """The filters an export was made with, described as the list page shows them."""
    return describe_filters(export)


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, key)


@register.filter
def points(value: str) -> str:
    """A decimal string as printed on a statement: 1,234.5 → "1,234.50"; whole → "1,234"."""
    amount = Decimal(value)
    return f"{amount:,.0f}" if amount == amount.to_integral() else f"{amount:,.2f}"


@register.filter
def statement_options(export: Export) -> list[str]:
    """A statement's narrowing options (sender, channel), as words."""
    options = [
        str(profile)
        for profile in SenderProfile.objects.filter(
            organization_id=export.organization_id, pk__in=export.filters.get("sender", [])
        )
    ]
    return options + [channel_label(c) for c in export.filters.get("channel", [])]


@register.filter
def deleted_soon(requested_at: dt.datetime) -> dict[str, object] | None:
    """The day the purge deletes a send, when that is within the warning period; overdue
    when the day has come and the daily purge has not run yet."""
    day = deletion_day(requested_at)
    today = timezone.localdate()
    if day > today + dt.timedelta(days=WARNING_DAYS):
        return None
    return {"day": day, "overdue": day <= today}
