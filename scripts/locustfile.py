"""Operators browsing and filtering their send results, for `python -m scripts.loadtest`.

Each simulated user works in the demo's largest organization and, with one to five
seconds between clicks, opens the list, filters it (status, channel, outcome, period,
sender, text), pages through it, opens a send and its failures, and looks at the exports
page. The load test signs the users in beforehand and hands over their cookies
(LOAD_SESSIONS: a JSON file of cookie sets), so the measured minute is browsing.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import os
import random
import re
from pathlib import Path

from locust import HttpUser, between, task

from scripts.stack import LoopbackPolicy

SEND_LINK = re.compile(r'href="/results/(\d+)/"')
NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')
SENDER_OPTION = re.compile(r'name="sender" value="(\d+)"')  # the sender filter's chips
SESSIONS = json.loads(Path(os.environ["LOAD_SESSIONS"]).read_text())
_next_session = itertools.count()


class Operator(HttpUser):
    wait_time = between(1, 5)

    def on_start(self) -> None:
        # The console sits behind a TLS proxy: it sees HTTPS and sets Secure cookies.
        self.client.headers["X-Forwarded-Proto"] = "https"
        self.client.cookies.set_policy(LoopbackPolicy())
        self.client.cookies.update(SESSIONS[next(_next_session) % len(SESSIONS)])
        first = self._get("/results/", "/results/")
        self.sends = SEND_LINK.findall(first) or ["0"]
        self.senders = SENDER_OPTION.findall(first) or [""]

    def _get(self, path: str, name: str) -> str:
        """A page that must come back whole: a redirect to the sign-in page is a failure."""
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200 or "/login/" in response.url:
                response.failure(f"{response.status_code} at {response.url}")
            return response.text

    @task(4)
    def browse(self) -> None:
        self.sends = SEND_LINK.findall(self._get("/results/", "/results/")) or self.sends

    @task(6)
    def filter(self) -> None:
        month_ago = (dt.date.today() - dt.timedelta(days=30)).isoformat()
        query = random.choice(
            [
                "status=failed",
                "status=completed&channel=alimtalk",
                "outcome=failure",
                f"requested_from={month_ago}",
                f"sender={random.choice(self.senders)}",
                "channel=lms&channel=mms",
                "q=인증번호",
                "source=web&outcome=failure",
            ]
        )
        found = NEXT_LINK.search(self._get(f"/results/?{query}", "/results/?<filter>"))
        if found:
            next_page = html.unescape(found.group(1))
            self._get(f"/results/{next_page}", "/results/?<filter>&cursor=<next>")

    @task(3)
    def detail(self) -> None:
        send = random.choice(self.sends)
        self._get(f"/results/{send}/", "/results/<id>/")
        self._get(f"/results/{send}/?outcome=failure", "/results/<id>/?outcome=failure")

    @task(1)
    def exports(self) -> None:
        self._get("/exports/", "/exports/")
