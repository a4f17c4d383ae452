from __future__ import annotations

import datetime as dt
import io
import os
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from sendon_results import retention
from sendon_results.api.keys import create_key
from sendon_results.confirmations.render import run_confirmation
from sendon_results.confirmations.requests import request_confirmation
from sendon_results.exports.requests import run_export
from sendon_results.models import (
    Confirmation,
    Delivery,
    Export,
    PurgeLock,
    PurgeLog,
    SendRequest,
    Statement,
)
from sendon_results.statements.render import run_statement
from sendon_results.statements.requests import request_statement
from tests.conftest import other_connection
from tests.factories import make_send

KST = ZoneInfo("Asia/Seoul")
MIDNIGHT = dt.datetime(2026, 11, 28, 0, 0, 0, tzinfo=KST)


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def external_ids() -> set[str]:
    return set(SendRequest.objects.values_list("external_id", flat=True))


def test_the_boundary_is_the_korean_day(alice):
    with at(MIDNIGHT):
        for name, age in {
            "364d23h": dt.timedelta(days=364, hours=23),
            "365d": dt.timedelta(days=365),
            "365d1s": dt.timedelta(days=365, seconds=1),
        }.items():
            make_send(
                alice.organization,
                sender=alice.phone,
                external_id=name,
                requested_at=MIDNIGHT - age,
                outcomes=["success", "failure"],
            )
        result = retention.purge_expired()
    # 365 d before midnight is 2025-11-28 00:00: that day's sends stay until tomorrow.
    assert external_ids() == {"364d23h", "365d"}
    assert (result.sends, result.deliveries) == (1, 2)
    assert Delivery.objects.count() == 4


def test_the_example_of_the_rule(alice):
    requested = dt.datetime(2025, 11, 27, 14, 0, tzinfo=KST)
    make_send(alice.organization, sender=alice.phone, external_id="x", requested_at=requested)
    with at(dt.datetime(2026, 11, 27, 23, 59, 59, tzinfo=KST)):
        retention.purge_expired()
    assert external_ids() == {"x"}  # not one run before
    with at(dt.datetime(2026, 11, 28, 0, 0, 0, tzinfo=KST)):
        retention.purge_expired()
    assert external_ids() == set()
    assert retention.deletion_day(requested) == dt.date(2026, 11, 28)


def test_dry_run_changes_nothing_and_reports(alice, capsys):
    old = MIDNIGHT - dt.timedelta(days=400)
    make_send(alice.organization, sender=alice.phone, requested_at=old, outcomes=["success"] * 3)
    with at(MIDNIGHT):
        call_command("purge_expired", "--dry-run")
    out = capsys.readouterr().out
    assert "Would delete" in out and "1 sends, 3 deliveries" in out
    assert SendRequest.objects.count() == 1 and Delivery.objects.count() == 3
    log = PurgeLog.objects.get()
    assert log.dry_run and log.sends == 1 and log.deliveries == 3


def test_an_interrupted_purge_finishes_on_the_next_run(alice, bob):
    def history():
        for account in (alice, bob):
            for i in range(6):
                old = MIDNIGHT - dt.timedelta(days=370 + i)
                make_send(
                    account.organization,
                    sender=account.phone,
                    requested_at=old,
                    outcomes=["success"] * 2,
                )
            make_send(account.organization, sender=account.phone, requested_at=MIDNIGHT)

    with at(MIDNIGHT):
        history()
        first = retention.purge_expired(batch_size=2, max_batches=1)  # stops after one batch
        assert first.sends == 1 and not PurgeLog.objects.latest("started_at").completed
        # Consistent in between: no delivery without its send, counts intact.
        assert not Delivery.objects.filter(send_request__isnull=True).exists()
        for send in SendRequest.objects.all():
            assert send.deliveries.count() == send.recipient_count
        retention.purge_expired(batch_size=2)
        interrupted = (sorted(external_ids()), Delivery.objects.count())
        SendRequest.objects.all().delete()
        history()
        retention.purge_expired()
        uninterrupted = (sorted(external_ids()), Delivery.objects.count())
    assert len(interrupted[0]) == 2
    assert (len(interrupted[0]), interrupted[1]) == (len(uninterrupted[0]), uninterrupted[1])


def test_two_purges_do_not_run_at_once(alice):
    from django.db import connection

    if connection.vendor == "postgresql":
        other = other_connection()
        other.execute("SELECT pg_advisory_lock(%s)", [retention.ADVISORY_LOCK_KEY])
        try:
            with pytest.raises(retention.PurgeAlreadyRunning):
                retention.purge_expired()
        finally:
            # Released before closing: the server lets go of a closed session's locks a
            # moment after close() returns, and the purge below could still find it held.
            other.execute("SELECT pg_advisory_unlock(%s)", [retention.ADVISORY_LOCK_KEY])
            other.close()
    else:
        PurgeLock.objects.create(pk=1, held_until=timezone.now() + dt.timedelta(hours=1))
        with pytest.raises(retention.PurgeAlreadyRunning):
            retention.purge_expired()
        PurgeLock.objects.filter(pk=1).update(held_until=timezone.now())  # the other one ends
    retention.purge_expired()  # free again


def test_a_clock_that_jumps_ahead_does_not_widen_the_window(alice, monkeypatch):
    make_send(
        alice.organization,
        sender=alice.phone,
        external_id="kept",
        requested_at=timezone.now() - dt.timedelta(days=300),
    )
    jumped = timezone.now() + dt.timedelta(days=100)
    monkeypatch.setattr(retention.timezone, "now", lambda: jumped)
    retention.purge_expired()  # the database's clock did not jump
    assert external_ids() == {"kept"}


def test_expired_files_go_and_fresh_ones_stay(alice):
    with at(MIDNIGHT):

        def export(name: str, **fields) -> Export:
            job = Export.objects.create(
                organization=alice.organization,
                created_by=alice.user,
                kind="sends",
                file_format="xlsx",
                state="done",
                filters={},
                expires_at=timezone.now() + dt.timedelta(days=7),
                **fields,
            )
            job.file.save(f"{name}.xlsx", ContentFile(b"PK..."), save=True)
            return job

        fresh = export("fresh", covers_from=MIDNIGHT - dt.timedelta(days=10))
        old = export("old")
        Export.objects.filter(pk=old.pk).update(expires_at=MIDNIGHT - dt.timedelta(minutes=1))
        # Its oldest record is purged today: the file goes with it, before its expiry.
        holding = export("holding", covers_from=MIDNIGHT - dt.timedelta(days=366))
        paths = {job.pk: job.file.path for job in (fresh, old, holding)}
        result = retention.purge_expired()
    assert result.files == 2
    for job in (old, holding):
        job.refresh_from_db()
        assert job.state == Export.State.EXPIRED and not job.file
        assert not os.path.exists(paths[job.pk])
        response = alice.client.get(f"/exports/{job.pk}/download/")
        assert response.status_code == 410 and "만료" in response.content.decode()
    fresh.refresh_from_db()
    assert fresh.state == Export.State.DONE and os.path.exists(paths[fresh.pk])


def test_the_list_marks_sends_about_to_go_and_offers_their_export(
    alice, django_capture_on_commit_callbacks
):
    with at(MIDNIGHT + dt.timedelta(hours=10)):
        soon = MIDNIGHT - dt.timedelta(days=340)
        make_send(
            alice.organization,
            sender=alice.phone,
            external_id="soon",
            requested_at=soon,
            outcomes=["success"] * 2,
        )
        make_send(
            alice.organization,
            sender=alice.phone,
            external_id="later",
            requested_at=MIDNIGHT - dt.timedelta(days=300),
        )
        html = alice.client.get("/results/").content.decode()
        assert "30일 안에 삭제될 발송:" in html and "<strong>1건</strong>" in html
        assert "2026-12-24 삭제 예정" in html  # requested 2025-12-23, + 366 days
        assert html.count("삭제 예정") == 1
        assert 'value="requested_to=2025-12-27"' in html  # deleted by 2026-12-28
        data = {"query": "requested_to=2025-12-27", "kind": "deliveries", "file_format": "xlsx"}
        with django_capture_on_commit_callbacks(execute=True):
            alice.client.post("/exports/new/", data)
        export = Export.objects.get()
        assert export.state == "done" and export.row_count == 2


def test_the_period_filter_stops_at_the_window(alice):
    with at(MIDNIGHT):
        response = alice.client.get("/results/?requested_from=2025-11-27")
        assert response.status_code == 400
        assert "365일 동안만 보관됩니다. 2025-11-28 이후" in response.content.decode()
        assert alice.client.get("/results/?requested_from=2025-11-28").status_code == 200


def test_beat_runs_the_purge_every_day_at_four_in_korea():
    from sendon_results import tasks
    from sendon_results.celery import app

    entry = app.conf.beat_schedule["purge-expired"]
    assert app.tasks[entry["task"]].run is tasks.purge_expired.run  # a task workers know
    schedule = entry["schedule"]
    schedule.app = app  # its time zone, as beat's
    seoul = ZoneInfo("Asia/Seoul")
    schedule.nowfun = lambda: dt.datetime(2026, 11, 28, 3, 59, tzinfo=seoul)
    assert schedule.remaining_estimate(
        dt.datetime(2026, 11, 27, 4, 0, tzinfo=seoul)
    ) == dt.timedelta(minutes=1)
    assert schedule.remaining_estimate(
        dt.datetime(2026, 11, 28, 4, 0, tzinfo=seoul)
    ) == dt.timedelta(days=1, minutes=1)


def test_sends_past_their_day_are_shown_nowhere(alice, django_capture_on_commit_callbacks):
    """Expired sends only wait for the purge: the list, the API and exports leave them out
    before it runs, and a period wholly before the window is refused, as the list would
    find nothing in it."""
    with at(MIDNIGHT + dt.timedelta(hours=10)):
        # Requested 2025-11-27 (expired since midnight), 2025-11-28 00:00 (kept), recently.
        for name, age in {"overdue": 366, "last-day": 365, "recent": 3}.items():
            make_send(
                alice.organization,
                sender=alice.phone,
                external_id=name,
                requested_at=MIDNIGHT - dt.timedelta(days=age),
            )

        def listed(query: str = "") -> list[str]:
            response = alice.client.get(f"/results/?{query}")
            assert response.status_code == 200, response.content.decode()[:2000]
            return [send.external_id for send in response.context["page"].rows]

        assert listed() == ["recent", "last-day"]
        assert listed("order=oldest") == ["last-day", "recent"]
        assert listed("requested_to=2025-11-28") == ["last-day"]
        html = alice.client.get("/results/").content.decode()
        assert "다음 정리 때 삭제" not in html
        for query in (
            "requested_to=2025-11-27",
            "requested_from=2025-11-27",
            "requested_from=2025-11-01&requested_to=2025-11-10",
        ):
            response = alice.client.get(f"/results/?{query}")
            assert response.status_code == 400, query
            assert "365일 동안만 보관됩니다. 2025-11-28 이후" in response.content.decode()

        _, secret = create_key(organization=alice.organization, name="p", user=alice.user)
        platform = Client(headers={"Authorization": f"Bearer {secret}"})
        answer = platform.get("/api/v1/send-requests").json()
        assert [send["external_id"] for send in answer["results"]] == ["recent", "last-day"]
        answer = platform.get("/api/v1/send-requests?requested_to=2025-11-10")
        assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "requested_to"

        for kind in ("sends", "deliveries"):
            data = {"query": "", "kind": kind, "file_format": "xlsx", "split": ""}
            with django_capture_on_commit_callbacks(execute=True):
                alice.client.post("/exports/new/", data)
            export = Export.objects.filter(kind=kind).get()
            assert export.state == "done" and export.row_count == 2, export.error
            # Named by the period asked for (none: the whole window kept, up to today).
            assert export.file_name.endswith("_2025-11-28_2026-11-28.xlsx")


def test_an_export_that_runs_after_midnight_leaves_out_what_expired_meanwhile(
    alice, django_capture_on_commit_callbacks
):
    """Asked at the end of a day for the oldest day kept, run after midnight: the filter
    is still the one asked for (not refused), and the day that expired is left out."""
    with at(MIDNIGHT - dt.timedelta(minutes=1)):
        # Requested 2025-11-27, the oldest day kept until midnight, and 2025-11-28.
        for name, age in {"first-kept": 366, "next": 365}.items():
            make_send(
                alice.organization,
                sender=alice.phone,
                external_id=name,
                requested_at=MIDNIGHT - dt.timedelta(days=age),
            )
        data = {
            "query": "requested_from=2025-11-27",
            "kind": "sends",
            "file_format": "xlsx",
            "split": "",
        }
        with django_capture_on_commit_callbacks(execute=False):  # queued, not run yet
            assert alice.client.post("/exports/new/", data).status_code == 302
        export = Export.objects.get()
        assert export.filters == {"requested_from": ["2025-11-27"]}
    with at(MIDNIGHT + dt.timedelta(minutes=1)):
        run_export(export.pk)
    export.refresh_from_db()
    assert export.state == "done" and export.row_count == 1, export.error
    with export.file.open("rb") as file:
        rows = list(load_workbook(io.BytesIO(file.read())).active.iter_rows(values_only=True))
    assert [row[-1] for row in rows[1:]] == ["next"]


def test_a_send_of_the_cutoff_day_morning_is_kept_between_expired_ones(alice):
    """The purge deletes id ranges; what lies inside a range but is not expired stays
    (a Korean morning is the previous day in UTC)."""
    with at(MIDNIGHT):
        make_send(
            alice.organization,
            sender=alice.phone,
            external_id="old-1",
            requested_at=MIDNIGHT - dt.timedelta(days=400),
        )
        morning = MIDNIGHT - dt.timedelta(days=365) + dt.timedelta(hours=8)
        make_send(
            alice.organization, sender=alice.phone, external_id="morning", requested_at=morning
        )
        make_send(
            alice.organization,
            sender=alice.phone,
            external_id="old-2",
            requested_at=MIDNIGHT - dt.timedelta(days=401),
        )
        retention.purge_expired()
    assert external_ids() == {"morning"}


def test_a_statement_lives_as_long_as_the_records_it_sums_up(alice):
    """Its file is not an export's: kept while its period's records are, not 7 days, and
    the purge removes it the night the last of them goes."""
    with at(MIDNIGHT - dt.timedelta(days=366, hours=-10)):  # 2025-11-27 10:00
        make_send(alice.organization, sender=alice.phone, external_id="then")
        day = timezone.localdate()
        statement, _ = request_statement(
            user=alice.user, organization=alice.organization, period_from=day, period_to=day
        )
        run_statement(statement.pk)
    statement.refresh_from_db()
    assert statement.state == Statement.State.DONE and statement.row_count == 1
    path = statement.file.path
    assert statement.expires_at == MIDNIGHT  # the day its send is deleted from
    with at(MIDNIGHT - dt.timedelta(hours=20)):
        alice.client.force_login(alice.user)  # a session of its own time
        assert retention.purge_expired().files == 0
        assert alice.client.get(f"/statements/{statement.pk}/download/").status_code == 200
    with at(MIDNIGHT + dt.timedelta(hours=4)):
        alice.client.force_login(alice.user)  # a day later: the last sign-in has ended
        result = retention.purge_expired()
        assert result.files == 1 and result.sends == 1
        response = alice.client.get(f"/statements/{statement.pk}/download/")
        assert response.status_code == 410
    statement.refresh_from_db()
    assert statement.state == Statement.State.EXPIRED and not statement.file
    assert not os.path.exists(path)


def test_a_delivery_confirmation_goes_with_its_records_and_forgets_the_number(alice):
    number = "01055557777"
    with at(MIDNIGHT - dt.timedelta(days=366, hours=-10)):
        make_send(alice.organization, sender=alice.phone, recipients=[number])
        day = timezone.localdate()
        confirmation, _ = request_confirmation(
            user=alice.user,
            organization=alice.organization,
            recipient=number,
            period_from=day,
            period_to=day,
            unmasked=False,
        )
        run_confirmation(confirmation.pk)
    confirmation.refresh_from_db()
    assert confirmation.state == Confirmation.State.DONE and confirmation.expires_at == MIDNIGHT
    path = confirmation.file.path
    with at(MIDNIGHT - dt.timedelta(hours=20)):
        assert retention.purge_expired().files == 0
    with at(MIDNIGHT + dt.timedelta(hours=4)):
        assert retention.purge_expired().files == 1
    confirmation.refresh_from_db()
    assert confirmation.state == Confirmation.State.EXPIRED and not confirmation.file
    assert confirmation.recipient == "" and not os.path.exists(path)
    assert confirmation.figures is None and confirmation.fingerprint == ""
