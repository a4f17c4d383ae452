"""A send's row of the results list, built in Python.

Fifty of these make most of the list page: as a template partial they took 10 ms of a
40 ms page (variable lookups, filters, escaping, translations a cell at a time); here a
row is one f-string, 3.3 ms for fifty (docs/benchmarks.md). The same function answers a
live row's own request (views.result_row), so the list and its refreshed rows cannot
drift apart. The cells are those of
the list's header in templates/results/list.html; `data-label` names a cell on a phone's
card (app.css).
"""

from __future__ import annotations

import functools
from html import escape
from typing import Any
from urllib.parse import urlencode

from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..models import Channel, SendRequest, Source
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
