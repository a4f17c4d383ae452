"""A send still moving (진행중, 즉시 발송중, 예약 취소중) refreshes its row on the list and its
figures on its page by itself: how often, and when to stop. And the list's success rate.

Polling backs off while nothing changes — every 2 s, then 5, 10 and 30 — and is quick
again as soon as a result arrives, so a send being answered looks live while a send
waiting on a slow carrier costs a request every half minute. It stops at a final state.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Case, F, FloatField, Value, When
from django.db.models.functions import Cast
from django.http import QueryDict

from ..models import SendRequest
from ..models.sends import SendRequestQuerySet

# The statuses a send leaves by itself, as results and the platform's word come in.
LIVE_STATUSES = frozenset(
    {
        SendRequest.Status.IN_PROGRESS,
        SendRequest.Status.SENDING_NOW,
        SendRequest.Status.CANCELLING,
    }
)
# Seconds between two looks, by how many looks in a row found nothing new.
POLL_STEPS = (2, 5, 10, 30)


def is_live(send: SendRequest) -> bool:
    return send.status in LIVE_STATUSES


def seen(send: SendRequest) -> str:
    """What a page showed of the send: its status and counts (a change in any of them is
    news), as a short token the next look sends back."""
    counts = send.outcome_counts().values()
    return "-".join([send.status, *(str(count) for count in counts)])


@dataclass(frozen=True)
class Poll:
    """The next look at a live send: in how many seconds, and its query string."""

    seconds: int
    query: str


def next_poll(send: SendRequest, query: QueryDict | None = None) -> Poll | None:
    """When to look at the send again (None: it reached a final state). `query` is the
    look that got this answer, with what it had seen and how many quiet looks before it."""
    if not is_live(send):
        return None
    query = query if query is not None else QueryDict()
    now = seen(send)
    quiet = _quiet_looks(query.get("quiet")) + 1 if query.get("seen") == now else 0
    quiet = min(quiet, len(POLL_STEPS) - 1)
    return Poll(seconds=POLL_STEPS[quiet], query=urlencode({"seen": now, "quiet": quiet}))


def _quiet_looks(value: str | None) -> int:
    # Anything but a small number (a hand-edited address) starts again from the quickest.
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 2:
        return 0
    return int(value)


def with_success_rate(sends: SendRequestQuerySet) -> SendRequestQuerySet:
    """`success_rate`: the share of the send's recipients with a final result that
    succeeded, in percent rounded down to a tenth (so 100 only when none failed); None
    while none has one. Recipients sending, waiting or cancelled count neither way.

    In the page's own query: no extra query, whatever the page holds."""
    finished = F("success_count") + F("failure_count")
    # Whole numbers divide into a whole number on both PostgreSQL and SQLite: rounded down.
    per_mille = F("success_count") * 1000 / finished
    return sends.annotate(
        success_rate=Case(
            When(success_count=0, failure_count=0, then=Value(None)),
            default=Cast(per_mille, FloatField()) / Value(10.0),
            output_field=FloatField(),
        )
    )
