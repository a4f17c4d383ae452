"""`make run`: the development server with a Celery worker beside it, so exports,
statements and delivery confirmations are built in the background exactly as in production
(the same queueing, turns and progress polling), on a broker that needs no server: kombu's
filesystem transport, one file per message under var/broker/ (settings.py,
CELERY_BROKER_DIR). One Ctrl-C, or SIGTERM, stops both.

    python -m scripts.run_demo [--port 8000]

An explicit CELERY_BROKER_URL (Redis, say) is used as it is. The worker also runs beat
(-B): the ten-minute sweep of stuck jobs and the nightly purge cost one small process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
# The host part only keeps kombu from warning that none was given.
BROKER = "filesystem://localhost/"
# Seconds the worker has to finish the job at hand after Ctrl-C; a job cut short is taken
# up again when the demo next starts (the worker keeps its name, see tasks.requeue_orphans).
WORKER_GRACE_SECONDS = 10.0


def demo_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The environment of both processes: the filesystem broker unless one is set."""
    env = dict(base)
    if not env.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = BROKER
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def worker_command(python: str, env: Mapping[str, str]) -> list[str]:
    # Beat's record of its last runs, beside the broker's folder (settings.py's default).
    broker_dir = Path(env.get("CELERY_BROKER_DIR") or ROOT / "var" / "broker")
    schedule = broker_dir.parent / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    command = [
        python,
        "-m",
        "celery",
        "-A",
        "sendon_results",
        "worker",
        "--beat",
        f"--schedule={schedule}",
        # Two jobs at a time (two organizations': each has one turn at a time).
        "--concurrency=2",
        # A fixed name: a worker started again takes up the jobs its last life held.
        "--hostname=demo@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    ]
    # Below the pages in CPU priority, as in production (docker-compose.yml): browsing
    # stays quick while a statement is drawn.
    nice = shutil.which("nice")
    return [nice, "-n", "10", *command] if nice else command


def server_command(python: str, port: int) -> list[str]:
    return [python, "manage.py", "runserver", f"127.0.0.1:{port}"]


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # Each child leads a process group of its own (runserver's autoreloader, the worker's
    # pool and beat): the whole group is signalled, so nothing is left behind.
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _wait(process: subprocess.Popen[bytes], seconds: float, give_up: list[int]) -> bool:
    """Wait up to `seconds` for the process to end, or until a second Ctrl-C."""
    deadline = time.monotonic() + seconds
    stop_requests = len(give_up)
    while _alive(process) and time.monotonic() < deadline and len(give_up) == stop_requests:
        time.sleep(0.1)
    return not _alive(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The demo: runserver and a Celery worker.")
    parser.add_argument("--port", type=int, default=int(os.getenv("PORT", "8000")))
    args = parser.parse_args(argv)

    stop_requests: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requests.append(signum)

    # The children run in sessions of their own, so the terminal's Ctrl-C reaches only this
    # process, which stops them in order: the server at once, the worker after its job.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    env = demo_environment(os.environ)
    python = sys.executable
    worker = subprocess.Popen(
        worker_command(python, env), cwd=ROOT, env=env, start_new_session=True
    )
    server = subprocess.Popen(
        server_command(python, args.port), cwd=ROOT, env=env, start_new_session=True
    )
    print(
        f"Background jobs: a Celery worker (pid {worker.pid}) on {env['CELERY_BROKER_URL']}. "
        "Ctrl-C stops it and the server.",
        flush=True,
    )
    code = 0
    try:
        while not stop_requests and _alive(worker) and _alive(server):
            time.sleep(0.2)
        if not stop_requests:
            ended, other = (server, "server") if not _alive(server) else (worker, "worker")
            code = ended.returncode or 1
            print(f"The {other} stopped (exit {ended.returncode}): stopping the rest.", flush=True)
    finally:
        _signal_group(server, signal.SIGTERM)
        if _alive(worker):
            print(
                "Stopping the worker: it finishes the job at hand "
                f"(up to {WORKER_GRACE_SECONDS:.0f} s; Ctrl-C again to stop at once).",
                flush=True,
            )
            # SIGTERM to the worker alone: its warm shutdown stops the pool and beat and
            # gives back the messages it had taken but not started.
            worker.send_signal(signal.SIGTERM)
            _wait(worker, WORKER_GRACE_SECONDS, stop_requests)
        # Whatever is left of either group (a job that ran past the grace) is killed.
        for process in (worker, server):
            if not _wait(process, 5, stop_requests):
                _signal_group(process, signal.SIGKILL)
            process.wait()
            _signal_group(process, signal.SIGKILL)
    return code


if __name__ == "__main__":
    sys.exit(main())
