"""Celery tasks: thin wrappers that take an id and call a plain function.

Every task's message is acknowledged only once it is done, and given back when its
worker dies (acks_late, reject_on_worker_lost): settings.py says so once, for all tasks
(CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST), not each task again.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError

from . import jobs, retention
from .exports.requests import run_export as build_export
from .models import Export, Job, Statement

logger = logging.getLogger(__name__)

# A job's task is stopped softly at its time limit (the job fails with a reason), and for
# good a minute later.
SOFT_LIMIT = settings.EXPORT_TIME_LIMIT
HARD_LIMIT = settings.EXPORT_TIME_LIMIT + 60


@shared_task(bind=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_export(self: Task, export_id: int) -> None:
    """Build and publish one export's file; failures are recorded on the job."""
    build_export(export_id, worker=self.request.hostname or "")


@shared_task(bind=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_statement(self: Task, statement_id: int) -> None:
    """Gather, render and publish one statement; failures are recorded on it."""
    # Imported here, in the worker: WeasyPrint takes a second to import, which no web
    # process (they only queue this task) should pay.
    from .statements.render import run_statement as build_statement

    build_statement(statement_id, worker=self.request.hostname or "")


# Each kind of job and the task that runs it.
JOB_TASKS: tuple[tuple[type[Job], Task], ...] = ((Export, run_export), (Statement, run_statement))


def requeue_orphans(worker: str) -> int:
    """Queue again the jobs (exports and statements) this worker held when it last died.

    A pool process killed mid-job is noticed by its worker, which gives the message back
    at once (reject_on_worker_lost). When the whole worker is killed, Redis keeps the
    message unacknowledged until the visibility timeout (hours, so long exports are not
    handed out twice); the restarted worker takes its jobs up here instead. The late
    redelivery, when it comes, finds the job finished and does nothing.
    """
    requeued = 0
    for model, task in JOB_TASKS:
        for job in model.objects.orphaned_by(worker).only("pk"):
            logger.warning(
                "%s %s: its worker %s died; queued again", model._meta.model_name, job.pk, worker
            )
            if jobs.requeue_orphan(job):
                task.delay(job.pk)
                requeued += 1
    return requeued


def queue_export_on_commit(export_id: int) -> None:
    """Queue the export once the request's transaction commits (see _queue_on_commit)."""
    _queue_on_commit(Export, run_export, export_id)


def queue_statement_on_commit(statement_id: int) -> None:
    """Queue the statement once the request's transaction commits (see _queue_on_commit)."""
    _queue_on_commit(Statement, run_statement, statement_id)


def _queue_on_commit(model: type[Job], task: Task, pk: int) -> None:
    """When the broker cannot be reached the job fails at once with a reason and a retry
    button, instead of the page."""

    def queue() -> None:
        try:
            task.delay(pk)
        except OperationalError:
            logger.exception("could not queue %s %s", model._meta.model_name, pk)
            jobs.fail_unqueued(model, pk)

    transaction.on_commit(queue)


@shared_task
def fail_stuck_jobs() -> int:
    """Mark jobs (exports and statements) that outlived the task time limit as failed, so
    none stays "working"; beat runs it every ten minutes."""
    return sum(model.objects.fail_stuck() for model, _ in JOB_TASKS)


@shared_task
def purge_expired() -> dict[str, int]:
    """The daily retention purge (beat, 04:00 Korea time); see retention.purge_expired."""
    try:
        result = retention.purge_expired()
    except retention.PurgeAlreadyRunning:
        return {"skipped": 1}
    return {"sends": result.sends, "deliveries": result.deliveries, "files": result.files}
