"""The Celery app. Without CELERY_BROKER_URL, settings make every task run eagerly."""

from __future__ import annotations

import logging
import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sendon_results.settings")

app = Celery("sendon_results")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _warm_statement_fonts(**kwargs: object) -> None:
    # Decoding the statement fonts takes seconds: do it before the first job arrives.
    from .statements.render import warm_fonts

    warm_fonts()


@worker_ready.connect
def _take_up_orphaned_jobs(sender: object, **kwargs: object) -> None:
    from .tasks import dispatch_waiting, requeue_orphans

    requeue_orphans(getattr(sender, "hostname", ""))
    # A worker that died between finishing a job and handing over its organization's next
    # one left that organization waiting: its turn is given here rather than at the sweep.
    dispatch_waiting()


_task_started: dict[str, float] = {}
task_log = logging.getLogger("sendon_results.tasks")


@task_prerun.connect
def _task_starts(task_id: str, **kwargs: object) -> None:
    _task_started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_ends(task_id: str, task: object, state: str | None = None, **kwargs: object) -> None:
    # One line per task, like one per request.
    started = _task_started.pop(task_id, None)
    milliseconds = (time.perf_counter() - started) * 1000 if started else 0.0
    task_log.info(
        "task=%s id=%s state=%s ms=%.1f", getattr(task, "name", task), task_id, state, milliseconds
    )
