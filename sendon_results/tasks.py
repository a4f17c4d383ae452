"""Celery tasks: thin wrappers that take an id and call a plain function; and the
dispatcher that sends a job's task in its organization's turn (jobs.take_next decides
which job; `dispatch` sends it).

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

from . import jobs, partitions, retention
from .exports.requests import run_export as build_export
from .models import Confirmation, Export, Job, Statement

logger = logging.getLogger(__name__)

# A job's task is stopped softly at its time limit (the job fails with a reason), and for
# good a minute later.
SOFT_LIMIT = settings.EXPORT_TIME_LIMIT
HARD_LIMIT = settings.EXPORT_TIME_LIMIT + 60


@shared_task(bind=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_export(self: Task, export_id: int) -> None:
    """Build and publish one export's file; failures are recorded on the job. Then hand
    the organization's next job to the queue."""
    try:
        build_export(export_id, worker=self.request.hostname or "")
    finally:
        _dispatch_for(Export, export_id)


@shared_task(bind=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_statement(self: Task, statement_id: int) -> None:
    """Gather, render and publish one statement; failures are recorded on it. Then hand
    the organization's next job to the queue."""
    # Imported here, in the worker: WeasyPrint takes a second to import, which no web
    # process (they only queue this task) should pay.
    from .statements.render import run_statement as build_statement

    try:
        build_statement(statement_id, worker=self.request.hostname or "")
    finally:
        _dispatch_for(Statement, statement_id)


@shared_task(bind=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_confirmation(self: Task, confirmation_id: int) -> None:
    """Gather, render and publish one delivery confirmation; failures are recorded on it.
    Then hand the organization's next job to the queue."""
    # In the worker only, as for statements: it prints through WeasyPrint.
    from .confirmations.render import run_confirmation as build_confirmation

    try:
        build_confirmation(confirmation_id, worker=self.request.hostname or "")
    finally:
        _dispatch_for(Confirmation, confirmation_id)


# Each kind of job and the task that runs it.
JOB_TASKS: tuple[tuple[type[Job], Task], ...] = (
    (Export, run_export),
    (Statement, run_statement),
    (Confirmation, run_confirmation),
)


def dispatch(organization_id: int) -> None:
    """Hand the organization's waiting jobs to the queue, oldest first, as long as it has
    fewer than EXPORT_RUNNING_PER_ORGANIZATION in the queue's hands (jobs.take_next).

    Called when a job is asked for or tried again (after commit), when a job's task ends
    (the worker hands over the next one), and by the sweep and a starting worker for any
    turn that was missed. Embedded, the task runs here and then hands over the next. When
    the broker cannot be reached the job handed over fails at once with a reason and a
    retry button, instead of waiting for a worker that will never hear of it; the others
    keep waiting, for the sweep to hand over once the broker answers again.
    """
    task_of = dict(JOB_TASKS)
    while (taken := jobs.take_next(organization_id)) is not None:
        model, pk = taken
        try:
            task_of[model].delay(pk)
        except OperationalError:
            logger.exception("could not queue %s %s", model._meta.model_name, pk)
            jobs.fail_unqueued(model, pk)
            return


def dispatch_waiting() -> None:
    """Hand over the next jobs of every organization with a job waiting for its turn."""
    for organization_id in sorted(jobs.organizations_waiting()):
        dispatch(organization_id)


def _dispatch_for(model: type[Job], pk: int) -> None:
    """Dispatch for the organization of this job (asked for, or its task ended)."""
    for organization_id in model.objects.filter(pk=pk).values_list("organization_id", flat=True):
        dispatch(organization_id)


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
    _queue_on_commit(Export, export_id)


def queue_statement_on_commit(statement_id: int) -> None:
    """Queue the statement once the request's transaction commits (see _queue_on_commit)."""
    _queue_on_commit(Statement, statement_id)


def queue_confirmation_on_commit(confirmation_id: int) -> None:
    """Queue the confirmation once the request's transaction commits (see _queue_on_commit)."""
    _queue_on_commit(Confirmation, confirmation_id)


def _queue_on_commit(model: type[Job], pk: int) -> None:
    """The job waits for its organization's turn: handed to the queue at once when the
    organization has room, else when a job ahead of it ends (see dispatch). When the
    broker cannot be reached the job fails with a reason and a retry button, not the page."""
    transaction.on_commit(lambda: _dispatch_for(model, pk))


@shared_task
def fail_stuck_jobs() -> int:
    """Mark jobs (exports and statements) that outlived the task time limit as failed, so
    none stays "working", then hand over the jobs whose turn has come (theirs, or one a
    task that died never handed over); beat runs it every ten minutes."""
    failed = sum(model.objects.fail_stuck() for model, _ in JOB_TASKS)
    dispatch_waiting()
    return failed


@shared_task
def purge_expired() -> dict[str, int]:
    """The daily retention purge (beat, 04:00 Korea time); see retention.purge_expired."""
    try:
        result = retention.purge_expired()
    except retention.PurgeAlreadyRunning:
        return {"skipped": 1}
    return {"sends": result.sends, "deliveries": result.deliveries, "files": result.files}


@shared_task
def ensure_partitions() -> list[str]:
    """Make this month's partitions and the next months' ahead of their first rows (beat,
    03:30 Korea time); see partitions.ensure_ahead. Returns the months made."""
    return [f"{month:%Y-%m}" for month in partitions.ensure_ahead()]


@shared_task
def deliver_outbox(message_id: int) -> bool:
    """One try of a request to the sending platform, queued when it is written; see
    handoff/delivery.py."""
    from .handoff import delivery

    return delivery.deliver(message_id)


@shared_task
def deliver_due_outbox() -> int:
    """The tries whose time has come: retries, and requests whose queued task was lost
    (beat, every minute)."""
    from .handoff import delivery

    return delivery.deliver_due()


def queue_outbox_delivery(message_id: int) -> None:
    """Queue a first try; when the broker cannot be reached, beat's next round tries it."""
    try:
        deliver_outbox.delay(message_id)
    except OperationalError:
        logger.warning("broker unreachable: outbox message %s waits for beat", message_id)
