"""Asking for a delivery confirmation: numbered in the same transaction, its life tied to
the records it lists. Running it is `render.run_confirmation`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from .. import jobs
from ..dates import day_start
from ..models import Confirmation, Organization
from ..statements.codes import new_verification_code, next_number

NUMBER_KIND = "CF"  # CF-2026-11-0001


def request_confirmation(
    *,
    user: Any,
    organization: Organization,
    recipient: str,
    period_from: dt.date,
    period_to: dt.date,
    unmasked: bool,
) -> tuple[Confirmation, bool]:
    """The member's confirmation for this number and period: a new pending job with the
    next number, or the same one asked for within the last minute (a double click takes
    one number). Returns (confirmation, created). Raises jobs.QueueFull, before a number
    is taken, when the member or the organization has no room for another job. The
    period, the number and whether the member may have it in full are the caller's to
    check (ConfirmationForm, the view)."""
    now = timezone.now()
    with transaction.atomic():
        recent = jobs.recent_requests(Confirmation, user=user, organization=organization, now=now)
        twin = recent.filter(
            recipient=recipient, period_from=period_from, period_to=period_to, unmasked=unmasked
        ).first()
        if twin is not None:
            return twin, False
        jobs.check_quota(user_id=user.pk, organization_id=organization.pk)
        confirmation = Confirmation.objects.create(
            organization=organization,
            created_by=user,
            recipient=recipient,
            unmasked=unmasked,
            period_from=period_from,
            period_to=period_to,
            language=translation.get_language() or "ko",
            # Lives as long as the records it lists, so it can be verified meanwhile.
            expires_at=day_start(period_to) + dt.timedelta(days=settings.RETENTION_DAYS + 1),
            number=next_number(Confirmation, organization, now, kind=NUMBER_KIND),
            verification_code=new_verification_code(),
        )
    return confirmation, True
