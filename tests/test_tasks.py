from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone
from openpyxl import load_workbook

from sendon_results import tasks
from sendon_results.celery import app
from sendon_results.models import Export, Statement
from tests.factories import make_send

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{quote(db['USER'])}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker(settings, broker: str) -> subprocess.Popen[str]:
    """A real Celery worker process on the test database, its storage and this broker."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_BROKER_URL": broker,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "sendon_results",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_real_worker_builds_the_export_and_the_statement_through_redis(alice, settings):
    """The production path: the views queue through Redis, a Celery worker process builds
    the files in the same PostgreSQL database and storage."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database: runs in the PostgreSQL pass of .ci/run")
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.fail("CELERY_BROKER_URL is not set: .ci/run starts Redis and sets it")
    for i in range(3):
        make_send(
            alice.organization, sender=alice.phone, body=f"작업자 {i}", outcomes=["success"] * 2
        )
    app.conf.task_always_eager = False
    app.control.purge()
    worker = start_worker(settings, broker)
    try:
        response = alice.client.post(
            "/exports/new/",
            {"kind": "deliveries", "file_format": "xlsx", "split": "", "query": ""},
        )
        assert response.status_code == 302
        export = Export.objects.get(created_by=alice.user)
        today = timezone.localdate()  # the sends were made an hour ago: today or yesterday
        period = {"period_from": today - dt.timedelta(days=1), "period_to": today}
        response = alice.client.post("/statements/", period)
        assert response.status_code == 302
        statement = Statement.objects.get(created_by=alice.user)
        deadline = time.monotonic() + 90
        while (export.is_active or statement.is_active) and time.monotonic() < deadline:
            time.sleep(0.5)
            export.refresh_from_db()
            statement.refresh_from_db()
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert export.state == Export.State.DONE, (export.state, export.error, output[-3000:])
    assert f"Task {tasks.run_export.name}" in output and "succeeded" in output
    assert statement.state == Statement.State.DONE, (statement.error, output[-3000:])
    assert f"Task {tasks.run_statement.name}" in output
    assert statement.row_count == 6 and statement.file.open("rb").read(5) == b"%PDF-"
    with export.file.open("rb") as file:
        sheet = load_workbook(io.BytesIO(file.read())).active
    assert sheet.max_row - 1 == export.row_count == 6
