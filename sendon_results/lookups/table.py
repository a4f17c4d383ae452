"""The lookup table's rows as HTML, built here rather than in a template loop: 10,000 rows
through the template engine took 5 s of a 6 s request; this takes about 0.2 s. Every
value is escaped by format_html."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from .report import Row, channels

ROW = (
    '<tr><td class="num">{}</td><td class="nowrap">{}</td>'
    '<td class="nowrap">{}{}</td><td class="nowrap">{}</td>'
    '<td><span class="badge outcome-{}"><span class="mark" aria-hidden="true"></span>{}</span></td>'
    '<td class="result-cell">{}{}</td><td class="nowrap"><a href="{}">{}</a></td></tr>'
)
NO_DELIVERY = (
    '<tr class="lookup-none"><td class="num">{}</td><td class="nowrap">{}</td>'
    '<td colspan="5" class="muted">{}</td></tr>'
)


def table_rows(rows: Sequence[Row]) -> SafeString:
    # Resolved once, not per row: the translations and the send link's pattern.
    view, none, completed = _("View send"), _("No delivery in the period"), _("Completed at")
    link = reverse("result_detail", args=[0])[:-2]  # "/results/"
    return format_html_join("\n", "{}", ((_row(row, link, view, none, completed),) for row in rows))


def _row(row: Row, link: str, view: str, none: str, completed: str) -> SafeString:
    outcome = row.outcome
    if outcome is None:
        return format_html(NO_DELIVERY, row.row, row.number, none)
    requested = _local(outcome.requested_at, "%Y-%m-%d %H:%M")
    done = (
        format_html(
            '<div class="sub">{} {}</div>', completed, _local(outcome.completed_at, "%m-%d %H:%M")
        )
        if outcome.completed_at
        else ""
    )
    code = format_html("<code>{}</code> ", outcome.result_code) if outcome.result_code else ""
    return format_html(
        ROW,
        row.row,
        row.number,
        requested,
        done,
        channels(outcome),
        outcome.status,
        row.status_label,
        code,
        row.explanation,
        f"{link}{outcome.send_id}/",
        view,
    )


def _local(moment: dt.datetime, pattern: str) -> str:
    return timezone.localtime(moment).strftime(pattern)
