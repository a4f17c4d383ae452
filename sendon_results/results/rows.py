"""A send's row of the results list, built in Python.

Fifty of these make most of the list page: as a template partial they took 10 ms of a
40 ms page (variable lookups, filters, escaping, translations a cell at a time); here a
row is one format_html. The same function answers a live row's own request (views.
result_row), so the list and its refreshed rows cannot drift apart. The cells are those of
the list's header in templates/results/list.html; `data-label` names a cell on a phone's
card (app.css).
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlencode

from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..models import Channel, SendRequest, Source
from ..templatetags.results import deleted_soon, outcome_counts, thousands
from .progress import LIVE_STATUSES, POLL_STEPS, Poll

DAY_TIME = "%Y-%m-%d %H:%M"
BODY_CHARACTERS = 60


@functools.cache
def _words(language: str | None) -> dict[str, str]:
    """The row's fixed words and choice labels in one language, translated once."""
    return {
        "scheduled": _("Scheduled"),
        "fallback": _("Fallback"),
        "recipients": _("Recipients"),
        "success_rate": _("Success rate"),
        "no_result": _("No final result yet"),
        **{f"channel:{value}": str(label) for value, label in Channel.choices},
        **{f"source:{value}": str(label) for value, label in Source.choices},
        **{f"status:{value}": str(label) for value, label in SendRequest.Status.choices},
    }


def send_row(send: SendRequest, *, poll: Poll | None = None, detail_query: str = "") -> SafeString:
    """The send's <tr>. A send still moving asks for its own row again (`poll`: when, and
    what it had seen; the first look when None), until it reaches a final state.
    `detail_query` follows the send's link (the list's result code filter)."""
    words = _words(get_language())
    return format_html(
        '<tr id="send-{}"{}>'
        '<td class="nowrap">{}{}{}</td>'
        '<td class="nowrap"><span class="channel channel-{}">{}</span>'
        '<div class="sub">{}{}</div></td>'
        '<td class="body-cell"><a id="send-link-{}" data-row-link href="{}{}">{}{}</a></td>'
        '<td class="nowrap">{}</td>'
        '<td><span class="badge status-{}">'
        '<span class="mark" aria-hidden="true"></span>{}</span></td>'
        '<td class="num" data-label="{}">{}</td>'
        "<td>{}</td>"
        '<td class="num nowrap" data-label="{}">{}</td>'
        "</tr>",
        send.pk,
        _live(send, poll),
        timezone.localtime(send.requested_at).strftime(DAY_TIME),
        format_html(
            '<div class="sub">{} {}</div>',
            words["scheduled"],
            timezone.localtime(send.scheduled_at).strftime(DAY_TIME),
        )
        if send.scheduled_at
        else "",
        _deletion(send),
        send.channel,
        words.get(f"channel:{send.channel}", send.channel),
        words[f"source:{send.source}"],
        f" · {words['fallback']}" if send.fallback else "",
        send.pk,
        reverse("result_detail", args=[send.pk]),
        detail_query,
        format_html("<strong>{}</strong> ", send.title) if send.title else "",
        Truncator(send.first_line).chars(BODY_CHARACTERS),
        send.sender,
        send.status,
        words[f"status:{send.status}"],
        words["recipients"],
        thousands(send.recipient_count),
        outcome_counts(send),
        words["success_rate"],
        _success_rate(send, words),
    )


def detail_query(filterset: Any) -> str:
    """The query a row's link carries: the list's result code and outcomes, so the send
    opens at the recipients that code concerns; nothing otherwise."""
    code = getattr(filterset, "result_code", "")
    if not code:
        return ""
    return "?" + urlencode([("code", code), *(("outcome", o) for o in filterset.outcomes)])


def _live(send: SendRequest, poll: Poll | None) -> SafeString:
    if send.status not in LIVE_STATUSES:
        return mark_safe("")
    url = reverse("result_row", args=[send.pk]) + (f"?{poll.query}" if poll else "")
    return format_html(
        ' class="live" hx-get="{}" hx-trigger="every {}s" hx-swap="outerHTML" hx-sync="this:drop"',
        url,
        poll.seconds if poll else POLL_STEPS[0],
    )


def _deletion(send: SendRequest) -> SafeString:
    day = deleted_soon(send.requested_at)
    if day is None:
        return mark_safe("")
    return format_html(
        '<div class="tag expiring">{}</div>', _("Deleted %(day)s") % {"day": day.isoformat()}
    )


def _success_rate(send: SendRequest, words: dict[str, str]) -> SafeString:
    rate = getattr(send, "success_rate", None)
    if rate is None:
        return format_html('<span class="muted" title="{}">—</span>', words["no_result"])
    return format_html("{}%", floatformat(rate, "-1"))
