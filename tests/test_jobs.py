"""Fair use of the job queue: quotas per member and per organization (exports and
statements together), one filter one job whatever else the address carries, and one
organization's backlog never standing in front of another organization's job."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from django.test import Client
from django.utils import timezone, translation

from sendon_results import jobs, tasks
from sendon_results.celery import app
from sendon_results.exports import requests as export_requests
from sendon_results.exports.requests import request_export
from sendon_results.models import Export, Job, Statement
from sendon_results.results.filters import SendRequestFilter
from tests.factories import MembershipFactory, make_send
from tests.test_tasks import start_worker

USER_FULL = "진행 중이거나 대기 중인 작업(엑셀 다운로드와 발송내역서)이 이미 3건 있어"
ORGANIZATION_FULL = "조직 전체에서 진행 중이거나 대기 중인 작업이 이미 10건 있어"
PERIOD = {"period_from": "2026-10-01", "period_to": "2026-10-31", "sender": "", "channel": ""}


def post_export(client: Client, query: str = "", **choices: str):
    """Ask for an export from the list page. In these tests (outside the ones that say
    otherwise) nothing is committed, so no job is handed to the queue: each one asked for
    stays waiting, as behind a busy worker."""
    data = {"kind": "sends", "file_format": "xlsx", "split": "", "query": query, **choices}
    return client.post("/exports/new/", data, follow=True)


def signed_in_member(account) -> tuple[Client, object]:
    user = MembershipFactory(organization=account.organization).user
    client = Client()
    client.force_login(user)
    return client, user


def active(**lookups) -> int:
    return sum(model.objects.filter(**lookups).active().count() for model in Job.kinds())


# Quotas.


def test_a_member_may_have_three_jobs_waiting_exports_and_statements_together(alice):
    for query in ("status=completed", "status=failed"):
        assert post_export(alice.client, query).status_code == 200
    response = alice.client.post("/statements/", PERIOD, follow=True)
    assert response.status_code == 200 and USER_FULL not in response.content.decode()
    assert active(created_by=alice.user) == 3

    # A fourth, of either kind: the page says why, and nothing is queued or numbered.
    response = post_export(alice.client, "channel=sms")
    assert response.redirect_chain == [("/results/?channel=sms", 302)]
    assert USER_FULL in response.content.decode()
    response = alice.client.post("/statements/", {**PERIOD, "period_to": "2026-10-30"}, follow=True)
    assert response.redirect_chain == [("/statements/", 302)]
    assert USER_FULL in response.content.decode()
    assert Export.objects.count() == 2 and Statement.objects.count() == 1

    # A double click on one of the three still finds it, without a message.
    response = post_export(alice.client, "status=failed")
    assert USER_FULL not in response.content.decode()
    assert Export.objects.count() == 2

    # Another member of the organization has room of their own.
    carol, _ = signed_in_member(alice)
    assert USER_FULL not in post_export(carol, "channel=sms").content.decode()
    assert Export.objects.count() == 3

    # Once one of alice's is made, she may ask again.
    Export.objects.filter(created_by=alice.user, filters={"status": ["completed"]}).update(
        state=Job.State.DONE
    )
    assert USER_FULL not in post_export(alice.client, "channel=sms").content.decode()
    assert active(created_by=alice.user) == 3


def test_trying_again_counts_too(alice, failed_export):
    failed = failed_export
    for query in ("status=completed", "status=failed", "channel=sms"):
        post_export(alice.client, query)
    response = alice.client.post(f"/exports/{failed.pk}/retry/", follow=True)
    assert USER_FULL in response.content.decode()
    failed.refresh_from_db()
    assert failed.state == Job.State.FAILED  # still there to try later

    Export.objects.filter(created_by=alice.user, state=Job.State.PENDING).update(
        state=Job.State.DONE
    )
    response = alice.client.post(f"/exports/{failed.pk}/retry/", follow=True)
    assert "내보내기를 다시 시도합니다." in response.content.decode()
    failed.refresh_from_db()
    assert failed.state == Job.State.PENDING and failed.queued_at is None  # waits its turn


@pytest.fixture
def failed_export(alice) -> Export:
    """An export of alice's that failed a while ago."""
    return Export.objects.create(
        organization=alice.organization,
        created_by=alice.user,
        kind="sends",
        file_format="xlsx",
        filters={"q": ["옛날"]},
        state=Job.State.FAILED,
        error="time limit",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )


def test_an_organization_may_have_ten_jobs_waiting(alice, bob):
    members = [signed_in_member(alice)[0] for _ in range(4)]
    queries = ["status=completed", "status=failed", "channel=sms"]
    for client in members[:3]:
        for query in queries:
            assert ORGANIZATION_FULL not in post_export(client, query).content.decode()
    alice.client.post("/statements/", PERIOD)
    assert active(organization=alice.organization) == 10

    # The eleventh, by a member who has none: the organization's message.
    response = post_export(members[3], "channel=lms")
    assert ORGANIZATION_FULL in response.content.decode()
    response = members[3].post("/statements/", PERIOD, follow=True)
    assert ORGANIZATION_FULL in response.content.decode()
    assert active(organization=alice.organization) == 10

    # Another organization is not held back by this one's quota.
    assert ORGANIZATION_FULL not in post_export(bob.client, "channel=lms").content.decode()
    assert active(organization=bob.organization) == 1


def test_quotas_are_settings(alice, settings):
    settings.EXPORT_ACTIVE_PER_USER = 1
    post_export(alice.client, "status=completed")
    response = post_export(alice.client, "status=failed")
    assert "이미 1건 있어" in response.content.decode()
    settings.EXPORT_ACTIVE_PER_USER = 5
    settings.EXPORT_ACTIVE_PER_ORGANIZATION = 2
    post_export(alice.client, "status=failed")
    response = post_export(alice.client, "channel=sms")
    assert "조직 전체에서 진행 중이거나 대기 중인 작업이 이미 2건 있어" in response.content.decode()
    with translation.override("en"), pytest.raises(jobs.QueueFull, match="organization already"):
        jobs.check_quota(user_id=alice.user.pk, organization_id=alice.organization.pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["the same member", "another member"])
def test_two_requests_at_once_cannot_both_take_the_last_place(alice, settings, who):
    """The second waits for the first's transaction (the membership's row, then the
    organization's), then counts the first's job, instead of both counting none."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    settings.EXPORT_ACTIVE_PER_USER = settings.EXPORT_ACTIVE_PER_ORGANIZATION = 1
    user = alice.user if who == "the same member" else signed_in_member(alice)[1]
    outcome: dict[str, str] = {}

    def ask() -> None:
        try:
            request_export(
                user=user,
                organization=alice.organization,
                kind="sends",
                file_format="csv",
                filters={"status": ["failed"]},
            )
            outcome["second"] = "queued"
        except jobs.QueueFull as full:
            outcome["second"] = str(full)
        finally:
            connection.close()

    with transaction.atomic():
        request_export(
            user=alice.user,
            organization=alice.organization,
            kind="sends",
            file_format="xlsx",
            filters={},
        )
        other = threading.Thread(target=ask)
        other.start()
        other.join(timeout=1)
        assert other.is_alive()  # waiting for the first to commit
    other.join(timeout=30)
    assert "이미 1건" in outcome["second"]
    assert Export.objects.count() == 1


# The duplicate check.


def test_unknown_parameters_are_dropped_before_the_duplicate_check(alice):
    post_export(alice.client, "status=failed&utm_source=x&utm=x")
    post_export(alice.client, "status=failed")
    post_export(alice.client, "utm=y&status=failed&cursor=abc")
    export = Export.objects.get()
    assert export.filters == {"status": ["failed"]}


def test_saved_filters_keep_what_the_list_knows():
    query = QueryDict("status=failed&status=completed&order=oldest&q=&cursor=x&utm=1&fbclid=2")
    assert SendRequestFilter.saved(query) == {
        "status": ["failed", "completed"],
        "order": ["oldest"],
    }


# Fairness.


@pytest.mark.django_db(transaction=True)
def test_one_organizations_backlog_does_not_hold_up_anothers_job(alice, bob, settings, monkeypatch):
    """Embedded (tasks run eagerly, each request's in its own thread): while alice's first
    export is being made, alice asks for four more and then bob for one. Bob's is made at
    once; alice's wait their turn, and are made one after another once her first is done
    (by her first request, as it ends). Without turns bob's would be made last."""
    settings.EXPORT_ACTIVE_PER_USER = 10
    make_send(alice.organization, sender=alice.phone, outcomes=["success"] * 2)
    make_send(bob.organization, sender=bob.phone)
    alice_again = Client()
    alice_again.force_login(alice.user)
    made: list[int] = []
    write_export = export_requests.write_export

    def write(path: Path, export: Export) -> int:
        made.append(export.pk)
        if len(made) == 1:  # alice's first is being made: the others ask now
            for query in ["status=completed", "status=failed", "channel=sms", "channel=lms"]:
                post_export(alice_again, query)
            assert Export.objects.filter(state=Job.State.PENDING).count() == 4
            post_export(bob.client)
        return write_export(path, export)

    monkeypatch.setattr(export_requests, "write_export", write)
    post_export(alice.client)

    alices = list(Export.objects.filter(organization=alice.organization).order_by("created_at"))
    (bobs,) = Export.objects.filter(organization=bob.organization)
    assert made == [alices[0].pk, bobs.pk, *(export.pk for export in alices[1:])]
    assert all(export.state == Job.State.DONE for export in [*alices, bobs])
    assert bobs.finished_at < alices[1].started_at


def test_an_organization_has_one_job_in_the_queues_hands_at_a_time(
    alice, bob, settings, monkeypatch
):
    """What the broker is given: one job per organization at a time, its oldest waiting
    one of any kind, and its next when that one ends."""
    sent: list[tuple[str | None, int]] = []
    for model, task in tasks.JOB_TASKS:
        name = model._meta.model_name
        monkeypatch.setattr(task, "delay", lambda pk, name=name: sent.append((name, pk)))
    first = waiting(Export, alice)
    statement = waiting(Statement, alice)
    third = waiting(Export, alice)
    bobs = waiting(Export, bob)
    tasks.dispatch(alice.organization.pk)
    tasks.dispatch(alice.organization.pk)  # a second call hands over nothing more
    tasks.dispatch(bob.organization.pk)
    assert sent == [("export", first.pk), ("export", bobs.pk)]
    finish(first)
    tasks.dispatch(alice.organization.pk)
    assert sent[2:] == [("statement", statement.pk)]
    finish(statement)
    settings.EXPORT_RUNNING_PER_ORGANIZATION = 2
    fourth = waiting(Export, alice)
    tasks.dispatch(alice.organization.pk)
    assert sent[3:] == [("export", third.pk), ("export", fourth.pk)]


def waiting(model: type[Job], account, **fields) -> Job:
    """A job asked for just now and waiting for its turn."""
    common = {
        "organization": account.organization,
        "created_by": account.user,
        "expires_at": timezone.now() + dt.timedelta(days=7),
    }
    if model is Statement:
        count = Statement.objects.count()
        fields = {
            "number": f"ST-2026-10-{count + 1:04d}",
            "verification_code": f"{count:012d}",
            "period_from": dt.date(2026, 10, 1),
            "period_to": dt.date(2026, 10, 31),
            **fields,
        }
    else:
        fields = {"kind": "sends", "file_format": "xlsx", **fields}
    return model.objects.create(**common, **fields)


def finish(job: Job) -> None:
    type(job).objects.filter(pk=job.pk).update(state=Job.State.DONE, finished_at=timezone.now())


# What the queue already guaranteed, with turns.


def test_the_sweep_hands_over_a_missed_turn_and_never_fails_a_job_waiting_its_turn(alice, settings):
    limit = dt.timedelta(seconds=settings.EXPORT_TIME_LIMIT + 601)
    stuck = waiting(Export, alice, filters={"q": ["stuck"]})
    behind = waiting(Export, alice, filters={"q": ["behind"]})
    long_ago = timezone.now() - limit
    Export.objects.filter(pk=stuck.pk).update(created_at=long_ago, queued_at=long_ago)
    Export.objects.filter(pk=behind.pk).update(created_at=long_ago)  # waited as long
    assert tasks.fail_stuck_jobs.delay().get() == 1  # the one in the queue's hands
    stuck.refresh_from_db()
    behind.refresh_from_db()
    assert stuck.state == Job.State.FAILED
    assert behind.state == Job.State.DONE  # its turn came: handed over, made (eagerly)


def test_an_unreachable_queue_fails_only_the_job_handed_over(alice, monkeypatch):
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_export, "delay", broker_down)
    first = waiting(Export, alice, filters={"q": ["first"]})
    second = waiting(Export, alice, filters={"q": ["second"]})
    tasks.dispatch(alice.organization.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == Job.State.FAILED and "대기열" in first.error
    assert second.state == Job.State.PENDING and second.queued_at is None  # for the sweep


def test_a_requeued_orphan_stays_in_the_queues_hands(alice):
    held = waiting(Export, alice, filters={"q": ["held"]})
    Export.objects.filter(pk=held.pk).update(
        state=Job.State.RUNNING, worker="celery@dead", queued_at=timezone.now()
    )
    behind = waiting(Export, alice, filters={"q": ["behind"]})
    assert jobs.requeue_orphan(held)
    held.refresh_from_db()
    assert held.state == Job.State.PENDING and held.queued_at is not None
    assert jobs.take_next(alice.organization.pk) is None  # behind still waits
    behind.refresh_from_db()
    assert behind.queued_at is None


# The production path: a real worker through Redis (PostgreSQL pass).


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_serves_another_organization_between_a_backlogs_jobs(alice, bob, settings):
    """Alice asks for five exports, then bob for one, before the worker starts. Without
    turns the broker would hold alice's five in front of bob's; with them it holds one of
    each, and the worker hands alice's next over as each ends, behind bob's."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database: runs in the PostgreSQL pass of .ci/run")
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.fail("CELERY_BROKER_URL is not set: .ci/run starts Redis and sets it")
    settings.EXPORT_ACTIVE_PER_USER = 10
    make_send(alice.organization, sender=alice.phone, outcomes=["success"] * 2)
    make_send(bob.organization, sender=bob.phone)
    app.conf.task_always_eager = False
    app.control.purge()
    for query in ["", "status=completed", "status=failed", "channel=sms", "channel=lms"]:
        assert post_export(alice.client, query).status_code == 200
    assert post_export(bob.client).status_code == 200
    worker = start_worker(settings, broker)
    try:
        deadline = time.monotonic() + 120
        while Export.objects.active().exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    exports = list(Export.objects.order_by("started_at"))
    assert all(export.state == Job.State.DONE for export in exports), output[-3000:]
    owners = [export.organization_id for export in exports]
    a, b = alice.organization.pk, bob.organization.pk
    assert owners == [a, b, a, a, a, a], output[-3000:]
