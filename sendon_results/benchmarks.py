"""What the bench_* management commands share: which organization to measure, a client
signed in to it, whole requests timed (p50 / p95) and the plans of the queries they ran.

The commands measure pages as a member meets them, through Django's test Client (the
whole middleware, view and template stack, without a network in between).
"""

from __future__ import annotations

import html
import logging
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from django.db import connection
from django.db.models import Count
from django.test import Client

from .accounts.middleware import SESSION_KEY
from .models import Membership, Organization

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# The pager's links (templates/includes/pager.html), followed as a user would click them.
NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')
LAST_LINK = re.compile(r'<a href="([^"]+)" rel="last">')


class _Sends(TypedDict):
    sends: int


def chosen_organization(name: str | None) -> WithAnnotations[Organization, _Sends] | None:
    """The organization called `name`, or without one the organization with most sends;
    either carries its number of sends as `sends`."""
    organizations = Organization.objects.annotate(sends=Count("send_requests"))
    if name:
        return organizations.filter(name=name).first()
    return organizations.order_by("-sends").first()


def signed_in_client(organization: Organization, *, role: str | None = None) -> Client | None:
    """A client signed in as a member of `organization` (with `role`, if given) and
    working in it; None when it has no such member.

    Signing in writes a session row: commands that leave the database as they found it
    call this inside the transaction they roll back."""
    # The request log would otherwise print a line per measured request.
    logging.getLogger("sendon_results.requests").setLevel(logging.WARNING)
    members = Membership.objects.filter(organization=organization).select_related("user")
    if role is not None:
        members = members.filter(role=role)
    member = members.first()
    if member is None:
        return None
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(member.user)
    # The organization worked in is the member's first unless the session says otherwise.
    session = client.session
    session[SESSION_KEY] = organization.pk
    session.save()
    return client


def percentiles(timings: Sequence[float]) -> str:
    """p50 / p95 of `timings` in milliseconds (p95 by nearest rank: one of the timings)."""
    ordered = sorted(timings)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered):.1f} / {p95:.1f}"


def time_url(client: Client, url: str, repeat: int) -> str:
    """p50 / p95 of `repeat` GETs of `url`, after one that warms the caches."""
    client.get(url)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return percentiles(timings)


def follow(client: Client, url: str, link: re.Pattern[str], times: int) -> str | None:
    """Follow a pager `link` `times` times from `url`; None where the pages end first."""
    path = url.split("?", 1)[0]
    for _ in range(times):
        found = link.search(client.get(url).content.decode())
        if not found:
            return None
        url = html.unescape(found.group(1))
        if url.startswith("?"):
            url = path + url
    return url


@dataclass(frozen=True)
class RanQuery:
    """A database query a page ran, and how long the database took over it."""

    seconds: float
    sql: str
    params: Any
    url: str


def queries_of(client: Client, urls: Iterable[str]) -> list[RanQuery]:
    """Every query the pages at `urls` run, each GET once, in the order they ran."""
    ran: list[RanQuery] = []
    url = ""

    def timed(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ran.append(RanQuery(time.perf_counter() - started, sql, params, url))

    with connection.execute_wrapper(timed):
        for url in urls:
            client.get(url)
    return ran


def plan(sql: str, params: Any) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a query, line by line; none but on PostgreSQL, the
    database the figures are taken on."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return [line for (line,) in cursor.fetchall()]


def explain_slowest(client: Client, urls: Iterable[str], write: Callable[[str], object]) -> None:
    """The slowest database query any page at `urls` runs, and its plan."""
    ran = queries_of(client, urls)
    if not ran:
        return
    slowest = max(ran, key=lambda query: query.seconds)
    write(f"\nSlowest query ({slowest.seconds * 1000:.1f} ms), on {slowest.url}:")
    lines = plan(slowest.sql, slowest.params)
    if lines:
        write("\n".join(lines))
