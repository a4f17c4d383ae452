from __future__ import annotations

from django import template

from ..exports import describe_filters
from ..models import Channel, Delivery, Export, format_phone
from ..result_codes import Explanation, explain

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
