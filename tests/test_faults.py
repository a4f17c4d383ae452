"""Faults with real processes: the console under gunicorn with a PostgreSQL cluster, Redis
and Celery workers of its own (scripts/stack.py); each test breaks one part for real.

They run in the PostgreSQL pass of .ci/run, which is the production stack's pass.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from scripts.stack import Browser, Stack, wait_for

pytestmark = pytest.mark.faults

DEMO_LOGIN = ("hanbit", "hanbit-demo-2026")


@pytest.fixture(scope="module")
def stack():
    if connection.vendor != "postgresql":
        pytest.skip("the production stack's faults run in the PostgreSQL pass of .ci/run")
    stack = Stack()
    try:
        stack.start()
        # ~60,000 deliveries: an export of them takes seconds, long enough to kill its worker.
        stack.manage("seed_scale", "--sends", "6000")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def user(stack) -> Browser:
    return Browser(stack.base_url, *DEMO_LOGIN)


def export_everything(user: Browser, query: str) -> int:
    """Every delivery as Excel; `query` spells "everything" differently for each test, as
    the same request within a minute returns the same job."""
    response = user.post(
        "/exports/new/",
        {"kind": "deliveries", "file_format": "xlsx", "split": "", "query": query},
    )
    assert response.status_code == 302, response.text[:500]
    return latest_export(user)


def latest_export(user: Browser) -> int:
    page = user.get("/exports/").text
    return int(page.split('id="export-', 1)[1].split('"', 1)[0])


def export_row(stack: Stack, export_id: int) -> dict[str, object]:
    (row,) = stack.query(
        "SELECT state, progress, row_count, file, error, total_rows "
        "FROM sendon_results_export WHERE id = %s",
        export_id,
    )
    return dict(zip(["state", "progress", "rows", "file", "error", "total"], row, strict=True))


def wait_until_halfway(stack: Stack, export_id: int) -> None:
    def working() -> bool:
        row = export_row(stack, export_id)
        assert row["state"] in ("pending", "running"), row
        return row["state"] == "running" and row["progress"] > 0

    wait_for(working, 60, "the export to be under way")


def wait_until_finished(stack: Stack, export_id: int, worker: str) -> None:
    try:
        wait_for(
            lambda: export_row(stack, export_id)["state"] not in ("pending", "running"),
            120,
            "the export to finish",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{stack.worker_log(worker)[-3000:]}") from None


def assert_complete(stack: Stack, export_id: int) -> None:
    """Done, with one row per delivery of the organization, and no temporary file left."""
    row = export_row(stack, export_id)
    assert row["state"] == "done", row
    from openpyxl import load_workbook

    sheet = load_workbook(stack.media / row["file"], read_only=True).worksheets[0]
    assert sheet.max_row - 1 == row["rows"] == row["total"] > 50_000
    assert not list((stack.media / "tmp").glob("export-*")), "a partial file was left"


def test_a_pool_process_killed_mid_export_is_redelivered(stack, user):
    """kill -9 of the process doing the work (what the out-of-memory killer does): the
    worker gives the message back and the job starts over to a complete file."""
    worker = stack.start_worker("prefork@faults", pool="prefork")
    try:
        export_id = export_everything(user, "")
        wait_until_halfway(stack, export_id)
        (child,) = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        os.kill(int(child), signal.SIGKILL)
        wait_until_finished(stack, export_id, "prefork@faults")
        assert_complete(stack, export_id)
        assert "WorkerLostError" in stack.worker_log("prefork@faults")
    finally:
        worker.terminate()
        worker.wait(30)


def test_a_worker_killed_mid_export_takes_the_job_up_when_it_restarts(stack, user):
    """kill -9 of the whole worker: nothing is published and the job is not lost; the
    worker's restart (compose restarts it) queues the job again."""
    worker = stack.start_worker("solo@faults")
    export_id = export_everything(user, "source=web&source=api")
    wait_until_halfway(stack, export_id)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    row = export_row(stack, export_id)
    assert row["state"] == "running" and not row["file"], row
    assert user.get(f"/exports/{export_id}/download/").status_code == 302  # not ready, no file

    restarted = stack.start_worker("solo@faults")
    try:
        wait_until_finished(stack, export_id, "solo@faults")
        assert_complete(stack, export_id)
        assert "died; queued again" in stack.worker_log("solo@faults")
    finally:
        restarted.terminate()
        restarted.wait(30)


def test_redis_stopped_while_users_browse(stack, user):
    """Pages keep working; asking for an export says the queue is unavailable and keeps the
    request as a failed job to retry; all is well again when Redis is back."""
    assert user.get("/healthz").json() == {"database": "ok", "broker": "ok"}
    stack.redis.stop()
    try:
        assert user.get("/results/").status_code == 200
        assert user.get("/results/?status=failed&channel=sms").status_code == 200
        health = user.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"] == "ok"
        assert health.json()["broker"].startswith("error")

        started = time.monotonic()
        export_id = export_everything(user, "order=oldest")
        assert time.monotonic() - started < 15  # the request does not hang on the queue
        row = export_row(stack, export_id)
        assert row["state"] == "failed", row
        page = user.get("/exports/").text
        assert "지금은 작업 대기열에 연결할 수 없습니다" in page
    finally:
        stack.redis.start()
    assert user.get("/healthz").status_code == 200
    assert user.post(f"/exports/{export_id}/retry/", {}).status_code == 302
    assert export_row(stack, export_id)["state"] == "pending"  # queued, for the next worker


def test_postgresql_stopped_and_started_again(stack, user):
    """Pages answer a friendly 503 and /healthz names the database; everything recovers by
    itself when PostgreSQL is back, the session included."""
    assert user.get("/results/").status_code == 200
    stack.postgres.stop()
    try:
        for path in ("/results/", "/results/?status=failed", "/exports/"):
            page = user.get(path)
            assert page.status_code == 503, (path, page.status_code)
            assert "잠시 후 다시 이용해 주세요" in page.text, page.text[:500]
            assert "Traceback" not in page.text
            assert page.headers["Retry-After"] == "30"
        health = user.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"].startswith("error")
        assert health.json()["broker"] == "ok"
    finally:
        stack.postgres.start()
    page = user.get("/results/")
    assert page.status_code == 200 and "발송결과" in page.text
    assert user.get("/healthz").json() == {"database": "ok", "broker": "ok"}


class HangingPlatform:
    """A sending platform on 127.0.0.1 that takes the first request and never answers
    it, and accepts every one after; it records each request's Idempotency-Key."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                platform.keys.append(self.headers["Idempotency-Key"])
                if len(platform.keys) == 1:
                    platform.first_arrived.set()
                    platform.release.wait(60)  # the worker is killed meanwhile
                    return
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/console"


RESERVE = """
import datetime as dt
from decimal import Decimal
from django.utils import timezone
from sendon_results.handoff import signing
from sendon_results.ingest import create_send
from sendon_results.models import Organization, PlatformEndpoint
organization = Organization.objects.get(name="한빛커머스")
PlatformEndpoint.objects.create(organization=organization, url="{url}", secret=signing.new_secret())
now = timezone.now()
send, _, _ = create_send(organization=organization, send={{
    "external_id": "FAULT-RESERVATION", "requested_at": now - dt.timedelta(minutes=1),
    "source": "api", "channel": "sms", "title": "", "body": "[예약] 안내",
    "scheduled_at": now + dt.timedelta(days=1), "points_per_message": Decimal("9"),
    "fallback": False, "sender": {{"kind": "phone", "value": "0212345678", "label": ""}},
    "recipients": [{{"external_id": "R-1", "phone": "01012340000", "name": ""}}],
}})
print(send.pk)
"""


def outbox(stack: Stack) -> list[tuple]:
    return stack.query("SELECT key::text, state, tries::text FROM sendon_results_outboxmessage")


def test_a_worker_killed_mid_delivery_delivers_again_without_a_duplicate(stack, user):
    """kill -9 of the worker while the platform holds its request: the request is not
    lost, and once its lease has ended the next round (beat's, every minute) posts it
    again under the same Idempotency-Key; the platform accepts it, one request in all."""
    platform = HangingPlatform()
    stack.env.update(
        PLATFORM_ALLOW_HTTP="true",
        PLATFORM_ALLOW_PRIVATE_ADDRESSES="true",
        PLATFORM_TIMEOUT_SECONDS="10",
        PLATFORM_LEASE_SECONDS="1",
    )
    send_id = stack.manage("shell", "-c", RESERVE.format(url=platform.url)).split()[-1]
    worker = stack.start_worker("outbox@faults")
    try:
        page = user.get(f"/results/{send_id}/cancel/")
        assert page.status_code == 200, page.text[:300]
        assert user.post(f"/results/{send_id}/cancel/", {}).status_code == 302
        assert platform.first_arrived.wait(60), stack.worker_log("outbox@faults")[-3000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        [(key, state, tries)] = outbox(stack)
        assert (state, tries) == ("pending", "[]")  # the try never ended

        # The lease (timeout + 1 s) ends; then what beat runs every minute, in a process
        # of its own.
        [(leased_until,)] = stack.query(
            "SELECT extract(epoch FROM next_try_at - now()) FROM sendon_results_outboxmessage"
        )
        assert 5 < leased_until <= 11
        time.sleep(float(leased_until) + 0.5)
        deliver_due = "from sendon_results.handoff import delivery; print(delivery.deliver_due())"
        assert stack.manage("shell", "-c", deliver_due).split()[-1] == "1"
        [(key_after, state_after, tries_after)] = outbox(stack)
        assert state_after == "accepted", tries_after
        assert platform.keys == [key, key] == [key_after, key_after]
        (status,) = stack.query(
            "SELECT status FROM sendon_results_sendrequest WHERE id = %s", int(send_id)
        )[0]
        assert status == "cancelling"  # until the platform confirms through the API
    finally:
        platform.release.set()
        platform.server.shutdown()
        for name in (
            "PLATFORM_ALLOW_HTTP",
            "PLATFORM_ALLOW_PRIVATE_ADDRESSES",
            "PLATFORM_LEASE_SECONDS",
            "PLATFORM_TIMEOUT_SECONDS",
        ):
            stack.env.pop(name)
