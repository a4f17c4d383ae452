"""Queries of deliveries bounded by their own requested_at (a send's month, or a period)
find exactly the rows they found by the send alone; on PostgreSQL they read the months'
partitions only."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from functools import partial

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from sendon_results.exports import failed, rows, writers
from sendon_results.ingest.results import save_results
from sendon_results.models import Delivery, DeliveryTally, Export, SendRequest
from sendon_results.pagination import paginate
from sendon_results.recipients.history import deliveries_to, page_of
from sendon_results.results.filters import DeliveryFilter, SendRequestFilter
from sendon_results.tallies import rebuild_tallies
from tests.factories import make_send

NUMBER = "01012345678"
PARTITION = re.compile(r"sendon_results_delivery_p\d{4}_\d{2}")


@pytest.fixture
def months(alice):
    """Two sends of alice a month and more apart (each in its own month's partition on
    PostgreSQL), both to NUMBER, with failures of different codes."""
    now = timezone.now()
    recent = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=now - dt.timedelta(hours=1),
        outcomes=["success", "failure", "failure"],
        recipients=[NUMBER, "01011110001", "01011110002"],
    )
    older = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=now - dt.timedelta(days=45),
        outcomes=["failure", "success"],
        recipients=[NUMBER, "01022220001"],
    )
    Delivery.objects.filter(send_request=older, status="failure").update(result_code="E915")
    return recent, older


def _own(send: SendRequest) -> set[int]:
    return set(Delivery.objects.filter(send_request=send).values_list("pk", flat=True))


def _day(send: SendRequest) -> str:
    return timezone.localdate(send.requested_at).isoformat()


def test_deliveries_carry_their_sends_requested_at(months):
    for send in months:
        assert set(
            Delivery.objects.filter(send_request=send).values_list("requested_at", flat=True)
        ) == {send.requested_at}
        assert set(Delivery.objects.of_send(send).values_list("pk", flat=True)) == _own(send)
    assert set(Delivery.objects.of_sends(months).values_list("pk", flat=True)) == (
        _own(months[0]) | _own(months[1])
    )


def test_the_detail_page_and_api_list_the_sends_own_deliveries(alice, months):
    for send in months:
        response = alice.client.get(reverse("result_detail", args=[send.pk]))
        assert response.status_code == 200
        assert {d.pk for d in response.context["page"].rows} == _own(send)
        failures = response.context["send"].failure_breakdown()
        codes = Delivery.objects.filter(send_request=send, status="failure")
        assert sum(row["count"] for row in failures["rows"]) == codes.count()
        assert {row["result_code"] for row in failures["rows"]} == set(
            codes.values_list("result_code", flat=True)
        )


def test_the_failed_numbers_file_holds_the_sends_own_failures(months):
    for send in months:
        with translation.override("ko"):
            made = failed.failed_rows(send, unmasked=True)
            listed = list(made.rows)
        expected = Delivery.objects.filter(send_request=send, status="failure")
        assert len(listed) == made.total == expected.count()


def test_the_lists_recipient_and_code_filters_keep_to_its_period(alice, months):
    recent, older = months

    def found(**params: str) -> set[int]:
        data = QueryDict(mutable=True)
        data.update(params)
        filterset = SendRequestFilter(data, organization=alice.organization)
        assert filterset.is_valid(), filterset.form.errors
        return set(filterset.qs.values_list("pk", flat=True))

    assert found(recipient=NUMBER) == {recent.pk, older.pk}
    assert found(recipient="5678") == {recent.pk, older.pk}
    assert found(recipient=NUMBER, requested_from=_day(recent)) == {recent.pk}
    assert found(recipient=NUMBER, requested_to=_day(older)) == {older.pk}
    assert found(recipient=NUMBER, requested_from=_day(older), requested_to=_day(older)) == {
        older.pk
    }
    assert found(code="E915") == {older.pk}
    assert found(code="3019") == {recent.pk}
    assert found(code="E915", requested_from=_day(recent)) == set()
    assert found(code="3019", requested_to=_day(older)) == set()


def test_the_recipient_history_finds_each_month_of_its_period(alice, months):
    recent, older = months
    organization = alice.organization
    everything = deliveries_to(
        organization,
        NUMBER,
        timezone.localdate(older.requested_at),
        timezone.localdate(),
        ending=False,
    )
    page = page_of(everything, None)
    assert [(d.send_request_id, d.requested_at) for d in page.rows] == [
        (recent.pk, recent.requested_at),
        (older.pk, older.requested_at),
    ]
    day = timezone.localdate(older.requested_at)
    assert [d.send_request_id for d in deliveries_to(organization, NUMBER, day, day, ending=False)]
    assert [
        d.send_request_id for d in deliveries_to(organization, "5678", day, day, ending=True)
    ] == [older.pk]
    response = alice.client.get(
        reverse("recipient_history"),
        {"number": NUMBER, "requested_from": _day(older), "requested_to": _day(recent)},
    )
    assert response.status_code == 200


def test_a_deliveries_export_holds_the_sends_own_deliveries(alice, months, tmp_path):
    export = Export(
        organization=alice.organization,
        created_by=alice.user,
        kind="deliveries",
        filters={},
        expires_at=timezone.now(),
        unmasked=True,
    )
    with translation.override("ko"):
        made = rows.export_rows(export)
        listed = list(made.rows)
    assert len(listed) == made.total == 5
    # Newest send first, each send's recipients in id order.
    assert [row[5] for row in listed][:3] == ["010-1234-5678", "010-1111-0001", "010-1111-0002"]
    if connection.vendor == "postgresql":
        with translation.override("ko"):
            writers.write_csv(tmp_path / "python.csv", rows.export_rows(export))
            count = writers.copy_csv(tmp_path / "copy.csv", rows.export_rows(export))
        python = list(csv.reader((tmp_path / "python.csv").open(encoding="utf-8-sig")))
        copied = list(csv.reader((tmp_path / "copy.csv").open(encoding="utf-8-sig")))
        assert count == 5 and copied == python


def test_a_recount_counts_each_delivery_on_its_sends_day(alice, months):
    """rebuild_tallies reads the deliveries' own requested_at for the day: the same days
    as their sends' (the fixture changed codes by UPDATE, so the tallies need it)."""
    expected: Counter[tuple[object, ...]] = Counter()
    for d in Delivery.objects.select_related("send_request"):
        send = d.send_request
        key = (timezone.localdate(send.requested_at), send.sender_id, send.channel)
        key += (d.final_channel, d.status, d.result_code, d.carrier)
        expected[(*key, "deliveries")] += 1
        expected[(*key, "charged")] += d.points_charged
        expected[(*key, "refunded")] += d.points_refunded
    rebuild_tallies([alice.organization])
    counted: Counter[tuple[object, ...]] = Counter()
    for t in DeliveryTally.objects.filter(organization=alice.organization):
        key = (t.day, t.sender_id, t.channel, t.final_channel, t.status, t.result_code)
        key += (t.carrier,)
        counted[(*key, "deliveries")] += t.deliveries
        counted[(*key, "charged")] += t.points_charged
        counted[(*key, "refunded")] += t.points_refunded
    assert counted == expected
    assert len({key[0] for key in counted}) == 2


def _partitions(plan: str) -> set[str]:
    return set(PARTITION.findall(plan))


def _partition_of(send: SendRequest) -> str:
    month = timezone.localtime(send.requested_at)
    return f"sendon_results_delivery_p{month:%Y_%m}"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions: PostgreSQL only")
def test_a_sends_deliveries_are_read_from_its_months_partition_alone(months):
    for send in months:
        detail = DeliveryFilter(QueryDict(), queryset=Delivery.objects.of_send(send)).qs
        assert _partitions(detail.order_by("id").explain()) == {_partition_of(send)}
        # By the send alone, every month's partition is looked into.
        assert len(_partitions(send.deliveries.order_by("id").explain())) > 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions: PostgreSQL only")
def test_a_one_month_history_reads_that_months_partition_alone(alice, months):
    recent, older = months
    day = timezone.localdate(older.requested_at)
    history = deliveries_to(alice.organization, NUMBER, day, day, ending=False)
    plan = history.select_related("send_request__sender").order_by("-requested_at").explain()
    assert PARTITION.findall(plan) and _partitions(plan) == {_partition_of(older)}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions: PostgreSQL only")
def test_results_are_written_into_their_sends_partition_alone(months):
    recent, _ = months
    deliveries = list(Delivery.objects.of_send(recent).order_by("id"))
    for delivery in deliveries:
        delivery.status, delivery.result_code = "failure", "3019"
    statements: list[tuple[str, object]] = []

    def capture(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        save_results(deliveries)
    ((sql, params),) = statements
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert _partitions(plan) == {_partition_of(recent)}
    assert set(Delivery.objects.of_send(recent).values_list("result_code", flat=True)) == {"3019"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions: PostgreSQL only")
@pytest.mark.parametrize("search", [{"recipient": NUMBER}, {"code": "E915"}])
def test_the_lists_delivery_filters_read_its_periods_partitions_alone(alice, months, search):
    _, older = months
    data = QueryDict(mutable=True)
    data.update({**search, "requested_from": _day(older), "requested_to": _day(older)})
    filterset = SendRequestFilter(data, organization=alice.organization)
    assert filterset.is_valid()
    assert list(filterset.qs.values_list("pk", flat=True)) == [older.pk]
    assert _partitions(filterset.qs.explain()) == {_partition_of(older)}


@pytest.fixture
def spread(alice):
    """Sends of alice to NUMBER over the kept year (a few a month, some sharing a moment,
    one at the retention cutoff's month and one at a month's first instant in Korea),
    between sends to other numbers."""
    now = timezone.now().replace(microsecond=0)
    first_of_month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0)
    moments = [now - dt.timedelta(days=days) for days in (0, 0, 3, 20, 41, 80, 81, 170, 300, 362)]
    moments += [first_of_month, first_of_month - dt.timedelta(microseconds=1)]
    for at in moments:
        make_send(alice.organization, sender=alice.phone, requested_at=at, recipients=[NUMBER])
        make_send(alice.organization, sender=alice.phone, requested_at=at)
    return moments


def _filterset(alice, **params: str) -> SendRequestFilter:
    data = QueryDict(mutable=True)
    data.update(params)
    filterset = SendRequestFilter(data, organization=alice.organization)
    assert filterset.is_valid(), filterset.form.errors
    return filterset


@pytest.mark.parametrize(
    "params",
    [
        {"recipient": NUMBER},
        {"recipient": "5678"},
        {"recipient": NUMBER, "order": "oldest"},
        {"code": "1000"},
        {"recipient": NUMBER, "requested_from": 100},
        {"recipient": NUMBER, "requested_to": 60},
        {"recipient": NUMBER, "requested_from": 200, "requested_to": 30},
    ],
)
def test_month_parts_hold_what_the_whole_query_does_in_its_order(alice, spread, params):
    today = timezone.localdate()
    # Days of the period are given as days ago.
    filterset = _filterset(
        alice,
        **{
            name: (today - dt.timedelta(days=value)).isoformat()
            if isinstance(value, int)
            else value
            for name, value in params.items()
        },
    )
    whole = list(filterset.qs.order_by("requested_at", "id").values_list("pk", flat=True))
    parts = filterset.by_month()
    assert len(parts) > 1
    read = [list(p.order_by("requested_at", "id").values_list("pk", flat=True)) for p in parts]
    if not filterset.oldest_first:
        read.reverse()  # the parts come newest month first
    assert [pk for part in read for pk in part] == whole  # each once, months in order
    assert len(whole) >= 3


def test_without_a_delivery_filter_the_list_is_one_part(alice, spread):
    filterset = _filterset(alice, status="completed")
    (whole,) = filterset.by_month()
    assert list(whole) == list(filterset.qs)


@pytest.mark.parametrize("order", ["", "oldest"])
def test_a_busy_numbers_list_reads_by_month_and_pages_as_the_whole_would(
    alice, spread, monkeypatch, order
):
    # More sends match than the list counts: it reads a month at a time (views.results).
    monkeypatch.setattr("sendon_results.results.views.COUNT_LIMIT", 2)
    monkeypatch.setattr("sendon_results.results.views.paginate", partial(paginate, size=3))
    query = f"recipient={NUMBER}&order={order}"
    filterset = _filterset(alice, recipient=NUMBER, order=order)
    ordering = ["requested_at", "id"] if order else ["-requested_at", "-id"]
    expected = list(filterset.qs.order_by(*ordering).values_list("pk", flat=True))
    seen, url = [], f"/results/?{query}"
    while url:
        response = alice.client.get(url)
        assert response.context["count_capped"]
        page = response.context["page"]
        seen += [send.pk for send in page.rows]
        url = f"/results/?{query}&cursor={page.next_cursor}" if page.next_cursor else ""
    assert seen == expected
    first = alice.client.get(f"/results/?{query}").context["page"]
    last = alice.client.get(f"/results/?{query}&cursor={first.last_cursor}").context["page"]
    assert [send.pk for send in last.rows] == expected[-3:]
    back = alice.client.get(f"/results/?{query}&cursor={last.prev_cursor}").context["page"]
    assert [send.pk for send in back.rows] == expected[-6:-3]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions: PostgreSQL only")
def test_each_month_part_reads_that_months_partitions_alone(alice, spread):
    filterset = _filterset(alice, recipient=NUMBER)
    newest, *older = filterset.by_month()
    for part in older:
        plan = part.order_by("-requested_at", "-id")[:51].explain()
        assert len(_partitions(plan)) == 1, plan
    # The newest stays open at its end: this month's and the (empty) months made ahead.
    plan = newest.order_by("-requested_at", "-id")[:51].explain()
    this_month = f"sendon_results_delivery_p{timezone.localdate():%Y_%m}"
    assert min(_partitions(plan)) == this_month
