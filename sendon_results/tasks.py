"""Celery tasks: thin wrappers that take an id and call a plain function."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import exports, retention
from .models import Export


@shared_task(
    acks_late=True,  # a worker killed mid-export leaves the message to be redelivered
    reject_on_worker_lost=True,
    soft_time_limit=settings.EXPORT_TIME_LIMIT,
    time_limit=settings.EXPORT_TIME_LIMIT + 60,
)
def run_export(export_id: int) -> None:
    """Build and publish one export's file; failures are recorded on the job."""
    exports.run_export(export_id)


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
