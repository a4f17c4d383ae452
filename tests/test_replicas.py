"""Reads from a real hot standby (replicas.py).

The standby pass of .ci/run starts a PostgreSQL primary and a streaming standby made from
it with pg_basebackup, and runs this file with DATABASE_URL on the primary and
DATABASE_REPLICA_URLS on the standby. The test database pytest makes on the primary
reaches the standby through the log like everything else; Django's test mirror of
replica1 is pointed back at the standby. Elsewhere the tests that need the standby are
skipped; the rules that need no standby run everywhere.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connections
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from sendon_results import replicas
from sendon_results.api.keys import create_key
from sendon_results.models import Export
from tests.conftest import Account
from tests.factories import make_send

ALIAS = "replica1"
STANDBY_DATA_DIR = os.getenv("STANDBY_DATA_DIR", "")
needs_standby = pytest.mark.skipif(
    ALIAS not in settings.DATABASES or not STANDBY_DATA_DIR,
    reason="needs a hot standby: the standby pass of .ci/run makes one "
    "(DATABASE_REPLICA_URLS, STANDBY_DATA_DIR)",
)
on_both = pytest.mark.django_db(transaction=True, databases=["default", ALIAS])


def test_pages_may_read_a_replica_and_the_api_and_writes_may_not(monkeypatch):
    middleware = replicas.ReplicaReadsMiddleware(lambda request: None)  # type: ignore[arg-type]
    asked: list[str | None] = []

    def pick(after: str | None = None) -> str:
        asked.append(after)
        return ALIAS

    monkeypatch.setattr(replicas, "pick", pick)
    factory = RequestFactory()
    assert middleware.replica_for(factory.get("/results/")) == ALIAS
    assert middleware.replica_for(factory.head("/dashboard/")) == ALIAS
    assert middleware.replica_for(factory.post("/exports/new/")) is None
    assert middleware.replica_for(factory.get("/api/v1/send-requests")) is None
    assert asked == [None, None]
    # A browser that wrote: a replica only once it has replayed the write.
    pinned = factory.get("/results/")
    pinned.COOKIES[replicas.PIN_COOKIE] = "0/3A5F2B8"
    assert middleware.replica_for(pinned) == ALIAS
    assert asked[-1] == "0/3A5F2B8"
    forged = factory.get("/results/")
    forged.COOKIES[replicas.PIN_COOKIE] = "0/3A5F2B8'; DROP TABLE x; --"
    assert middleware.replica_for(forged) is None


def test_the_router_keeps_writes_sessions_and_transactions_on_the_primary(transactional_db):
    from django.contrib.sessions.models import Session
    from django.db import transaction

    from sendon_results.models import Membership, SendRequest

    router = replicas.ReplicaRouter()
    with replicas.reads_from(ALIAS):
        assert router.db_for_read(SendRequest) == ALIAS
        assert router.db_for_read(Session) == "default"
        assert router.db_for_write(SendRequest) == "default"
        assert router.db_for_read(Membership) == "default"
        with transaction.atomic():
            assert router.db_for_read(SendRequest) == "default"
            # Named, not left to Django: an object read from a replica would take its
            # relations from there too.
            assert router.db_for_read(SendRequest, instance=object()) == "default"
    assert router.db_for_read(SendRequest) == "default"
    assert router.allow_migrate("default", "sendon_results")
    assert not router.allow_migrate(ALIAS, "sendon_results")


@pytest.fixture(scope="module")
def _standby_database(django_db_setup, django_db_blocker) -> None:
    """The test database is made on the primary and reaches the standby through the log;
    Django points a test mirror at the primary itself, so replica1 is pointed back at the
    standby's address, on the test database."""
    if ALIAS not in connections.settings:
        return
    standby = connections.settings[ALIAS]
    replica = connections[ALIAS]
    replica.close()
    replica.settings_dict = connections["default"].settings_dict | {
        "HOST": standby["HOST"],
        "PORT": standby["PORT"],
        "OPTIONS": {"connect_timeout": 2},
    }


@pytest.fixture
def standby(_standby_database) -> Iterator[str]:
    """The standby, caught up with the primary; replay running again after the test."""
    replicas._down_until.clear()
    replicas._streaming.clear()
    try:
        wait_for_replay()
        yield ALIAS
    finally:
        if replay_paused():
            resume_replay()
        replicas._down_until.clear()
        replicas._streaming.clear()


def wait_for_replay() -> None:
    assert replicas.caught_up_replica(timeout=10) == ALIAS, "the standby did not catch up"


def on_standby(sql: str) -> object:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0] if cursor.description else None


def replay_paused() -> bool:
    try:
        return bool(on_standby("SELECT pg_is_wal_replay_paused()"))
    except Exception:
        return False


def resume_replay() -> None:
    on_standby("SELECT pg_wal_replay_resume()")


def pg_ctl(*arguments: str) -> None:
    """pg_ctl on the standby's data directory, as the postgres user when run as root."""
    command = [os.environ["STANDBY_PG_CTL"], "-D", STANDBY_DATA_DIR, *arguments]
    if os.geteuid() == 0 and shutil.which("runuser"):
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.fixture
def stopped_standby(standby) -> Iterator[str]:
    """The standby, stopped for the test and started again after it."""
    pg_ctl("stop", "-m", "immediate", "-w")
    try:
        yield standby
    finally:
        pg_ctl("start", "-w", "-l", os.path.join(STANDBY_DATA_DIR, "log"))
        connections[standby].close()
        for _ in range(100):
            if replicas.answering(standby):
                break
            replicas._down_until.clear()
            time.sleep(0.1)


def reads(alias: str) -> CaptureQueriesContext:
    return CaptureQueriesContext(connections[alias])


def reads_table(captured: CaptureQueriesContext, table: str) -> bool:
    return any(table in query["sql"] for query in captured.captured_queries)


def read_sends(captured: CaptureQueriesContext) -> bool:
    return reads_table(captured, "sendon_results_sendrequest")


@needs_standby
@on_both
def test_a_page_reads_the_standby(standby):
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 대기열에서 읽은 발송")
    wait_for_replay()
    with reads(standby) as replica, reads("default") as primary:
        response = alice.client.get("/results/")
    assert response.status_code == 200
    assert "대기열에서 읽은 발송" in response.content.decode()
    assert read_sends(replica)
    assert not read_sends(primary)


@needs_standby
@on_both
def test_a_browser_that_wrote_reads_the_primary_until_a_replica_has_its_write(standby):
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 방금 쓴 뒤 읽기")
    wait_for_replay()
    on_standby("SELECT pg_wal_replay_pause()")
    response = alice.client.post("/exports/new/", {"kind": "sends", "file_format": "csv"})
    assert response.status_code == 302
    assert replicas.LSN_PATTERN.fullmatch(response.cookies[replicas.PIN_COOKIE].value)
    with reads(standby) as replica:
        page = alice.client.get("/exports/")
    export = Export.objects.get()
    assert page.status_code == 200
    assert f'id="export-{export.pk}"' in page.content.decode()  # its own export is listed
    assert not reads_table(replica, "sendon_results_export")

    resume_replay()
    wait_for_replay()
    with reads(standby) as replica:
        assert alice.client.get("/exports/").status_code == 200
    assert reads_table(replica, "sendon_results_export")


@needs_standby
@on_both
def test_the_api_reads_the_primary(standby):
    alice = Account("복제상사")
    send = make_send(alice.organization, sender=alice.phone)
    _, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
    wait_for_replay()
    with reads(standby) as replica:
        response = alice.client.get(
            f"/api/v1/send-requests/{send.external_id}", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
    assert response.status_code == 200
    assert not replica.captured_queries


def export_rows(export: Export) -> list[list[str]]:
    export.refresh_from_db()
    assert export.state == Export.State.DONE, export.error
    with export.file.open("rb") as file:
        return list(csv.reader(io.StringIO(file.read().decode("utf-8-sig"))))


@needs_standby
@on_both
def test_an_export_never_reads_a_standby_behind_the_moment_it_was_asked_for(standby, settings):
    settings.REPLICA_CATCH_UP_SECONDS = 1
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 먼저 보낸 것")
    wait_for_replay()
    on_standby("SELECT pg_wal_replay_pause()")
    make_send(alice.organization, sender=alice.phone, body="[안내] 일시정지 뒤에 보낸 것")

    with reads(standby) as replica:
        response = alice.client.post("/exports/new/", {"kind": "sends", "file_format": "csv"})
    assert response.status_code == 302
    bodies = "".join(map(str, export_rows(Export.objects.latest("id"))))
    assert "먼저 보낸 것" in bodies and "일시정지 뒤에 보낸 것" in bodies
    assert not read_sends(replica)  # behind: the primary was read

    resume_replay()
    alice.client.cookies.pop(replicas.PIN_COOKIE, None)
    # Another filter than the first export's (the same one again would be a double click).
    query = f"sender={alice.phone.pk}"
    with reads(standby) as replica:
        alice.client.post("/exports/new/", {"kind": "sends", "file_format": "csv", "query": query})
    bodies = "".join(map(str, export_rows(Export.objects.latest("id"))))
    assert "일시정지 뒤에 보낸 것" in bodies
    assert read_sends(replica)  # caught up: the standby was read


@needs_standby
@on_both
def test_a_stopped_standby_sends_pages_to_the_primary(stopped_standby):
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 대기 서버가 멈춘 뒤")
    # A page begins with Django's health check of a kept connection (the test client
    # skips the signal that asks for it).
    connections[stopped_standby].health_check_done = False
    response = alice.client.get("/results/")
    assert response.status_code == 200
    assert "대기 서버가 멈춘 뒤" in response.content.decode()
    assert replicas.healthy() == []  # left alone for REPLICA_RETRY_SECONDS


@needs_standby
@on_both
def test_a_standby_that_stops_during_a_page_has_the_page_made_again_on_the_primary(
    stopped_standby, monkeypatch
):
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 도중에 멈춘 대기 서버")
    # As if the standby had answered when the page began and stopped right after.
    monkeypatch.setattr(replicas, "pick", lambda: stopped_standby)
    alice.client.raise_request_exception = False  # the first try's error is logged, not raised
    response = alice.client.get("/results/")
    assert response.status_code == 200
    assert "도중에 멈춘 대기 서버" in response.content.decode()
    assert replicas.healthy() == []


def wait_for(sql: str, expected: object) -> None:
    for _ in range(200):
        if on_standby(sql) == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"the standby never answered {expected!r} to {sql}")


@needs_standby
@on_both
def test_a_standby_whose_replay_falls_behind_is_not_read_by_pages(standby, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 1
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 재생 전의 발송")
    wait_for_replay()
    on_standby("SELECT pg_wal_replay_pause()")
    try:
        # Received by the standby, not replayed: its copy grows older by the second.
        make_send(alice.organization, sender=alice.phone, body="[안내] 재생을 기다리는 발송")
        time.sleep(1.5)
        replicas._streaming.clear()
        with reads(standby) as replica:
            response = alice.client.get("/results/")
        assert "재생을 기다리는 발송" in response.content.decode()
        assert not read_sends(replica)
    finally:
        resume_replay()
    wait_for_replay()
    replicas._streaming.clear()
    with reads(standby) as replica:
        alice.client.get("/results/")
    assert read_sends(replica)


@needs_standby
@on_both
def test_a_standby_cut_off_from_the_primary_is_not_read(standby):
    alice = Account("복제상사")
    make_send(alice.organization, sender=alice.phone, body="[안내] 끊긴 대기 서버")
    wait_for_replay()
    receiving = "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'"
    conninfo = str(on_standby("SHOW primary_conninfo")).replace("'", "''")
    on_standby("ALTER SYSTEM SET primary_conninfo = ''")
    on_standby("SELECT pg_reload_conf()")
    try:
        wait_for(receiving, 0)
        replicas._streaming.clear()
        with reads(standby) as replica:
            response = alice.client.get("/results/")
        assert response.status_code == 200
        assert "끊긴 대기 서버" in response.content.decode()
        assert not read_sends(replica)  # an ever older copy is not read
    finally:
        on_standby(f"ALTER SYSTEM SET primary_conninfo = '{conninfo}'")
        on_standby("SELECT pg_reload_conf()")
        wait_for(receiving, 1)
