from __future__ import annotations

from django import template

from ..models import Delivery, format_phone
from ..result_codes import Explanation, explain

register = template.Library()


@register.filter
def phone(digits: str) -> str:
    return format_phone(digits)


@register.filter
def explanation(delivery: Delivery) -> Explanation | None:
    return explain(delivery.result_code, delivery.final_channel) if delivery.result_code else None
