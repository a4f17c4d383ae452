from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from sendon_results.models import SendRequest
from sendon_results.pagination import Cursor, InvalidCursor, paginate
from tests.factories import SendRequestFactory

KEY = ("requested_at", "id")


@pytest.fixture
def twelve(alice):
    # Pairs share a requested_at, so the id has to break ties.
    base = timezone.now().replace(microsecond=0)
    for i in range(12):
        SendRequestFactory(
            organization=alice.organization,
            sender=alice.phone,
            requested_at=base - dt.timedelta(minutes=i // 2),
        )
    return SendRequest.objects.for_org(alice.organization)


def walk(queryset, *, descending: bool, size: int) -> tuple[list[int], list[int]]:
    """Ids met walking to the end with "next" links, then back with "prev" links."""
    forward, page = [], paginate(queryset, key=KEY, descending=descending, cursor=None, size=size)
    pages = [page]
    forward += [row.pk for row in page.rows]
    while page.next_cursor:
        page = paginate(
            queryset,
            key=KEY,
            descending=descending,
            cursor=Cursor.decode(page.next_cursor),
            size=size,
        )
        pages.append(page)
        forward += [row.pk for row in page.rows]
    backward = [row.pk for row in page.rows]
    while page.prev_cursor:
        page = paginate(
            queryset,
            key=KEY,
            descending=descending,
            cursor=Cursor.decode(page.prev_cursor),
            size=size,
        )
        backward = [row.pk for row in page.rows] + backward
    assert pages[0].prev_cursor is None and pages[-1].next_cursor is None
    return forward, backward


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("size", [1, 5, 12, 50])
def test_walking_forward_and_back_meets_every_row_once_in_order(twelve, descending, size):
    ordering = ["-requested_at", "-id"] if descending else ["requested_at", "id"]
    expected = list(twelve.order_by(*ordering).values_list("pk", flat=True))
    forward, backward = walk(twelve, descending=descending, size=size)
    assert forward == expected
    assert backward == expected


def test_tampered_cursor_is_refused(twelve):
    token = paginate(twelve, key=KEY, descending=True, cursor=None, size=5).next_cursor
    with pytest.raises(InvalidCursor):
        Cursor.decode(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(InvalidCursor):
        Cursor.decode("not-a-cursor")


def test_cursor_of_another_key_is_refused(twelve):
    cursor = Cursor("next", ("5",))
    with pytest.raises(InvalidCursor):
        paginate(twelve, key=KEY, descending=True, cursor=cursor)
    with pytest.raises(InvalidCursor):
        paginate(twelve, key=KEY, descending=True, cursor=Cursor("next", ("yesterday", "x")))


@pytest.mark.parametrize("descending", [True, False])
def test_last_page_holds_the_final_rows_and_walks_back(twelve, descending):
    ordering = ["-requested_at", "-id"] if descending else ["requested_at", "id"]
    expected = list(twelve.order_by(*ordering).values_list("pk", flat=True))
    first = paginate(twelve, key=KEY, descending=descending, cursor=None, size=5)
    last = paginate(
        twelve, key=KEY, descending=descending, cursor=Cursor.decode(first.last_cursor), size=5
    )
    assert [row.pk for row in last.rows] == expected[-5:]
    assert last.next_cursor is None and last.last_cursor is None
    before = paginate(
        twelve, key=KEY, descending=descending, cursor=Cursor.decode(last.prev_cursor), size=5
    )
    assert [row.pk for row in before.rows] == expected[2:7]


def test_the_pager_links_to_the_last_page(alice, twelve):
    page = alice.client.get("/results/").content.decode()
    assert 'rel="last"' not in page  # twelve sends fit on the first page
    SendRequestFactory.create_batch(40, organization=alice.organization, sender=alice.phone)
    page = alice.client.get("/results/").content.decode()
    link = re.search(r'<a href="\?cursor=([^"]+)" rel="last">마지막 »</a>', page)
    assert link, page
    last = alice.client.get(f"/results/?cursor={link.group(1)}").content.decode()
    assert 'rel="prev"' in last and 'rel="next"' not in last
