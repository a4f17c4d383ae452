"""Real processes for the fault tests: a private PostgreSQL cluster and Redis server, the
console under gunicorn, Celery workers, and a signed-in HTTP client (which the load test,
scripts/loadtest.py, uses too). Everything binds to 127.0.0.1 on free ports and lives in
one temporary directory."""

from __future__ import annotations

import glob
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, timeout: float = 30, what: str = "") -> None:
    """Poll `check()` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def answers(url: str, *, any_status: bool = False) -> bool:
    """Whether `url` answers (200, or anything with `any_status`)."""
    try:
        response = requests.get(url, timeout=5)
    except requests.RequestException:
        return False
    return any_status or response.status_code == 200


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A PostgreSQL cluster of its own, to stop and start under a running console."""

    def __init__(self, directory: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise AssertionError("PostgreSQL's initdb is missing: apt-get install postgresql")
        self.bin = Path(found[-1]).parent
        self.data = directory / "pg"
        self.port = free_port()
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "initdb"),
                    "--no-instructions",
                    "--no-sync",
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-D",
                    str(self.data),
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-s",
                    "-w",
                    "-l",
                    str(self.data / "log"),
                    "-o",
                    f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}",
                    "start",
                ]
            ),
            check=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-s", "-w", "-m", "fast", "stop"]
            ),
            check=False,
        )


class Redis:
    """A Redis server of its own, keeping nothing on disk, as in production."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, "redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Stack:
    """The console as deployed: PostgreSQL, Redis, gunicorn and Celery workers."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sendon-stack-"))
        self.directory.chmod(0o755)  # PostgreSQL runs as its own user
        self.postgres = Postgres(self.directory)
        self.redis = Redis(self.directory)
        self.media = self.directory / "media"
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": "fault-tests-only",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": self.postgres.url,
            "CELERY_BROKER_URL": self.redis.url,
            "MEDIA_ROOT": str(self.media),
            "DB_CONN_MAX_AGE": "60",
            "PYTHONUNBUFFERED": "1",
        }

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def start(self) -> None:
        self.postgres.start()
        self.redis.start()
        self.manage("migrate", "--noinput")
        self.manage("seed_demo", "--sends", "40", "--max-recipients", "4")
        self.web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "sendon_results.wsgi",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--log-file",
                str(self.directory / "web"),
            ],
            cwd=ROOT,
            env=self.env,
        )
        wait_for(lambda: answers(f"{self.base_url}/healthz", any_status=True), 30, "gunicorn")

    def start_worker(self, name: str, pool: str = "solo") -> subprocess.Popen:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sendon_results",
                "worker",
                f"--pool={pool}",
                "--concurrency=1",
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "--logfile",
                str(self.directory / f"{name}.log"),
            ],
            cwd=ROOT,
            env=self.env,
        )
        self.workers.append(worker)
        return worker

    def worker_log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def query(self, sql: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.postgres.url.replace("postgres://", "postgresql://")) as db:
            return db.execute(sql, params).fetchall()

    def stop(self) -> None:
        for process in [*self.workers, self.web]:
            if process and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
        self.redis.stop()
        self.postgres.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Browser:
    """A signed-in user over HTTP, as the proxy in front of the console would forward it."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        # Behind the TLS proxy: the console sees HTTPS, and its cookies are Secure.
        self.session.headers["X-Forwarded-Proto"] = "https"
        self.session.cookies.set_policy(LoopbackPolicy())
        page = self.get("/login/")
        response = self.post(
            "/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": _token(page)},
        )
        assert response.status_code == 302, response.text[:500]

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base_url + path, allow_redirects=False, timeout=10)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        if "csrfmiddlewaretoken" not in data:
            data = {**data, "csrfmiddlewaretoken": self.session.cookies.get("csrftoken") or ""}
        response = self.session.post(
            self.base_url + path,
            data=data,
            allow_redirects=False,
            timeout=10,
            headers={"Referer": f"https://127.0.0.1:{self.base_url.rsplit(':', 1)[1]}{path}"},
        )
        return response


class LoopbackPolicy(http.cookiejar.DefaultCookiePolicy):
    """Keeps the console's Secure cookies as plain ones, to send them back over HTTP: on
    loopback this client stands where the TLS proxy would."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        cookie.secure = False
        return super().set_ok(cookie, request)


def _token(page: requests.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)
