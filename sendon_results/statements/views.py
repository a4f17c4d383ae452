"""Issuing statements, following and downloading them, and the public page that verifies
one by its code."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import audit, jobs, tasks
from ..accounts.addresses import client_address
from ..accounts.decorators import forbidden, permission_required
from ..accounts.people import person_name
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission, may
from ..downloads import job_file
from ..models import Delivery, Statement
from .codes import format_code, normalize_code
from .forms import StatementCodeForm, StatementForm, last_month
from .requests import request_statement

STATEMENTS_SHOWN = 50
VERIFY_WINDOW = 600  # seconds over which VERIFY_RATE_LIMIT counts one address's attempts
VERIFY_CODE_KEPT = 40  # characters of a code that cannot be one, in the access record

logger = logging.getLogger(__name__)


def _get_statement_for_user(request: MemberRequest, pk: int) -> Statement:
    """A statement of the organization the member works in, whoever issued it (404 for
    another organization's)."""
    statements = Statement.objects.for_organization(request.organization)
    return get_object_or_404(statements.select_related("sender", "created_by"), pk=pk)


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def statement_list(request: MemberRequest) -> HttpResponse:
    start, end = last_month(timezone.localdate())
    form = StatementForm(
        request.POST or None,
        organization=request.organization,
        initial={"period_from": start, "period_to": end},
    )
    if request.method == "POST" and not may(request.role, Permission.ISSUE_STATEMENTS):
        return forbidden(request, Permission.ISSUE_STATEMENTS)
    if request.method == "POST" and form.is_valid():
        scope = form.cleaned_data
        try:
            statement, created = request_statement(
                user=request.user,
                organization=request.organization,
                period_from=scope["period_from"],
                period_to=scope["period_to"],
                sender=scope["sender"],
                channel=scope["channel"],
                appendix=scope["appendix"],
            )
        except jobs.QueueFull as full:
            messages.error(request, str(full))
            return redirect("statement_list")
        if created:
            tasks.queue_statement_on_commit(statement.pk)
            detail = _recorded(statement)
            audit.record(request, audit.Action.STATEMENT_ISSUED, obj=statement, detail=detail)
        return redirect("statement_list")
    issued = list(
        Statement.objects.for_organization(request.organization)
        .select_related("sender", "created_by")
        .order_by("-created_at", "-id")[:STATEMENTS_SHOWN]
    )
    context = {"form": form, "rows": [_row(statement) for statement in issued]}
    return render(request, "statements/list.html", context, status=400 if form.errors else 200)


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def statement_row(request: MemberRequest, pk: int) -> HttpResponse:
    """One row of the list, for htmx to poll while the statement is being made."""
    statement = _get_statement_for_user(request, pk)
    return render(request, "statements/list.html#row", _row(statement))


def _row(statement: Statement) -> dict[str, Any]:
    """A row of the list: the statement and who issued it."""
    return {"statement": statement, "issued_by": person_name(statement.created_by)}


@require_POST
@permission_required(Permission.ISSUE_STATEMENTS)
def statement_retry(request: MemberRequest, pk: int) -> HttpResponse:
    statement = _get_statement_for_user(request, pk)
    try:
        if statement.state == Statement.State.FAILED and jobs.reset_for_retry(statement):
            tasks.queue_statement_on_commit(statement.pk)
            messages.info(request, _("Trying the statement again."))
    except jobs.QueueFull as full:
        messages.error(request, str(full))
    return redirect("statement_list")


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def statement_download(request: MemberRequest, pk: int) -> HttpResponseBase:
    statement = _get_statement_for_user(request, pk)
    response = job_file(
        request,
        statement,
        content_type="application/pdf",
        expired_page="statements/expired.html",
        back_to="statement_list",
    )
    if isinstance(response, FileResponse):  # the file itself, not a page about it
        detail = _recorded(statement)
        audit.record(request, audit.Action.STATEMENT_DOWNLOADED, obj=statement, detail=detail)
    return response


def _recorded(statement: Statement) -> dict[str, object]:
    """What the access record keeps of a statement: its number and scope."""
    return {
        "number": statement.number,
        "period": [statement.period_from.isoformat(), statement.period_to.isoformat()],
        # The organization's own calling number or channel, as the statement prints it.
        "sender": str(statement.sender) if statement.sender_id else "",
        "channel": statement.channel,
        "appendix": statement.appendix,
    }


@login_not_required
def statement_verify_form(request: HttpRequest) -> HttpResponse:
    """Public: type the code printed on a statement; a well-formed code opens its page."""
    form = StatementCodeForm(request.GET or None)
    if form.is_valid():
        return redirect("statement_verify", code=format_code(form.cleaned_data["code"]))
    status = 400 if form.errors else 200
    return render(request, "statements/verify.html", {"form": form}, status=status)


@login_not_required
def statement_verify(request: HttpRequest, code: str) -> HttpResponse:
    """Public: the scope and figures of the statement with this code, and nothing else."""
    if wait := seconds_to_wait(client_address(request)):
        limited = {"limited": True, "minutes": -(-wait // 60)}
        response = render(request, "statements/verify.html", limited, status=429)
        response["Retry-After"] = str(wait)
        return response
    # Only a well-formed code reaches the database: anything else (a NUL byte, which
    # PostgreSQL refuses in text) is as unknown as a code nobody issued.
    normalized = normalize_code(code)
    statement = (
        Statement.objects.filter(
            state=Statement.State.DONE,
            verification_code=normalized,
            expires_at__gt=timezone.now(),
        )
        .select_related("organization")  # the access record names it
        .first()
        if normalized
        else None
    )
    # Every look-up, found or not, with the code as typed: who checks which statements
    # (attempts over the rate limit look nothing up and are not recorded).
    looked_up = {
        "code": format_code(normalized) if normalized else code[:VERIFY_CODE_KEPT],
        "found": statement is not None,
    }
    audit.record(request, audit.Action.STATEMENT_VERIFIED, obj=statement, detail=looked_up)
    if statement is None:
        typed = format_code(normalized) if normalized else ""
        form = StatementCodeForm(initial={"code": typed})
        context = {"form": form, "not_found": True}
        return render(request, "statements/verify.html", context, status=404)
    figures: dict[str, Any] = statement.figures or {}
    # The outcomes the statement printed: one issued before an outcome existed has none.
    outcomes = [
        (label, figures["total"][value])
        for value, label in Delivery.Status.choices
        if value in figures["total"]
    ]
    context = {"statement": statement, "figures": figures, "outcomes": outcomes}
    return render(request, "statements/verify.html", context)


def seconds_to_wait(address: str) -> int:
    """Counts an attempt from `address` in the shared cache (Redis in production); 0 while
    it is within VERIFY_RATE_LIMIT for this ten-minute window, else the seconds until the
    next window (for Retry-After). Windows start on the clock's ten minutes, so the wait is
    known without storing when the first attempt came. While the cache is down the page
    stays open: it only ever shows figures to a valid code."""
    now = int(time.time())
    key = f"verify-attempts:{address}:{now // VERIFY_WINDOW}"
    try:
        cache.add(key, 0, timeout=VERIFY_WINDOW)
        if cache.incr(key) <= settings.VERIFY_RATE_LIMIT:
            return 0
    except Exception:  # the cache server, whatever its client raises
        logger.warning("rate limit not counted: the cache cannot be reached", exc_info=True)
        return 0
    return VERIFY_WINDOW - now % VERIFY_WINDOW
