"""The life every job shares, whatever it makes (an export, a statement): asked for within
the quotas, handed to the queue in its organization's turn, claimed by a worker with an
attempt token, built into a temporary file, published, failed, tried again.

What a job makes is the caller's: `run` takes the kind's model and its `build` function.
This module knows neither exports nor statements (they import it, never the reverse); it
counts every kind of job (`Job.kinds()`) alike, as they share one queue.

Fair use of the queue: a member may have EXPORT_ACTIVE_PER_USER jobs waiting or being made
and an organization EXPORT_ACTIVE_PER_ORGANIZATION (`check_quota`); and an organization
has at most EXPORT_RUNNING_PER_ORGANIZATION jobs in the queue's hands at a time, the rest
waiting in the database for its turn (`take_next`). The queue is first in, first out, so a
job another organization asks for waits behind at most that many of each organization's
jobs, however many they asked for before.
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
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from . import replicas
from .models import Job, Membership, Organization

logger = logging.getLogger(__name__)

# The same job asked for again within this time is the same job: a double click does not
# start two (nor take two statement numbers).
DUPLICATE_WINDOW = dt.timedelta(minutes=1)

# Writes the job's file at the path and returns how many rows (or messages) it holds; it
# sets the job's file_name and its model's built_fields on the job as it goes.
type Build[J: Job] = Callable[[Path, J], int]


class QueueFull(Exception):
    """One job more than the member or the organization may have waiting or being made;
    the message says so, for the member."""


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


def check_quota(*, user_id: int, organization_id: int) -> None:
    """Raise QueueFull when the member already has EXPORT_ACTIVE_PER_USER jobs (of every
    kind) waiting or being made in this organization, or the organization has
    EXPORT_ACTIVE_PER_ORGANIZATION.

    Call in the transaction that adds the job, after `recent_requests` (or `_lock_member`)
    locked the membership, which serialises the member's own requests. It locks the
    organization's row as statement numbering does (FOR NO KEY UPDATE, so recording sends
    is not held up), so that two members asking at once take turns too. Locks are always
    taken membership first, then organization (take_next takes only the organization's),
    so no two transactions can each hold what the other waits for.
    """
    per_user = settings.EXPORT_ACTIVE_PER_USER
    if _count(created_by_id=user_id, organization_id=organization_id) >= per_user:
        raise QueueFull(
            ngettext(
                "You already have %(limit)d file being made or waiting (exports and "
                "statements count together). Ask again when it is ready.",
                "You already have %(limit)d files being made or waiting (exports and "
                "statements count together). Ask again when one of them is ready.",
                per_user,
            )
            % {"limit": per_user}
        )
    Organization.objects.select_for_update(no_key=True).filter(pk=organization_id).first()
    per_organization = settings.EXPORT_ACTIVE_PER_ORGANIZATION
    if _count(organization_id=organization_id) >= per_organization:
        raise QueueFull(
            ngettext(
                "Your organization already has %(limit)d file being made or waiting. Ask "
                "again when it is ready.",
                "Your organization already has %(limit)d files being made or waiting. Ask "
                "again when one of them is ready.",
                per_organization,
            )
            % {"limit": per_organization}
        )


def _count(**lookups: Any) -> int:
    """Jobs of every kind waiting or being made, with these lookups."""
    return sum(model.objects.filter(**lookups).active().count() for model in Job.kinds())


def _lock_member(*, user_id: int, organization_id: int) -> None:
    Membership.objects.select_for_update().filter(
        user_id=user_id, organization_id=organization_id
    ).first()


def take_next(organization_id: int) -> tuple[type[Job], int] | None:
    """The organization's next job for the queue — its oldest waiting one, of any kind —
    marked as handed over, or None when it already has EXPORT_RUNNING_PER_ORGANIZATION in
    the queue's hands (or nothing waits). The caller sends the job's task.

    The organization's row is locked (as in `check_quota`), so two callers at once (a
    request and a worker finishing a job) never hand over more than the limit. Call outside
    a transaction: the job must be committed as handed over before its task is sent.
    """
    now = timezone.now()
    with transaction.atomic():
        Organization.objects.select_for_update(no_key=True).filter(pk=organization_id).first()
        kinds = Job.kinds()
        in_hand = sum(
            model.objects.filter(organization_id=organization_id).in_hand().count()
            for model in kinds
        )
        if in_hand >= settings.EXPORT_RUNNING_PER_ORGANIZATION:
            return None
        oldest: list[tuple[dt.datetime, int, type[Job]]] = []
        for model in kinds:
            job = (
                model.objects.filter(organization_id=organization_id)
                .waiting_turn()
                .order_by("created_at", "pk")
                .only("pk", "created_at")
                .first()
            )
            if job is not None:
                oldest.append((job.created_at, job.pk, model))
        if not oldest:
            return None
        _, pk, model = min(oldest, key=lambda item: (item[0], item[1]))
        model.objects.filter(pk=pk).update(queued_at=now)
    return model, pk


def organizations_waiting() -> set[int]:
    """The organizations with a job waiting for its turn."""
    return {
        organization_id
        for model in Job.kinds()
        for organization_id in model.objects.waiting_turn()
        .values_list("organization_id", flat=True)
        .distinct()
    }


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
        with translation.override(job.language), replicas.caught_up_reads():
            rows = build(temp, job)
        if publish(job, rows=rows, path=temp):
            logger.info("%s: %s rows, %s bytes", name, rows, job.file.size)
    except Exception as error:
        logger.exception("%s failed", name)
        fail(job, error)
    finally:
        temp.unlink(missing_ok=True)


def reset_for_retry(job: Job) -> bool:
    """Put a failed job back to wait for its turn, as if asked for now; False when it was
    not failed any more (a second click on "try again"). Raises QueueFull, as asking for a
    new one would, when the member or the organization has no room for it."""
    now = timezone.now()
    failed = type(job).objects.filter(pk=job.pk, state=Job.State.FAILED)
    with transaction.atomic():
        _lock_member(user_id=job.created_by_id, organization_id=job.organization_id)
        if not failed.exists():
            return False
        check_quota(user_id=job.created_by_id, organization_id=job.organization_id)
        return bool(
            failed.update(
                state=Job.State.PENDING,
                progress=0,
                error="",
                row_count=None,
                total_rows=None,
                created_at=now,
                queued_at=None,
                started_at=None,
                finished_at=None,
                expires_at=job.expiry_on_retry(now),
            )
        )


def requeue_orphan(job: Job) -> bool:
    """Put a job its dead worker held back in the queue (the caller sends its task again);
    False when it is not running any more (finished meanwhile, or failed by the sweep)."""
    return bool(
        type(job)
        .objects.filter(pk=job.pk, state=Job.State.RUNNING)
        .update(state=Job.State.PENDING, progress=0, queued_at=timezone.now())
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
