"""Asking for a statement: numbered in the same transaction, with its life tied to the
records it sums up. Running it is `render.run_statement`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from .. import jobs
from ..dates import day_start
from ..models import Organization, SenderProfile, Statement
from .codes import new_verification_code, next_statement_number


def request_statement(
    *,
    user: Any,
    organization: Organization,
    period_from: dt.date,
    period_to: dt.date,
    sender: SenderProfile | None = None,
    channel: str = "",
    appendix: bool = True,
) -> tuple[Statement, bool]:
    """The member's statement of this period and scope: a new pending job with the next
    number, or the same one asked for within the last minute (a double click takes one
    number). Returns (statement, created). Raises jobs.QueueFull, before a number is
    taken, when the member or the organization has as many jobs waiting or being made as
    the quotas allow; a double click still finds its statement. The period is the
    caller's to check (StatementForm)."""
    now = timezone.now()
    with transaction.atomic():
        recent = jobs.recent_requests(Statement, user=user, organization=organization, now=now)
        twin = recent.filter(
            period_from=period_from,
            period_to=period_to,
            sender=sender,
            channel=channel,
            appendix=appendix,
        ).first()
        if twin is not None:
            return twin, False
        # Statements count with exports: they take the same workers, and longer (a year
        # with its sends listed takes minutes); each would also take a number for good.
        jobs.check_quota(user_id=user.pk, organization_id=organization.pk)
        statement = Statement.objects.create(
            organization=organization,
            created_by=user,
            period_from=period_from,
            period_to=period_to,
            sender=sender,
            channel=channel,
            appendix=appendix,
            language=translation.get_language() or "ko",
            # A statement lives as long as the records it sums up, so it can be verified.
            expires_at=day_start(period_to) + dt.timedelta(days=settings.RETENTION_DAYS + 1),
            # Numbered in this transaction: a statement whose job fails keeps its number
            # (and its retries too), so the organization's numbers have no gaps.
            number=next_statement_number(organization, now),
            verification_code=new_verification_code(),
        )
    return statement, True
