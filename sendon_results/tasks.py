"""Celery tasks: thin wrappers that take an id and call a plain function."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from kombu.exceptions import OperationalError

from . import jobs, retention
from .models import Export

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,  # a worker killed mid-export leaves the message to be redelivered
    reject_on_worker_lost=True,
    soft_time_limit=settings.EXPORT_TIME_LIMIT,
    time_limit=settings.EXPORT_TIME_LIMIT + 60,
)
def run_export(self: Task, export_id: int) -> None:
    """Build and publish one export's file; failures are recorded on the job."""
    jobs.run_export(export_id, worker=self.request.hostname or "")


def requeue_orphans(worker: str) -> int:
    """Queue again the jobs this worker held when it last died.

    A pool process killed mid-job is noticed by its worker, which gives the message back
    at once (reject_on_worker_lost). When the whole worker is killed, Redis keeps the
    message unacknowledged until the visibility timeout (hours, so long exports are not
    handed out twice); the restarted worker takes its jobs up here instead. The late
    redelivery, when it comes, finds the job finished and does nothing.
    """
    orphans = list(Export.objects.orphaned_by(worker).values_list("pk", flat=True))
    for export_id in orphans:
        logger.warning("export %s: its worker %s died; queued again", export_id, worker)
        Export.objects.filter(pk=export_id, state=Export.State.RUNNING).update(
            state=Export.State.PENDING, progress=0
        )
        run_export.delay(export_id)
    return len(orphans)


def queue_export_on_commit(export_id: int) -> None:
    """Queue the job once the request's transaction commits. When the broker cannot be
    reached the job fails at once with a reason and a retry button, instead of the page."""

    def queue() -> None:
        try:
            run_export.delay(export_id)
        except OperationalError:
            logger.exception("could not queue export %s", export_id)
            Export.objects.filter(pk=export_id, state=Export.State.PENDING).update(
                state=Export.State.FAILED,
                finished_at=timezone.now(),
                error=gettext("The job queue cannot be reached right now. Try again shortly."),
            )

    transaction.on_commit(queue)


@shared_task
def fail_stuck_exports() -> int:
    """Mark jobs that outlived the task time limit as failed, so none stays "working"."""
    return Export.objects.fail_stuck()


@shared_task(acks_late=True)
def purge_expired() -> dict[str, int]:
    """The daily retention purge (beat, 04:00 Korea time); see retention.purge_expired."""
    try:
        result = retention.purge_expired()
    except retention.PurgeAlreadyRunning:
        return {"skipped": 1}
    return {"sends": result.sends, "deliveries": result.deliveries, "files": result.files}
