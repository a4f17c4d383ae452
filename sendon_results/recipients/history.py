"""The deliveries to one number (or to the numbers ending in four digits) in a period,
newest first, a keyset page at a time; and, for an ending, which numbers it matched.

The period and the order are by the delivery's own copy of its send's requested_at, so
PostgreSQL reads the period's months of deliveries only and joins no send to filter or
sort. The deliveries are found through delivery_org_recipient (a whole number) or
delivery_org_recipient_end (four digits), a few hundred or thousand rows for a busy
number, and PostgreSQL sorts just those (measured in `manage.py bench_history`, README
"Recipient history").
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass

from django.db.models import Count, Max, Q
from django.utils import timezone

from ..dates import day_start
from ..models import Delivery, Organization
from ..models.sends import DeliveryQuerySet
from ..pagination import LAST_PAGE, Cursor, Direction, InvalidCursor, Page
from ..retention import cutoff

PAGE_SIZE = 50
# An ending's numbers, labelled A, B, C…: support tells customers apart by the letter,
# as their masked numbers may read the same (010-****-5678 twice).
NUMBER_LABELS = string.ascii_uppercase
ORDER = ("-requested_at", "-send_request_id", "-id")


def deliveries_to(
    organization: Organization, digits: str, start: dt.date, end: dt.date, *, ending: bool
) -> DeliveryQuerySet:
    """The organization's deliveries to `digits` (a whole number, or with `ending` the
    numbers ending in these four digits) whose send was requested from `start` to `end`
    inclusive, Korea time, and is still kept."""
    deliveries = Delivery.objects.filter(organization=organization)
    found = deliveries.to_recipients([], [digits]) if ending else deliveries.to_recipients([digits])
    since = max(day_start(start), cutoff(timezone.now()))
    until = day_start(end + dt.timedelta(days=1))
    # The same period on the sends joined for each row (the same moment, copied), so that
    # PostgreSQL joins the period's months of sends, not every month kept.
    return found.requested_between(since, until).filter(
        send_request__requested_at__gte=since, send_request__requested_at__lt=until
    )


def page_of(deliveries: DeliveryQuerySet, cursor: Cursor | None, size: int | None = None) -> Page:
    """One page of `deliveries`, newest send first (keyset on the send's requested_at and
    id, then the delivery's id: no OFFSET), with the send and its sender."""
    size = size or PAGE_SIZE
    backwards = cursor is not None and cursor.direction == "prev"
    at_end = cursor == LAST_PAGE
    if cursor is not None and not at_end:
        deliveries = deliveries.filter(_beyond(_position(cursor), descending=not backwards))
    ordering = [name.lstrip("-") if backwards else name for name in ORDER]
    rows = list(deliveries.select_related("send_request__sender").order_by(*ordering)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return Page(rows, None, None)
    has_next = not at_end and (more if not backwards else True)
    has_prev = cursor is not None and (more if backwards else True)
    return Page(
        rows,
        next_cursor=_cursor_at(rows[-1], "next") if has_next else None,
        prev_cursor=_cursor_at(rows[0], "prev") if has_prev else None,
    )


def _position(cursor: Cursor) -> tuple[dt.datetime, int, int]:
    try:
        at, send_id, delivery_id = cursor.position
        return dt.datetime.fromisoformat(at), int(send_id), int(delivery_id)
    except ValueError as error:
        raise InvalidCursor("position is not a delivery of this history") from error


def _beyond(position: tuple[dt.datetime, int, int], *, descending: bool) -> Q:
    """Deliveries after `position` in the scan order; the redundant bound on the time in
    front lets PostgreSQL stop the scan there (pagination._beyond says why)."""
    at, send_id, delivery_id = position
    op = "lt" if descending else "gt"
    return Q(**{f"requested_at__{op}e": at}) & (
        Q(**{f"requested_at__{op}": at})
        | Q(requested_at=at, **{f"send_request_id__{op}": send_id})
        | Q(requested_at=at, send_request_id=send_id, **{f"id__{op}": delivery_id})
    )


def _cursor_at(row: Delivery, direction: Direction) -> str:
    at = row.requested_at
    return Cursor(direction, (at.isoformat(), str(row.send_request_id), str(row.pk))).encode()


@dataclass(frozen=True)
class Number:
    """One of the numbers an ending matched: its label, digits, deliveries and last send."""

    label: str
    digits: str
    deliveries: int
    last: dt.datetime


def numbers_matched(deliveries: DeliveryQuerySet) -> tuple[list[Number], bool]:
    """The distinct numbers among `deliveries`, most recently sent to first, labelled A, B,
    C… (as many as there are letters); and whether there are more."""
    grouped = list(
        deliveries.order_by()
        .values("recipient")
        .annotate(deliveries=Count("id"), last=Max("requested_at"))
        .order_by("-last", "recipient")[: len(NUMBER_LABELS) + 1]
    )
    numbers = [
        Number(label, row["recipient"], row["deliveries"], row["last"])
        for label, row in zip(NUMBER_LABELS, grouped, strict=False)
    ]
    return numbers, len(grouped) > len(NUMBER_LABELS)
