"""Each number's last outcome in a period: the delivery of the latest send to it.

"Latest" is the send's requested_at (the delivery's copy of it, which bounds the period
too, so PostgreSQL reads the period's months only), then its id, then the delivery's id
(a number twice in one send: the later row); the send is joined for its channel only.
Numbers go in chunks, each one query served by delivery_org_recipient (organization,
recipient, send_request). On PostgreSQL `DISTINCT ON (recipient)` keeps
one row per number in the database; elsewhere (SQLite) the rows come ordered and the
first of each number is kept here. `tests/test_lookups.py` keeps the two equal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from ..models import Delivery, Organization
from ..retention import cutoff

# Numbers per query: one IN list the planner still probes the index with, and under
# SQLite's 999 parameters a statement.
CHUNK = 900
FIELDS = (
    "recipient",
    "id",
    "send_request_id",
    "requested_at",
    "send_request__channel",
    "final_channel",
    "status",
    "result_code",
    "result_message",
    "completed_at",
)


@dataclass(frozen=True)
class LastOutcome:
    recipient: str
    delivery_id: int
    send_id: int
    requested_at: dt.datetime
    channel: str  # the send's
    final_channel: str  # the one the message finally went by (KakaoTalk may fall back)
    status: str  # Delivery.Status
    result_code: str
    result_message: str
    completed_at: dt.datetime | None


def last_outcomes(
    organization: Organization,
    numbers: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    distinct_on: bool | None = None,
) -> dict[str, LastOutcome]:
    """{number: its last outcome} for the numbers (digits) that the organization sent to
    in [start, end), never before the retention cutoff; the others are absent."""
    if distinct_on is None:
        distinct_on = connection.features.can_distinct_on_fields
    start = max(start, cutoff(timezone.now()))
    found: dict[str, LastOutcome] = {}
    if start >= end:
        return found
    for index in range(0, len(numbers), CHUNK):
        rows = (
            Delivery.objects.filter(
                organization=organization,
                recipient__in=numbers[index : index + CHUNK],
                requested_at__gte=start,
                requested_at__lt=end,
            )
            .order_by("recipient", "-requested_at", "-send_request_id", "-id")
            .values_list(*FIELDS)
        )
        if distinct_on:
            rows = rows.distinct("recipient")
        for row in rows:
            if row[0] not in found:
                found[row[0]] = LastOutcome(*row)
    return found
