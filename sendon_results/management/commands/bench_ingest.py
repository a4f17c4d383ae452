"""Posts results to a local server through the ingest API and times them.

`manage.py bench_ingest --results 1000000`: starts this project's development server on
127.0.0.1 (a free port), records sends of 1,000 recipients through the API, then posts
one result per recipient in batches of 1,000 and reports results/s. Afterwards it checks
that every result counted exactly once, and that a replayed batch changes nothing.

`--notify`: the organization asks for result notifications meanwhile, so every send that
ends writes one into the outbox and queues its delivery, through a Redis broker of its own
that no worker reads (the cost to ingest, not the delivery). The endpoint, the
notifications and the queue are removed afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max, Sum

from ...api.keys import create_key
from ...demo import DEMO_ORGANIZATIONS, ensure_demo_accounts
from ...models import Membership, Organization, OutboxMessage, PlatformEndpoint, SendRequest

BATCH = 1_000
CLIENTS = 3
# A Redis database of this command's own: the queued deliveries wait there unread.
NOTIFY_BROKER = "redis://127.0.0.1:6379/13"


class Command(BaseCommand):
    help = "Measure the results endpoint: results/s, exactly once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--results", type=int, default=1_000_000)
        parser.add_argument("--notify", action="store_true", help="with result notifications")

    def handle(self, *args: Any, results: int, notify: bool, **options: Any) -> None:
        ensure_demo_accounts()
        organization = Organization.objects.get(name=DEMO_ORGANIZATIONS[0].name)
        member = Membership.objects.filter(organization=organization).first()
        if member is None:
            raise CommandError(f"{organization.name} has no members: run seed_demo first.")
        _, key = create_key(organization=organization, name="bench", user=member.user)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if notify:
            if PlatformEndpoint.objects.filter(organization=organization).exists():
                raise CommandError(f"{organization.name} has a sending platform: not touched.")
            PlatformEndpoint.objects.create(
                organization=organization,
                url="https://platform.invalid/console-requests",
                notify_url="https://platform.invalid/notifications",
                secret=secrets.token_hex(32),
            )
            before = OutboxMessage.objects.aggregate(last=Max("pk"))["last"] or 0
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CELERY_BROKER_URL": NOTIFY_BROKER} if notify else None,
        )
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            self._wait_for(base)
            run = uuid.uuid4().hex[:8]
            sends = [f"bench-{run}-{n}" for n in range(-(-results // BATCH))]
            started = time.perf_counter()
            for external_id in sends:
                self._post(base, key, "/send-requests", self._send(external_id))
            created = time.perf_counter() - started
            batches = [self._results(external_id) for external_id in sends]
            started = time.perf_counter()
            # As the platform would: a few connections posting at once.
            with ThreadPoolExecutor(CLIENTS) as pool:
                list(
                    pool.map(
                        lambda batch: self._post(base, key, "/results", {"results": batch}), batches
                    )
                )
            elapsed = time.perf_counter() - started
            replay = self._post(base, key, "/results", {"results": batches[0]})
        finally:
            server.terminate()
            server.wait()
            if notify:
                written = OutboxMessage.objects.filter(pk__gt=before, kind="notify")
                notified = written.count()
                written.delete()
                PlatformEndpoint.objects.filter(organization=organization).delete()
                redis.Redis.from_url(NOTIFY_BROKER).flushdb()
        posted = len(sends) * BATCH
        totals = SendRequest.objects.filter(organization=organization, external_id__in=sends)
        counts = totals.aggregate(
            success=Sum("success_count"), failure=Sum("failure_count"), sending=Sum("sending_count")
        )
        once = counts["success"] + counts["failure"] == posted and counts["sending"] == 0
        self.stdout.write(
            f"{len(sends):,} sends of {BATCH:,} recipients recorded in {created:.1f} s "
            f"({posted / created:,.0f} recipients/s)\n"
            f"{posted:,} results in batches of {BATCH:,} from {CLIENTS} clients: {elapsed:.1f} s = "
            f"{posted / elapsed:,.0f} results/s\n"
            f"exactly once: {'yes' if once else 'NO'} ({counts}); replayed batch: {replay}"
        )
        if notify:
            self.stdout.write(f"notifications written and queued: {notified:,}")
        if not once or replay.get("applied"):
            raise CommandError("results were not counted exactly once")

    def _send(self, external_id: str) -> dict[str, Any]:
        return {
            "external_id": external_id,
            "requested_at": "2026-11-20T10:00:00+09:00",
            "source": "api",
            "channel": "sms",
            "sender": {"kind": "phone", "value": "0212345678"},
            "body": "[벤치] 결과 수신 측정",
            "points_per_message": "9",
            "recipients": [{"external_id": f"r{i}", "phone": f"010{i:08d}"} for i in range(BATCH)],
        }

    def _results(self, external_id: str) -> list[dict[str, Any]]:
        return [
            {
                "send_external_id": external_id,
                "recipient_external_id": f"r{i}",
                "outcome": "failure" if i % 10 == 0 else "success",
                "result_code": "3019" if i % 10 == 0 else "1000",
                "completed_at": "2026-11-20T10:00:30+09:00",
                "points_refunded": "9" if i % 10 == 0 else "0",
            }
            for i in range(BATCH)
        ]

    def _post(self, base: str, key: str, path: str, data: object) -> dict[str, Any]:
        request = urllib.request.Request(
            base + path,
            data=json.dumps(data).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def _wait_for(self, base: str) -> None:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/openapi.json", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise CommandError("the server did not start")
