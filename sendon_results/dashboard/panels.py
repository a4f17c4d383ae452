"""What the dashboard page shows, from its figures: the headline cards, the charts'
geometry (charts.py) and the tables beside them, each number with its link to the results
list (links.py) and its words."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from ..models import Delivery
from . import charts
from .figures import KAKAO, OUTCOMES, TEXT, Bucket, Figures, Group, Headline, Scope, headlines
from .links import results_url

OUTCOME_LABELS = dict(Delivery.Status.choices)
SENDERS_CHARTED = 12  # the busiest senders in the chart; the table lists them all


def count_text(value: float) -> str:
    return f"{round(value):,}"


def points_text(value: float | Decimal) -> str:
    """1,234 or 1,234.5: points are charged in tenths at most, and whole as a rule."""
    text = f"{Decimal(value):,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _axis_rate(value: float) -> str:
    return f"{value:g}%"


def period_text(start: dt.date, end: dt.date) -> str:
    return start.isoformat() if start == end else f"{start.isoformat()} ~ {end.isoformat()}"


def axis_label(bucket: Bucket, grain: str) -> str:
    if grain == "month":
        return bucket.start.strftime("%Y-%m")
    label = f"{bucket.start.month}/{bucket.start.day}"
    return f"{label}~" if grain == "week" else label


def _spoken(period: str, series: str, value: str) -> str:
    return _("%(period)s · %(series)s %(value)s") % {
        "period": period,
        "series": series,
        "value": value,
    }


def headline_cards(figures: Figures) -> list[dict[str, Any]]:
    scope = figures.scope
    cards = []
    for headline in headlines(figures):
        if headline.key == "fallback_rate":
            href = results_url(scope, channels=KAKAO)
        else:
            outcomes = (headline.outcome,) if headline.outcome else ()
            href = results_url(scope, outcomes=outcomes)
        cards.append(
            {
                "key": headline.key,
                "label": headline.label,
                "value": _value_text(headline),
                "href": href,
                "change": _change_words(headline, scope),
                "tone": _tone(headline),
            }
        )
    return cards


def _value_text(headline: Headline) -> str:
    if headline.kind == "rate":
        return rate_text(headline.value if headline.value is None else float(headline.value))
    if headline.kind == "points":
        return points_text(headline.value or 0)
    return count_text(float(headline.value or 0))


def _change_words(headline: Headline, scope: Scope) -> dict[str, str] | None:
    """The change from the previous period, in words: "▲ 120 (+12.3%)" and "more than the
    previous 30 days"; None when there is nothing to compare with."""
    change = headline.change
    if change is None:
        return None
    days = scope.days
    if change.direction == "same":
        return {
            "mark": "=",
            "amount": "",
            "words": _("same as the previous %(days)s days") % {"days": days},
        }
    mark = "▲" if change.direction == "up" else "▼"
    size = abs(change.difference)
    if headline.kind == "rate":
        amount = f"{size:.1f}%p"
    elif headline.kind == "points":
        amount = points_text(Decimal(str(round(size, 2))))
    else:
        amount = count_text(size)
    if change.percent is not None and headline.kind != "rate":
        amount += f" ({change.percent:+.1f}%)"
    words = (
        _("more than the previous %(days)s days")
        if change.direction == "up"
        else _("less than the previous %(days)s days")
    ) % {"days": days}
    return {"mark": mark, "amount": amount, "words": words}


def _tone(headline: Headline) -> str:
    change = headline.change
    if change is None or change.direction == "same" or headline.rise_is == "neutral":
        return "neutral"
    good = (change.direction == "up") == (headline.rise_is == "good")
    return "good" if good else "bad"


def _bucket_rows(figures: Figures) -> list[dict[str, Any]]:
    rows = []
    for bucket in figures.buckets:
        totals = bucket.totals
        period = period_text(bucket.start, bucket.end)
        rows.append(
            {
                "bucket": bucket,
                "period": period,
                "axis": axis_label(bucket, figures.grain),
                "href": results_url(figures.scope, start=bucket.start, end=bucket.end),
                "outcomes": [
                    {
                        "outcome": outcome,
                        "label": str(OUTCOME_LABELS[outcome]),
                        "count": count,
                        "href": results_url(
                            figures.scope, start=bucket.start, end=bucket.end, outcomes=(outcome,)
                        ),
                    }
                    for outcome, count in totals.outcome_counts().items()
                ],
                "totals": totals,
                "rate": rate_text(totals.success_rate),
                "charged": points_text(totals.charged),
                "refunded": points_text(totals.refunded),
                "net": points_text(totals.net),
            }
        )
    return rows


def _group_bars(groups: list[Group], link: Any) -> charts.BarChart:
    bars = []
    for group in groups:
        totals = group.totals
        segments = [
            charts.Segment(
                getattr(totals, outcome),
                f"series-{outcome}",
                link(group, (outcome,)),
                _spoken(
                    group.label, str(OUTCOME_LABELS[outcome]), count_text(getattr(totals, outcome))
                ),
            )
            for outcome in OUTCOMES
        ]
        bars.append(
            charts.Bar(group.label, link(group, ()), segments, rate_text(totals.success_rate))
        )
    return charts.bar_chart(bars)


def _group_rows(groups: list[Group], link: Any) -> list[dict[str, Any]]:
    return [
        {
            "label": group.label,
            "href": link(group, ()),
            "messages": group.totals.messages,
            "success": group.totals.success,
            "success_href": link(group, ("success",)),
            "failure": group.totals.failure,
            "failure_href": link(group, ("failure",)),
            "rate": rate_text(group.totals.success_rate),
        }
        for group in groups
    ]


def build_panels(figures: Figures) -> dict[str, Any]:
    scope = figures.scope
    rows = _bucket_rows(figures)
    outcome_slots = [
        charts.Slot(
            row["axis"],
            [
                charts.Segment(
                    cell["count"],
                    f"series-{cell['outcome']}",
                    cell["href"],
                    _spoken(row["period"], cell["label"], count_text(cell["count"])),
                )
                for cell in row["outcomes"]
            ],
        )
        for row in rows
    ]
    messages = charts.column_chart(outcome_slots, stacked=True, number=count_text)
    success = charts.line_chart(
        [row["totals"].success_rate for row in rows],
        [row["axis"] for row in rows],
        [row["href"] for row in rows],
        [_spoken(row["period"], _("Success rate"), row["rate"]) for row in rows],
        number=_axis_rate,
        width=600,
        height=260,
    )
    points_slots = [
        charts.Slot(
            row["axis"],
            [
                charts.Segment(
                    float(row["totals"].charged),
                    "series-charged",
                    row["href"],
                    _spoken(row["period"], _("Points charged"), row["charged"]),
                ),
                charts.Segment(
                    float(row["totals"].refunded),
                    "series-refunded",
                    results_url(
                        scope,
                        start=row["bucket"].start,
                        end=row["bucket"].end,
                        outcomes=("failure", "cancelled"),
                    ),
                    _spoken(row["period"], _("Points refunded"), row["refunded"]),
                ),
            ],
        )
        for row in rows
    ]
    points = charts.column_chart(
        points_slots, stacked=False, number=points_text, whole=False, width=600, height=260
    )

    def channel_link(group: Group, outcomes: tuple[str, ...]) -> str:
        return results_url(scope, channels=(group.key,), outcomes=outcomes)

    def sender_link(group: Group, outcomes: tuple[str, ...]) -> str:
        return results_url(scope, sender=group.key, outcomes=outcomes)

    fallback = figures.fallback
    return {
        "headlines": headline_cards(figures),
        "rows": rows,
        "messages_chart": messages,
        "success_chart": success,
        "points_chart": points,
        "channel_chart": _group_bars(figures.channels, channel_link),
        "channel_rows": _group_rows(figures.channels, channel_link),
        "sender_chart": _group_bars(figures.senders[:SENDERS_CHARTED], sender_link),
        "sender_rows": _group_rows(figures.senders, sender_link),
        "senders_left_out": max(0, len(figures.senders) - SENDERS_CHARTED),
        "fallback": {
            "rate": rate_text(fallback.rate),
            "kakao": fallback.kakao,
            "fallen_back": fallback.fallen_back,
            "kakao_href": results_url(scope, channels=KAKAO),
            "by_channel": [
                {"channel": channel, "count": fallback.by_channel[channel]} for channel in TEXT
            ],
        },
    }
