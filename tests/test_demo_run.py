"""The demo as `make run` serves it (scripts/run_demo.py): the development server and a
real Celery worker on kombu's filesystem broker, here in a temporary folder with its own
SQLite file, storage and broker folder. An export asked for through the web is built by
the worker; one Ctrl-C to the runner stops the server, the worker and its pool and beat."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook

from scripts.stack import Browser, answers, free_port, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Demo:
    directory: Path
    runner: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.directory / "db.sqlite3") as db:
            return db.execute(sql, params).fetchall()


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (from /proc: the runner's children lead groups)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, parent, process group.
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def children_of(pid: int) -> list[int]:
    return [
        int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent(stat) == pid
    ]


def _parent(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return -1


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "MEDIA_ROOT": str(directory / "media"),
        "CELERY_BROKER_DIR": str(directory / "broker"),
        # Unset, as on a fresh clone: the runner picks the filesystem broker.
        "CELERY_BROKER_URL": "",
    }
    for command in (
        ["migrate", "--noinput"],
        ["seed_demo", "--sends", "30", "--max-recipients", "3"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    port = free_port()
    log = directory / "demo.log"
    with log.open("wb") as output:
        runner = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # A group of its own, as a terminal gives `make run`: Ctrl-C reaches it alone.
            start_new_session=True,
        )
    demo = Demo(directory, runner, f"http://127.0.0.1:{port}", log)
    children = []
    try:
        wait_for(lambda: answers(f"{demo.base_url}/healthz"), 60, "the demo server")
        children = children_of(runner.pid)
        yield demo
    finally:
        for pid in [runner.pid, *children]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        runner.wait(10)


def test_an_export_asked_for_on_the_web_is_built_by_the_demo_worker(demo: Demo) -> None:
    assert "filesystem://" in demo.output()
    browser = Browser(demo.base_url, "hanbit", "hanbit-demo-2026")
    response = browser.post(
        "/exports/new/", {"kind": "deliveries", "file_format": "xlsx", "split": "", "query": ""}
    )
    assert response.status_code == 302, response.text[:500]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ((state, row_count, worker, file),) = demo.query(
            "SELECT state, row_count, worker, file FROM sendon_results_export"
        )
        if state not in ("pending", "running"):
            break
        time.sleep(0.5)
    assert state == "done", (state, demo.output()[-3000:])
    # Built by the worker process, not eagerly in the web request.
    assert worker.startswith("demo@")
    assert "Task sendon_results.tasks.run_export" in demo.output()
    sheet = load_workbook(io.BytesIO((demo.directory / "media" / file).read_bytes())).active
    assert sheet is not None and sheet.max_row - 1 == row_count > 0
    # The list of exports the user polls shows it finished.
    assert browser.get("/exports/").status_code == 200


def test_one_ctrl_c_stops_the_server_and_the_worker(demo: Demo) -> None:
    children = children_of(demo.runner.pid)
    assert len(children) == 2  # runserver and the worker, each leading its group
    members = {pid: group_members(pid) for pid in children}
    # The worker's group holds its pool processes and beat too.
    assert max(len(group) for group in members.values()) >= 3, members
    os.killpg(demo.runner.pid, signal.SIGINT)
    assert demo.runner.wait(30) == 0, demo.output()[-3000:]
    for pid in children:
        assert group_members(pid) == [], (pid, demo.output()[-3000:])
    assert not answers(f"{demo.base_url}/healthz", any_status=True)
