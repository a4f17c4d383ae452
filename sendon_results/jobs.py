"""The life of a job a member asks for (an export or a statement): asked for, claimed by
a worker with an attempt token, published, failed, tried again."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from .dates import day_start
from .exports.build import write_export
from .models import Export, Membership, Organization
from .statements.codes import new_verification_code, next_statement_number
from .statements.figures import period_of
from .statements.render import write_statement

logger = logging.getLogger(__name__)

DUPLICATE_WINDOW = dt.timedelta(minutes=1)  # the same export asked again is the same job


def request_export(
    *,
    user: Any,
    organization: Organization,
    kind: str,
    file_format: str,
    filters: dict[str, list[str]],
    description: list[dict[str, str]] | None = None,
    split: str = "",
) -> tuple[Export, bool]:
    """The member's export (or statement) of these filters: a new pending job, or the same
    one asked for within the last minute (a double click does not start two jobs).
    Returns (job, created)."""
    now = timezone.now()
    with transaction.atomic():
        # One member's requests take turns, so two clicks cannot both see "no recent job".
        Membership.objects.select_for_update().get(user=user, organization=organization)
        recent = Export.objects.for_member(user, organization).filter(
            kind=kind, file_format=file_format, split=split,
            created_at__gte=now - DUPLICATE_WINDOW,
        ).exclude(state=Export.State.FAILED)  # fmt: skip
        for export in recent:
            if export.filters == filters:
                return export, False
        export = Export.objects.create(
            organization=organization,
            created_by=user,
            kind=kind,
            file_format=file_format,
            split=split,
            filters=filters,
            description=description or [],
            language=translation.get_language() or "ko",
            expires_at=now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS),
        )
        if kind == Export.Kind.STATEMENT:
            # A statement lives as long as the records it sums up, so it can be verified.
            _, end = period_of(export)
            export.expires_at = day_start(end) + dt.timedelta(days=settings.RETENTION_DAYS + 1)
            # Numbered in this transaction: a statement whose job fails keeps its number
            # (and its retries too), so the organization's numbers have no gaps.
            export.number = next_statement_number(organization, now)
            export.verification_code = new_verification_code()
            export.save(update_fields=["expires_at", "number", "verification_code"])
    return export, True


def reset_for_retry(export: Export) -> bool:
    """Put a failed job back in the queue's hands, as if asked for now; False when it was
    not failed any more (a second click on "try again")."""
    now = timezone.now()
    expires_at = (
        export.expires_at  # a statement's life follows its records, not its retries
        if export.kind == Export.Kind.STATEMENT
        else now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS)
    )
    return bool(
        Export.objects.filter(pk=export.pk, state=Export.State.FAILED).update(
            state=Export.State.PENDING,
            progress=0,
            error="",
            row_count=None,
            total_rows=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            expires_at=expires_at,
        )  # fmt: skip
    )


def run_export(export_id: int, worker: str = "") -> None:
    """Build one export's file and publish it; a failure is recorded in the job, not raised.

    Safe to run twice (a redelivered task): a finished job is left alone, and a job that
    was running starts over from a fresh temporary file. Each run claims the job with an
    attempt of its own; only the latest attempt may publish, fail or report progress, so
    an earlier run still going somewhere changes nothing. `worker` names the Celery worker
    doing it, so that worker can take the job up again if it dies.
    """
    attempt = uuid.uuid4().hex
    claimed = Export.objects.filter(
        pk=export_id, state__in=[Export.State.PENDING, Export.State.RUNNING]
    ).update(
        state=Export.State.RUNNING, started_at=timezone.now(), progress=0, error="",
        worker=worker, attempt=attempt,
    )  # fmt: skip
    if not claimed:
        return
    export = Export.objects.select_related("organization", "created_by").get(pk=export_id)
    mine = Export.objects.filter(pk=export_id, state=Export.State.RUNNING, attempt=attempt)
    temp_dir = Path(settings.MEDIA_ROOT) / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    for stale in temp_dir.glob(f"export-{export.pk}-*"):  # left by a worker that died
        stale.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(dir=temp_dir, prefix=f"export-{export.pk}-", suffix=".part")
    os.close(handle)
    temp = Path(name)
    try:
        with translation.override(export.language):
            if export.kind == Export.Kind.STATEMENT:
                count = write_statement(temp, export)
            else:
                count = write_export(temp, export)
        with temp.open("rb") as file:
            export.file.save(f"{uuid.uuid4().hex}.{export.file_format}", File(file), save=False)
        published = mine.update(
            file=export.file.name, file_name=export.file_name, file_size=export.file.size,
            row_count=count, state=Export.State.DONE, progress=100,
            finished_at=timezone.now(), figures=export.figures,
            fingerprint=export.fingerprint, covers_from=export.covers_from,
        )  # fmt: skip
        if not published:  # failed meanwhile (time limit), or claimed again: no file offered
            export.file.delete(save=False)
            return
        logger.info("export %s: %s rows, %s bytes", export.pk, count, export.file.size)
    except Exception as error:
        logger.exception("export %s failed", export.pk)
        mine.update(state=Export.State.FAILED, finished_at=timezone.now(), error=_readable(error))
    finally:
        temp.unlink(missing_ok=True)


def _readable(error: Exception) -> str:
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
