"""The summary above the results list: what the sends of the current filter add up to.

Read from the daily send tallies when every filter in use is one of their dimensions
(period, processing status, sender, channel, source): a few thousand rows whatever the
size of the list. Any other filter (outcome, message text, recipient, result code) is
summed over the matching sends themselves — at once when the list's bounded count found
them few, otherwise in a request of its own that the list page loads after it is shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import OperationalError, connection, connections, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from psycopg.errors import QueryCanceled

from .. import tallies
from ..models import SendMonthTally, SendTally
from ..partitions import next_month
from ..rates import success_rate
from ..retention import oldest_kept_day
from .filters import SendRequestFilter

# The filters whose every value is a dimension of the send tallies.
TALLIED_FILTERS = {"status", "sender", "channel", "source", "requested_from", "requested_to"}
# The tallies' sums (tallies.SEND_SUMS) and the summary's names for them.
TALLY_SUMS = tallies.SEND_SUMS
SUMMARY_FIELDS = ("sends", "messages", *TALLY_SUMS[2:])
# At most this many matching sends are summed while the list page waits (its bounded
# count, COUNT_LIMIT, tells whether there are more).
DIRECT_LIMIT = 1_000
# How long the request of its own may sum (PostgreSQL): a text filter over a year of a
# large organization's sends reads every body.
DEFERRED_TIMEOUT_MS = 3_000


@dataclass(frozen=True)
class Summary:
    sends: int
    messages: int
    success: int
    failure: int
    sending: int
    waiting: int
    cancelled: int
    points_charged: Decimal
    points_refunded: Decimal

    @property
    def success_rate(self) -> float | None:
        """Successes among the messages with a final result, in percent; None before any
        has one. Waiting and cancelled messages never went out: neither counts."""
        return success_rate(self.success, self.failure)

    @property
    def points_net(self) -> Decimal:
        return self.points_charged - self.points_refunded


def tallied(filterset: SendRequestFilter) -> bool:
    """Whether the send tallies can answer this (valid) filter."""
    used = {name for name, value in filterset.form.cleaned_data.items() if value}
    return used <= TALLIED_FILTERS | {"cursor", "order"}


def summarize(filterset: SendRequestFilter, *, matched: int | None) -> Summary | None:
    """The summary of a valid filter, or None when it must be summed in a request of its
    own. `matched` is how many sends the list's bounded count found (None: more than it
    counts)."""
    if tallied(filterset):
        return from_tallies(filterset)
    if matched is not None and matched <= DIRECT_LIMIT:
        return from_sends(filterset)
    return None


def from_tallies(filterset: SendRequestFilter) -> Summary:
    """Summed from the monthly tallies for the months the period covers whole, and from
    the daily ones for the days of the months it covers in part (at most two)."""
    data = filterset.form.cleaned_data
    start: dt.date = max(
        data.get("requested_from") or dt.date.min, oldest_kept_day(timezone.localdate())
    )
    end: dt.date | None = data.get("requested_to")
    first_whole = start if start.day == 1 else next_month(start)
    # The first month past the whole ones (None: every month from first_whole on).
    past_whole = (end + dt.timedelta(days=1)).replace(day=1) if end else None
    days = SendTally.objects.filter(organization=filterset.organization, day__gte=start)
    if end:
        days = days.filter(day__lte=end)
    if past_whole is not None and past_whole <= first_whole:
        return _summed([_narrowed(days, data)])
    months = SendMonthTally.objects.filter(
        organization=filterset.organization, month__gte=first_whole
    )
    edges = Q(day__lt=first_whole)
    if past_whole is not None:
        months = months.filter(month__lt=past_whole)
        edges |= Q(day__gte=past_whole)
    return _summed([_narrowed(months, data), _narrowed(days.filter(edges), data)])


def _narrowed[T: (SendTally, SendMonthTally)](
    rows: QuerySet[T], data: dict[str, Any]
) -> QuerySet[T]:
    for name in ("status", "channel", "source"):
        if values := data.get(name):
            rows = rows.filter(**{f"{name}__in": values})
    if senders := data.get("sender"):
        rows = rows.filter(sender__in=[sender.pk for sender in senders])
    return rows.values_list(*TALLY_SUMS)


def _summed(parts: list[QuerySet[Any]]) -> Summary:
    """The sums of the tally rows of every part, in one statement (Django's aggregate()
    would take one each, and it sums no UNION)."""
    statements, parameters = zip(*(part.query.sql_with_params() for part in parts), strict=True)
    sums = ", ".join(f"SUM({name})" for name in TALLY_SUMS)
    with connections[parts[0].db].cursor() as cursor:
        cursor.execute(
            f"SELECT {sums} FROM ({' UNION ALL '.join(statements)}) AS tallies",
            [value for values in parameters for value in values],
        )
        row = cursor.fetchone()
    return _summary(dict(zip(SUMMARY_FIELDS, row, strict=True)))


def from_sends(filterset: SendRequestFilter) -> Summary:
    """Summed over the matching sends' own counts (never their deliveries)."""
    sends = filterset.qs.order_by()
    totals = sends.aggregate(
        sends=Count("id"),
        messages=Sum("recipient_count"),
        success=Sum("success_count"),
        failure=Sum("failure_count"),
        sending=Sum("sending_count"),
        waiting=Sum("waiting_count"),
        cancelled=Sum("cancelled_count"),
        points_charged=Sum("points_charged"),
        points_refunded=Sum("points_refunded"),
    )
    return _summary(totals)


def from_sends_in_time(filterset: SendRequestFilter) -> Summary | None:
    """from_sends, or None when it would take longer than DEFERRED_TIMEOUT_MS."""
    if connection.vendor != "postgresql":
        return from_sends(filterset)
    database = filterset.qs.db  # a replica, where the page reads from one
    try:
        with transaction.atomic(using=database):
            with connections[database].cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [DEFERRED_TIMEOUT_MS])
            return from_sends(filterset)
    except OperationalError as problem:
        if isinstance(problem.__cause__, QueryCanceled):
            return None
        raise


def _summary(totals: dict[str, int | Decimal | None]) -> Summary:
    def number(name: str) -> int:
        return int(totals[name] or 0)

    def points(name: str) -> Decimal:
        return Decimal(totals[name] or 0).quantize(Decimal("0.01"))

    return Summary(
        sends=number("sends"),
        messages=number("messages"),
        success=number("success"),
        failure=number("failure"),
        sending=number("sending"),
        waiting=number("waiting"),
        cancelled=number("cancelled"),
        points_charged=points("points_charged"),
        points_refunded=points("points_refunded"),
    )
