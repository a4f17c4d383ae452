"""Asking for an export, and running the job asked for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from .. import jobs
from ..models import Export, Organization
from .build import write_export


def request_export(
    *,
    user: Any,
    organization: Organization,
    kind: str,
    file_format: str,
    filters: dict[str, list[str]],
    description: list[dict[str, str]] | None = None,
    split: str = "",
    unmasked: bool = False,
    reason: str = "",
) -> tuple[Export, bool]:
    """The member's export of these filters: a new pending job, or the same one asked for
    within the last minute (a double click does not start two jobs). Returns (job,
    created). Raises jobs.QueueFull when the member or the organization has as many jobs
    waiting or being made as the quotas allow (a double click still finds its job)."""
    now = timezone.now()
    with transaction.atomic():
        recent = jobs.recent_requests(Export, user=user, organization=organization, now=now)
        same = recent.filter(kind=kind, file_format=file_format, split=split, unmasked=unmasked)
        for export in same:
            if export.filters == filters:
                return export, False
        jobs.check_quota(user_id=user.pk, organization_id=organization.pk)
        export = Export.objects.create(
            organization=organization,
            created_by=user,
            kind=kind,
            file_format=file_format,
            split=split,
            filters=filters,
            description=description or [],
            unmasked=unmasked,
            reason=reason,
            language=translation.get_language() or "ko",
            expires_at=now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS),
        )
    return export, True


def run_export(export_id: int, *, worker: str = "") -> None:
    """Build one export's file and publish it (see jobs.run: safe to run twice, failures
    recorded on the job)."""
    jobs.run(Export, export_id, worker=worker, build=write_export)
