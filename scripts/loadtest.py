"""Load test: 120 operators browse and filter for 60 s while a 1M-row export runs.

gunicorn (4 workers, production settings) on the `make bench` PostgreSQL data set, a
Celery worker through Redis, and locust driving scripts/locustfile.py, all on 127.0.0.1;
stops by itself and stops everything it started. Reports requests/s, p50/p95 and errors
per page, then how long the export took under the load. Exits 1 when a target is missed:
any error, fewer than 60 requests/s served, or p95 of all requests at 150 ms or more.

    make loadtest      # after `make bench` has seeded sendon_bench
    .venv/bin/python -m scripts.loadtest [--without-export] [--users N]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from scripts.stack import Browser, answers, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
# 120 users, one to five seconds between clicks, offer about 65 requests/s. They share
# SESSIONS sign-ins (one user's), so the minute measured is browsing, not password hashing.
USERS, SESSIONS, SPAWN_RATE, DURATION = 120, 50, 25, "60s"
P95_TARGET_MS, RATE_TARGET = 150, 60
LOGIN = ("hanbit", "hanbit-demo-2026")
EXPORT_DAYS = 50  # the largest organization's last 50 days: about a million deliveries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--without-export", action="store_true", help="browsing alone")
    parser.add_argument("--users", type=int, default=USERS, help=f"default {USERS}")
    arguments = parser.parse_args()
    with_export, user_count = not arguments.without_export, arguments.users
    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sendon_bench")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    with psycopg.connect(database.replace("postgres://", "postgresql://", 1)) as db:
        [(deliveries,)] = db.execute("SELECT count(*) FROM sendon_results_delivery").fetchall()
    print(f"Data set: {deliveries:,} deliveries ({database})")
    folder = Path(tempfile.mkdtemp(prefix="sendon-load-"))
    began = dt.datetime.now(dt.UTC)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "load-test-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(folder / "media"),
        "DB_CONN_MAX_AGE": "60",
    }
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    # The queue is this test's own (a Redis database of its own): nothing older in it.
    subprocess.run(
        [python, "-m", "celery", "-A", "sendon_results", "purge", "-f"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    processes = [
        subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "sendon_results.wsgi",
                "--workers",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stderr=(folder / "web.log").open("w"),
        ),
        subprocess.Popen(
            # As in docker-compose.yml: exports yield the CPU to pages (nice).
            [
                "nice",
                "-n",
                "19",
                python,
                "-m",
                "celery",
                "-A",
                "sendon_results",
                "worker",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--logfile",
                str(folder / "worker.log"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_for(lambda: answers(f"{base}/healthz"), 60, "gunicorn")
        started = time.monotonic()
        users = [Browser(base, *LOGIN) for _ in range(SESSIONS)]
        signing_in = (time.monotonic() - started) / SESSIONS
        cookies = [user.session.cookies.get_dict() for user in users]
        (folder / "sessions.json").write_text(json.dumps(cookies))
        export = ask_for_export(users[0]) if with_export else None
        print(
            f"{SESSIONS} sessions signed in ({signing_in:.2f} s each, one at a time); export "
            f"{export or '(none)'} running; {user_count} users browse for {DURATION} …"
        )
        log_before = (folder / "web.log").stat().st_size
        subprocess.run(
            [
                python,
                "-m",
                "locust",
                "--headless",
                "-f",
                str(ROOT / "scripts" / "locustfile.py"),
                "--users",
                str(user_count),
                "--spawn-rate",
                str(SPAWN_RATE),
                "--run-time",
                DURATION,
                "--host",
                base,
                "--csv",
                str(folder / "load"),
                "--only-summary",
                # The figures of the minute at full load: not of the first seconds, in
                # which every user arriving opens the list at once.
                "--reset-stats",
                "--stop-timeout",
                "5",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            check=False,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "LOAD_SESSIONS": str(folder / "sessions.json")},
        )
        state_after_load = export_state(users[0], export) if export else ""
        errors, rate, p95 = report(folder / "load_stats.csv")
        server_side(folder / "web.log", log_before)
        if export:
            print(f"Export {export} when the load stopped: {state_after_load}")
            started = time.monotonic()
            wait_for_export(users[0], "완료", timeout=900)
            print(f"Export {export} finished {time.monotonic() - started:.0f} s after the load")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(database.replace("postgres://", "postgresql://", 1)) as db:
            db.execute("DELETE FROM sendon_results_export WHERE created_at >= %s", [began])
    missed = errors > 0 or rate < RATE_TARGET or p95 >= P95_TARGET_MS
    targets = f"0 errors, ≥ {RATE_TARGET} requests/s, p95 < {P95_TARGET_MS} ms"
    print(f"Targets ({targets}): {'MISSED' if missed else 'met'}")
    return 1 if missed else 0


def ask_for_export(user: Browser) -> str:
    """The largest organization's last EXPORT_DAYS, per recipient, as Excel; once running."""
    since = (dt.date.today() - dt.timedelta(days=EXPORT_DAYS)).isoformat()
    asked = user.post(
        "/exports/new/",
        {
            "kind": "deliveries",
            "file_format": "xlsx",
            "split": "",
            "query": f"requested_from={since}",
        },
    )
    if asked.status_code != 302 or "login" in asked.headers.get("Location", ""):
        raise SystemExit(f"asking for the export answered {asked.status_code}")
    return wait_for_export(user, "만드는 중")


def export_state(user: Browser, export: str) -> str:
    row = user.get(f"/exports/{export}/row/").text
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())[:160]


def wait_for_export(user: Browser, word: str, timeout: float = 120) -> str:
    """The newest export's id once its row on /exports/ shows `word`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = user.get("/exports/").text
        found = re.search(r'id="export-(\d+)"', page)
        if found is None:
            raise SystemExit("no export listed on /exports/")
        export = found.group(1)
        state = export_state(user, export)
        if word in state:
            return export
        if "실패" in state:
            raise SystemExit(f"export {export} failed: {state}")
        time.sleep(1)
    raise SystemExit(f"export did not reach {word!r} within {timeout:.0f} s")


def server_side(log: Path, offset: int) -> None:
    """Every request of the run as the console logged it (its request log lines, the
    users' arrival included): the time inside Django, without waiting for a free gunicorn
    worker or the load generator."""
    with log.open() as lines:
        lines.seek(offset)
        logged = re.findall(r"path=(\S+) status=\d+ ms=([\d.]+) ", lines.read())
    times = sorted(float(ms) for _, ms in logged)
    if not times:
        return
    p50, p95, p99 = (times[int(len(times) * share)] for share in (0.5, 0.95, 0.99))
    print(
        f"Server time of all {len(times):,} requests: p50 {p50:.0f} ms, "
        f"p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {times[-1]:.0f} ms"
    )
    slowest = sorted(logged, key=lambda entry: -float(entry[1]))[:5]
    print("Slowest: " + ", ".join(f"{path} {float(ms):.0f} ms" for path, ms in slowest))


def report(stats: Path) -> tuple[int, float, float]:
    """Print locust's figures per page; return (errors, requests/s, p95) of all requests."""
    rows = list(csv.DictReader(stats.open()))
    print(f"{'page':<40}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}")
    for row in rows:
        print(
            f"{row['Name']:<40}{row['Request Count']:>9}{row['Failure Count']:>8}"
            f"{float(row['Requests/s']):>8.1f}{row['50%']:>8}{row['95%']:>8}"
        )
    total = rows[-1]
    return int(total["Failure Count"]), float(total["Requests/s"]), float(total["95%"])


if __name__ == "__main__":
    raise SystemExit(main())
