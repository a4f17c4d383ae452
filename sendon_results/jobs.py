"""The life every job shares, whatever it makes (an export, a statement): claimed by a
worker with an attempt token, built into a temporary file, published, failed, tried again.

What a job makes is the caller's: `run` takes the kind's model and its `build` function.
This module knows neither exports nor statements (they import it, never the reverse).
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext

from .models import Job, Membership, Organization

logger = logging.getLogger(__name__)

# The same job asked for again within this time is the same job: a double click does not
# start two (nor take two statement numbers).
DUPLICATE_WINDOW = dt.timedelta(minutes=1)

# Writes the job's file at the path and returns how many rows (or messages) it holds; it
# sets the job's file_name and its model's built_fields on the job as it goes.
type Build[J: Job] = Callable[[Path, J], int]


def recent_requests[J: Job](
    model: type[J], *, user: Any, organization: Organization, now: dt.datetime
) -> QuerySet[J]:
    """The member's jobs of this kind asked for within DUPLICATE_WINDOW and not failed,
    where a second click finds the job of the first. Call in the transaction that creates
    the new job: it locks the member's membership, so that two clicks take turns and
    cannot both find nothing."""
    Membership.objects.select_for_update().get(user=user, organization=organization)
    recent = (
        model.objects.for_member(user, organization)
        .filter(created_at__gte=now - DUPLICATE_WINDOW)
        .exclude(state=Job.State.FAILED)
    )
    return cast("QuerySet[J]", recent)  # the manager is Job's: its rows are the model's


def claim[J: Job](model: type[J], pk: int, *, worker: str = "") -> J | None:
    """The job, claimed by this run: running, under an attempt token of its own. None when
    there is nothing to do (finished, failed, or gone).

    A job already running is claimed again (a redelivered task): the run before it loses
    its token, so it can neither publish nor fail the job any more.
    """
    attempt = uuid.uuid4().hex
    claimed = model.objects.filter(pk=pk, state__in=[Job.State.PENDING, Job.State.RUNNING]).update(
        state=Job.State.RUNNING,
        started_at=timezone.now(),
        progress=0,
        error="",
        worker=worker,
        attempt=attempt,
    )
    if not claimed:
        return None
    job = cast(J, model.objects.select_related("organization", "created_by").get(pk=pk))
    job.attempt = attempt  # ours, even if a later run claimed it again meanwhile
    return job


def _mine(job: Job) -> QuerySet[Job]:
    """The job, as long as this run's attempt still holds it."""
    return type(job).objects.filter(pk=job.pk, state=Job.State.RUNNING, attempt=job.attempt)


def report_progress(job: Job, percent: int) -> None:
    """Progress for the page to show, while this run still holds the job."""
    _mine(job).update(progress=min(99, percent))


def publish(job: Job, *, rows: int, path: Path) -> bool:
    """Store the finished file at `path` and mark the job done, if this run still holds
    it; otherwise (failed meanwhile by the time limit, or claimed again) no file is
    offered and False is returned."""
    with path.open("rb") as file:
        job.file.save(f"{uuid.uuid4().hex}{Path(job.file_name).suffix}", File(file), save=False)
    published = _mine(job).update(
        file=job.file.name,
        file_name=job.file_name,
        file_size=job.file.size,
        row_count=rows,
        state=Job.State.DONE,
        progress=100,
        finished_at=timezone.now(),
        **{field: getattr(job, field) for field in job.built_fields},
    )
    if not published:
        job.file.delete(save=False)
    return bool(published)


def fail(job: Job, error: Exception) -> None:
    """Mark the job failed with a reason the member can read, if this run still holds it."""
    _mine(job).update(state=Job.State.FAILED, finished_at=timezone.now(), error=readable(error))


def run[J: Job](model: type[J], pk: int, *, worker: str = "", build: Build[J]) -> None:
    """Build one job's file and publish it; a failure is recorded in the job, not raised.

    Safe to run twice (a redelivered task): a finished job is left alone, and a job that
    was running starts over from a fresh temporary file. Each run claims the job with an
    attempt of its own; only the latest attempt may publish, fail or report progress, so
    an earlier run still going somewhere changes nothing. `worker` names the Celery worker
    doing it, so that worker can take the job up again if it dies.
    """
    job = claim(model, pk, worker=worker)
    if job is None:
        return
    name = f"{model._meta.model_name} {job.pk}"
    temp = _temporary_file(job)
    try:
        with translation.override(job.language):
            rows = build(temp, job)
        if publish(job, rows=rows, path=temp):
            logger.info("%s: %s rows, %s bytes", name, rows, job.file.size)
    except Exception as error:
        logger.exception("%s failed", name)
        fail(job, error)
    finally:
        temp.unlink(missing_ok=True)


def reset_for_retry(job: Job) -> bool:
    """Put a failed job back in the queue's hands, as if asked for now; False when it was
    not failed any more (a second click on "try again")."""
    now = timezone.now()
    return bool(
        type(job)
        .objects.filter(pk=job.pk, state=Job.State.FAILED)
        .update(
            state=Job.State.PENDING,
            progress=0,
            error="",
            row_count=None,
            total_rows=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            expires_at=job.expiry_on_retry(now),
        )
    )


def requeue_orphan(job: Job) -> bool:
    """Put a job its dead worker held back to waiting; False when it is not running any
    more (finished meanwhile, or failed by the sweep)."""
    return bool(
        type(job)
        .objects.filter(pk=job.pk, state=Job.State.RUNNING)
        .update(state=Job.State.PENDING, progress=0)
    )


def fail_unqueued(job_model: type[Job], pk: int) -> None:
    """A job the queue would not take: failed at once, with a retry button, instead of
    waiting for a worker that will never hear of it."""
    job_model.objects.filter(pk=pk, state=Job.State.PENDING).update(
        state=Job.State.FAILED,
        finished_at=timezone.now(),
        error=gettext("The job queue cannot be reached right now. Try again shortly."),
    )


def _temporary_file(job: Job) -> Path:
    """A fresh temporary file for this run, named after the job (export-12-….part), once
    any left by a run whose worker died are gone."""
    temp_dir = Path(settings.MEDIA_ROOT) / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{job._meta.model_name}-{job.pk}-"
    for stale in temp_dir.glob(f"{prefix}*"):
        stale.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(dir=temp_dir, prefix=prefix, suffix=".part")
    os.close(handle)
    return Path(name)


def readable(error: Exception) -> str:
    """What went wrong, in words the user can act on (the details go to the log)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return gettext("The server ran out of disk space while writing the file. Try again later.")
    if isinstance(error, DatabaseError):
        return gettext("The database could not be read to the end. Try again.")
    if isinstance(error, SoftTimeLimitExceeded):
        return gettext("The export took longer than allowed and was stopped. Try again.")
    if isinstance(error, ValueError):
        return str(error)
    return gettext("The file could not be made because of an unexpected error. Try again.")
