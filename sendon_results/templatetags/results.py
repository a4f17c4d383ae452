from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from html import escape
from typing import Any

from django import template
from django.forms import BoundField
from django.forms.widgets import Input
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..models import Channel, Delivery, SendRequest
from ..phones import format_phone
from ..result_codes import REQUEST_FAILED, Explanation, explain
from ..retention import WARNING_DAYS, deletion_day

register = template.Library()


@register.filter
def thousands(value: int | None) -> str:
    """1,234,567: how Korean and English both group digits. humanize's intcomma does the
    same through the locale machinery, a noticeable cost on a 50-row page."""
    return "" if value is None else f"{value:,}"


@register.simple_tag
def send_row(send: SendRequest, filterset: Any) -> str:
    """A row of the results list (results/rows.py); its link opens the send at the list's
    result code, when the list is filtered by one."""
    from ..results.rows import detail_query, send_row

    return send_row(send, detail_query=detail_query(filterset))


@register.simple_tag
def delivery_row(delivery: Delivery, send: SendRequest, revealed: bool) -> str:
    """A row of a send's recipients (results/rows.py)."""
    from ..results.rows import delivery_row

    return delivery_row(delivery, send, revealed=revealed is True)


# Always shown on a send's bar; the others only when some of its messages are in them.
ALWAYS_SHOWN = ("success", "failure")


@register.simple_tag
def outcome_counts(send: SendRequest) -> SafeString:
    """A send's outcomes (success / failure, and sending / waiting / cancelled where there
    are any): a proportional bar and the numbers.

    Built here rather than in a template, and with the standard library's escaping rather
    than format_html: it is on every row of the list (50 a page), where a template was a
    quarter of the page and format_html's per-argument checks still 3.5 ms.
    """
    counts = send.outcome_counts()
    labels = outcome_labels(get_language())
    bar = ""
    if send.recipient_count:
        # Widths as classes (app.css .pct-0 … .pct-100): the Content-Security-Policy
        # refuses style attributes. A whole percent is finer than the bar's pixels.
        widths = whole_percentages(counts, send.recipient_count)
        bar = "".join(
            f'<span class="seg {outcome} pct-{width}"></span>'
            for outcome, width in widths.items()
            if width
        )
    shown = [o for o, count in counts.items() if o in ALWAYS_SHOWN or count]
    numbers = "\n".join(
        f'<span class="n {outcome}{" nonzero" if outcome == "failure" and counts[outcome] else ""}"'
        f' title="{labels[outcome]}">{labels[outcome]} {counts[outcome]:,}</span>'
        for outcome in shown
    )
    summary = ", ".join(f"{labels[outcome]} {counts[outcome]:,}" for outcome in shown)
    return mark_safe(  # every text in it is an escaped label or a number
        f'<div class="outcomes"><div class="outcome-bar" role="img" aria-label="{summary}">'
        f'{bar}</div><div class="outcome-numbers">{numbers}</div></div>'
    )


@functools.cache
def outcome_labels(language: str | None) -> dict[str, str]:
    """The outcomes' labels in one language, escaped for HTML, translated once."""
    return {value: escape(str(label)) for value, label in Delivery.Status.choices}


def whole_percentages(counts: dict[str, int], total: int) -> dict[str, int]:
    """Each count as a whole percentage of `total`, rounded so that counts adding up to
    the total add up to 100 (largest remainder first)."""
    exact = {key: 100 * count / total for key, count in counts.items()}
    whole = {key: min(100, int(share)) for key, share in exact.items()}
    missing = min(100, round(sum(exact.values()))) - sum(whole.values())
    for key in sorted(exact, key=lambda key: whole[key] - exact[key])[: max(0, missing)]:
        whole[key] += 1
    return whole


@register.filter
def phone(digits: str) -> str:
    """One of the organization's own numbers (a calling number), in full. A recipient's
    number is masked unless revealed (results/rows.py `delivery_row`)."""
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
def is_request_failure(code: str) -> bool:
    """A failure of the whole request, whose reason is the result message, not a code's."""
    return code == REQUEST_FAILED


# Labels of choices; get_FOO_display() rebuilds a dict of all the choices on each call.
@register.filter
def channel_label(value: str) -> str:
    return str(Channel(value).label) if value in Channel.values else value


@register.filter
def status_label(value: str) -> str:
    return str(SendRequest.Status(value).label)


@register.filter
def chips(field: BoundField) -> list[tuple[str, str, str, bool]]:
    """A multiple-choice field's boxes as (id, value, label, ticked), the ids those of
    Django's CheckboxSelectMultiple: its subwidgets build every box's whole context, 3 ms
    for the list's thirty chips."""
    ticked = {str(value) for value in field.value() or []}
    choices: Iterable[tuple[object, object]] = getattr(field.field, "choices", ())
    return [
        (f"{field.auto_id}_{index}", str(value), str(label), str(value) in ticked)
        for index, (value, label) in enumerate(choices)
    ]


@register.simple_tag
def choice_group(field: BoundField, search_label: str = "") -> SafeString:
    """A multiple-choice filter's fieldset of boxes, what includes/checkbox_group.html was:
    written here with f-strings (every label and value escaped), as the rendering of five
    such templates was 4.5 ms of the results page's 20."""
    search = (
        f'<input type="search" class="choice-search" data-choice-search hidden '
        f'aria-label="{escape(search_label)}" placeholder="{escape(search_label)}" '
        f'autocomplete="off">\n  <span class="choice-none muted" hidden>'
        f"{escape(str(_('No match')))}</span>"
        if search_label
        else ""
    )
    name = escape(field.html_name)
    boxes = "".join(
        f'  <label class="choice" for="{escape(id)}"><input type="checkbox" name="{name}" '
        f'value="{escape(value)}" id="{escape(id)}"{" checked" if ticked else ""}>'
        f"<span>{escape(label)}</span></label>\n"
        for id, value, label, ticked in chips(field)
    )
    errors = "".join(f'<p class="field-error">{escape(str(error))}</p>' for error in field.errors)
    return mark_safe(  # every text in it escaped above
        f'<fieldset class="choices">\n  <legend>{escape(str(field.label))}</legend>\n'
        f"  {search}\n{boxes}  {errors}\n</fieldset>\n"
    )


# Django's templates of an <input> widget, each only `{% include "…/input.html" %}`.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "email",
        "password",
        "number",
        "url",
        "date",
        "datetime",
        "time",
        "hidden",
        "search",
        "tel",
        "color",
    )
)


@register.simple_tag
def field_widget(field: BoundField) -> SafeString:
    """`{{ field }}`: for an <input>, the tag written here from the widget's own context,
    what Django's input.html and attrs.html write (two templates a box were 2.3 ms of the
    results page's rendering); any other widget as Django renders it."""
    widget = field.field.widget
    if (
        not isinstance(widget, Input)
        or widget.template_name not in INPUT_TEMPLATES
        or field.field.show_hidden_initial
        or field.field.localize
    ):
        return mark_safe(str(field))  # Django rendered it
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    value = context["value"]
    html = [
        f'<input type="{conditional_escape(context["type"])}" '
        f'name="{conditional_escape(context["name"])}"',
        "" if value is None else f' value="{conditional_escape(str(value))}"',
    ]
    for name, attr in context["attrs"].items():
        if attr is True:
            html.append(f" {conditional_escape(name)}")
        elif attr is not False:
            html.append(f' {conditional_escape(name)}="{conditional_escape(str(attr))}"')
    return mark_safe("".join(html) + ">")  # every text in it escaped above


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, key)


@register.filter
def deleted_soon(requested_at: dt.datetime) -> dt.date | None:
    """The day the purge deletes a send, when that is within the warning period. (Sends
    past their day are shown nowhere, even before the nightly purge has removed them.)"""
    day = deletion_day(requested_at)
    if day > timezone.localdate() + dt.timedelta(days=WARNING_DAYS):
        return None
    return day
