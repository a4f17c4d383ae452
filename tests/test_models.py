from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from sendon_results.models import (
    EARLIEST_MOMENT,
    LATEST_MOMENT,
    Delivery,
    Export,
    SendRequest,
    Statement,
)
from sendon_results.retention import purge_expired
from tests.factories import SendRequestFactory, make_send


def test_outcome_counts_must_add_up(alice):
    with pytest.raises(IntegrityError):
        SendRequestFactory(
            organization=alice.organization,
            sender=alice.phone,
            recipient_count=3,
            success_count=1,
            failure_count=1,
            sending_count=0,
        )


def test_with_outcome_reads_the_counts(alice):
    ok = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    mixed = make_send(alice.organization, sender=alice.phone, outcomes=["success", "failure"])
    qs = SendRequest.objects.for_org(alice.organization)
    assert set(qs.with_outcome(["failure"])) == {mixed}
    assert set(qs.with_outcome(["success"])) == {ok, mixed}
    assert set(qs.with_outcome(["sending"])) == set()
    reserved = make_send(alice.organization, sender=alice.phone, outcomes=["waiting"] * 2)
    cancelled = make_send(alice.organization, sender=alice.phone, outcomes=["cancelled"])
    assert set(qs.with_outcome(["waiting"])) == {reserved}
    assert set(qs.with_outcome(["cancelled"])) == {cancelled}
    assert set(qs.with_outcome(["failure", "cancelled"])) == {mixed, cancelled}


def test_first_line_and_outcome_counts(alice):
    send = make_send(
        alice.organization,
        sender=alice.phone,
        body="\n  첫 줄\n둘째 줄",
        outcomes=["success", "success", "success", "failure"],
    )
    assert send.first_line == "첫 줄"
    assert send.outcome_counts() == {
        "success": 3,
        "failure": 1,
        "sending": 0,
        "waiting": 0,
        "cancelled": 0,
    }


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize(
    ("table", "column"),
    [
        (SendRequest._meta.db_table, "requested_at"),
        (SendRequest._meta.db_table, "scheduled_at"),
        (Delivery._meta.db_table, "completed_at"),
        (Delivery._meta.db_table, "sent_at"),
    ],
)
def test_the_database_refuses_moments_no_page_could_show(alice, moment, table, column):
    send = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s", [moment])
    send.refresh_from_db()
    assert alice.client.get(f"/results/{send.pk}/").status_code == 200


def test_pages_survive_the_extreme_moments_the_database_holds(
    alice, django_capture_on_commit_callbacks
):
    """Rows written past the API, at the edges of what the database accepts: every page,
    export, statement and the purge still work."""
    latest = LATEST_MOMENT - dt.timedelta(microseconds=1)
    # Requested then (in those months' partitions on PostgreSQL, counted in those days).
    first = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success", "failure"],
        requested_at=EARLIEST_MOMENT,
        scheduled_at=EARLIEST_MOMENT,
    )
    last = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success", "sending"],
        requested_at=latest,
        scheduled_at=latest,
    )
    recent = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    Delivery.objects.filter(send_request=first).update(
        sent_at=EARLIEST_MOMENT, completed_at=EARLIEST_MOMENT
    )
    Delivery.objects.filter(send_request=last).update(sent_at=latest, completed_at=latest)
    for order in ("", "oldest"):
        response = alice.client.get("/results/", {"order": order})
        assert response.status_code == 200
        shown = [send.pk for send in response.context["page"].rows]
        assert recent.pk in shown
    for send in (last, recent):
        assert alice.client.get(f"/results/{send.pk}/").status_code == 200
    assert alice.client.get(f"/results/{first.pk}/").status_code == 404  # expired long ago
    for kind in ("sends", "deliveries"):
        for file_format in ("xlsx", "csv"):
            data = {"kind": kind, "file_format": file_format, "query": ""}
            with django_capture_on_commit_callbacks(execute=True):
                assert alice.client.post("/exports/new/", data).status_code == 302
    assert set(Export.objects.values_list("state", flat=True)) == {"done"}
    assert alice.client.get("/exports/").status_code == 200
    today = timezone.localdate()
    period = {"period_from": (today - dt.timedelta(days=30)).isoformat(), "period_to": today}
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.client.post("/statements/", period).status_code == 302
    statement = Statement.objects.get()
    assert statement.state == "done", statement.error
    assert statement.figures["total"]["messages"] == 1  # the recent send only
    assert alice.client.get("/statements/").status_code == 200
    purged = purge_expired()
    assert purged.sends == 1 and not SendRequest.objects.filter(pk=first.pk).exists()
    assert SendRequest.objects.filter(pk=last.pk).exists()
