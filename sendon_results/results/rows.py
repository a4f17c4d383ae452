"""The rows of the results list and of a send's recipients, built in Python.

Fifty of these make most of either page: as a template partial a list's rows took 10 ms of
a 40 ms page (variable lookups, filters, escaping, translations a cell at a time); here a
row is one f-string, 3.3 ms for fifty (docs/benchmarks.md). The same function answers a
live row's own request (views.result_row), so the list and its refreshed rows cannot
drift apart. The cells are those of the tables' headers in templates/results/list.html
and detail.html; `data-label` names a cell on a phone's card (app.css).
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode

from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..masking import mask_name, mask_phone
from ..models import Channel, Delivery, SendRequest, Source
from ..phones import format_phone
from ..result_codes import REQUEST_FAILED, explain
from ..templatetags.results import deleted_soon, outcome_counts
from .progress import LIVE_STATUSES, POLL_STEPS, Poll

DAY_TIME = "%Y-%m-%d %H:%M"
BODY_CHARACTERS = 60


@functools.cache
def _words(language: str | None) -> dict[str, str]:
    """The row's fixed words and choice labels in one language, translated once and
    escaped for HTML."""
    words = {
        "scheduled": _("Scheduled"),
        "fallback": _("Fallback"),
        "recipients": _("Recipients"),
        "success_rate": _("Success rate"),
        "no_result": _("No final result yet"),
        **{f"channel:{value}": str(label) for value, label in Channel.choices},
        **{f"source:{value}": str(label) for value, label in Source.choices},
        **{f"status:{value}": str(label) for value, label in SendRequest.Status.choices},
        **{f"outcome:{value}": str(label) for value, label in Delivery.Status.choices},
        "sent_by": _("Sent by"),
        "carrier": _("Carrier"),
        "completed_at": _("Completed at"),
        "points": _("Points"),
        "refunded": _("Refunded"),
        "sending": _("Waiting for the carrier's answer"),
        "waiting": _("Waiting for the reserved time"),
        "cancelled": _("Not sent: the reservation was cancelled (refunded in full)"),
    }
    return {key: escape(word) for key, word in words.items()}


def send_row(send: SendRequest, *, poll: Poll | None = None, detail_query: str = "") -> SafeString:
    """The send's <tr>. A send still moving asks for its own row again (`poll`: when, and
    what it had seen; the first look when None), until it reaches a final state.
    `detail_query` follows the send's link (the list's result code filter).

    f-strings with the standard library's escape, not format_html: its checks of every
    argument for lazy text cost as much as the row itself. Every text from the database
    or a user goes through `escape`; the rest are numbers, choice keys and our words.
    """
    words = _words(get_language())
    pk = int(send.pk)
    requested = timezone.localtime(send.requested_at).strftime(DAY_TIME)
    scheduled = ""
    if send.scheduled_at:
        at = timezone.localtime(send.scheduled_at).strftime(DAY_TIME)
        scheduled = f'<div class="sub">{words["scheduled"]} {at}</div>'
    channel = words.get(f"channel:{send.channel}") or escape(send.channel)
    fallback = f" · {words['fallback']}" if send.fallback else ""
    title = f"<strong>{escape(send.title)}</strong> " if send.title else ""
    body = escape(Truncator(send.first_line).chars(BODY_CHARACTERS))
    link = escape(_url("result_detail", pk) + detail_query)
    status = escape(send.status)
    return mark_safe(  # every text in it escaped above, or a number or a choice key
        f'<tr id="send-{pk}"{_live(send, poll)}>'
        f'<td class="nowrap">{requested}{scheduled}{_deletion(send)}</td>'
        f'<td class="nowrap"><span class="channel channel-{escape(send.channel)}">{channel}</span>'
        f'<div class="sub">{words[f"source:{send.source}"]}{fallback}</div></td>'
        f'<td class="body-cell"><a id="send-link-{pk}" data-row-link href="{link}">'
        f"{title}{body}</a></td>"
        f'<td class="nowrap">{escape(str(send.sender))}</td>'
        f'<td><span class="badge status-{status}"><span class="mark" aria-hidden="true"></span>'
        f"{words[f'status:{send.status}']}</span></td>"
        f'<td class="num" data-label="{words["recipients"]}">{send.recipient_count:,}</td>'
        f"<td>{outcome_counts(send)}</td>"
        f'<td class="num nowrap" data-label="{words["success_rate"]}">'
        f"{_success_rate(send, words)}</td>"
        "</tr>"
    )


def detail_query(filterset: Any) -> str:
    """The query a row's link carries: the list's result code and outcomes, so the send
    opens at the recipients that code concerns; nothing otherwise."""
    code = getattr(filterset, "result_code", "")
    if not code:
        return ""
    return "?" + urlencode([("code", code), *(("outcome", o) for o in filterset.outcomes)])


def _live(send: SendRequest, poll: Poll | None) -> str:
    if send.status not in LIVE_STATUSES:
        return ""
    url = _url("result_row", int(send.pk)) + (f"?{poll.query}" if poll else "")
    seconds = poll.seconds if poll else POLL_STEPS[0]
    return (
        f' class="live" hx-get="{escape(url)}" hx-trigger="every {int(seconds)}s"'
        ' hx-swap="outerHTML" hx-sync="this:drop"'
    )


def _deletion(send: SendRequest) -> str:
    day = deleted_soon(send.requested_at)
    if day is None:
        return ""
    text = _("Deleted %(day)s") % {"day": day.isoformat()}
    return f'<div class="tag expiring">{escape(text)}</div>'


def _success_rate(send: SendRequest, words: dict[str, str]) -> str:
    rate = getattr(send, "success_rate", None)
    if rate is None:
        return f'<span class="muted" title="{words["no_result"]}">—</span>'
    # A tenth, dropped when it is zero (floatformat's "-1", without its 40 µs a call).
    return f"{float(rate):.1f}".removesuffix(".0") + "%"


def _url(name: str, pk: int) -> str:
    """reverse(name, args=[pk]), from the pattern reversed once (a reverse() a row was
    2.5 ms of the page)."""
    return _url_pattern(name, get_script_prefix()).replace(PK_MARK, str(pk))


PK_MARK = "2147483647"  # an id no pattern's own text holds


@functools.cache
def _url_pattern(name: str, prefix: str) -> str:
    # `prefix` (the script prefix reverse() puts in front) only keys the cache.
    return reverse(name, args=[int(PK_MARK)])


def delivery_row(delivery: Delivery, send: SendRequest, *, revealed: bool) -> SafeString:
    """A recipient's <tr> on its send's page: the number and name masked unless
    `revealed`, what became of the message, and our explanation of its result code.
    Written as rows.send_row is, and for the same reason."""
    words = _words(get_language())
    number = format_phone(delivery.recipient) if revealed else mask_phone(delivery.recipient)
    name = ""
    if delivery.recipient_name:
        shown = delivery.recipient_name if revealed else mask_name(delivery.recipient_name)
        name = f'<div class="sub">{escape(shown)}</div>'
    status = escape(delivery.status)
    channel = words.get(f"channel:{delivery.final_channel}") or escape(delivery.final_channel)
    fallback = ""
    if delivery.final_channel != send.channel:
        fallback = f' <span class="tag">{words["fallback"]}</span>'
    refunded = ""
    if delivery.points_refunded:
        refunded = f'<div class="sub">{words["refunded"]} {_points(delivery.points_refunded)}</div>'
    completed = _day_time(delivery.completed_at) if delivery.completed_at else "–"
    return mark_safe(  # every text in it escaped above or below, or one of our words
        "<tr>"
        f'<td class="nowrap">{escape(number)}{name}</td>'
        f'<td><span class="badge outcome-{status}"><span class="mark" aria-hidden="true">'
        f"</span>{words.get(f'outcome:{delivery.status}') or status}</span></td>"
        f'<td class="result-cell">{_result(delivery, send, words)}</td>'
        f'<td class="nowrap" data-label="{words["sent_by"]}">{channel}{fallback}</td>'
        f'<td data-label="{words["carrier"]}">{escape(delivery.carrier) or "–"}</td>'
        f'<td class="nowrap" data-label="{words["completed_at"]}">{completed}</td>'
        f'<td class="num" data-label="{words["points"]}">'
        f"{_points(delivery.points_charged)}{refunded}</td>"
        "</tr>"
    )


def _result(delivery: Delivery, send: SendRequest, words: dict[str, str]) -> str:
    """The result cell: the code with our explanation (for a failed request, the
    platform's reason first), or what a message without a result is waiting for."""
    code = delivery.result_code
    if not code:
        if delivery.status == Delivery.Status.SENDING:
            return f'<span class="sub">{words["sending"]}</span>'
        if delivery.status == Delivery.Status.WAITING:
            if send.scheduled_at:
                at = _("To be sent at the reserved time, %(at)s") % {
                    "at": _day_time(send.scheduled_at)
                }
                return f'<span class="sub">{escape(at)}</span>'
            return f'<span class="sub">{words["waiting"]}</span>'
        if delivery.status == Delivery.Status.CANCELLED:
            return f'<span class="sub">{words["cancelled"]}</span>'
        return ""
    info = explain(code, delivery.final_channel)
    summary = escape(str(info.summary)) if info else ""
    cell = f"<code>{escape(code)}</code> "
    if code == REQUEST_FAILED:
        if delivery.result_message:
            return cell + f'{escape(delivery.result_message)}<div class="sub">{summary}</div>'
        return cell + summary
    if info:
        action = f'<div class="sub">{escape(str(info.action))}</div>' if info.action else ""
        return cell + summary + action
    return cell + escape(delivery.result_message)


def _day_time(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime(DAY_TIME)


HUNDREDTH = Decimal("0.01")


def _points(value: Decimal) -> str:
    """What floatformat:"-2g" writes — whole points without decimals, others to two
    places, grouped by thousands (the same in Korean and English) — without its cost on
    every call."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP):,.2f}"
