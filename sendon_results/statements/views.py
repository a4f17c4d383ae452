"""Issuing statements, following and downloading them, and the public page that verifies
one by its code."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import jobs, tasks
from ..accounts.decorators import forbidden, permission_required
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission, may
from ..downloads import job_file
from ..models import Delivery, Statement
from .codes import format_code, normalize_code
from .forms import StatementCodeForm, StatementForm, last_month
from .requests import request_statement

STATEMENTS_SHOWN = 50

logger = logging.getLogger(__name__)


def _get_statement_for_user(request: MemberRequest, pk: int) -> Statement:
    statements = Statement.objects.for_member(request.user, request.organization)
    return get_object_or_404(statements.select_related("sender"), pk=pk)


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
        statement, created = request_statement(
            user=request.user,
            organization=request.organization,
            period_from=scope["period_from"],
            period_to=scope["period_to"],
            sender=scope["sender"],
            channel=scope["channel"],
            appendix=scope["appendix"],
        )
        if created:
            tasks.queue_statement_on_commit(statement.pk)
        return redirect("statement_list")
    issued = list(
        Statement.objects.for_member(request.user, request.organization)
        .select_related("sender")
        .order_by("-created_at", "-id")[:STATEMENTS_SHOWN]
    )
    context = {"form": form, "statements": issued}
    return render(request, "statements/list.html", context, status=400 if form.errors else 200)


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def statement_row(request: MemberRequest, pk: int) -> HttpResponse:
    """One row of the list, for htmx to poll while the statement is being made."""
    statement = _get_statement_for_user(request, pk)
    return render(request, "statements/list.html#row", {"statement": statement})


@require_POST
@permission_required(Permission.ISSUE_STATEMENTS)
def statement_retry(request: MemberRequest, pk: int) -> HttpResponse:
    statement = _get_statement_for_user(request, pk)
    if statement.state == Statement.State.FAILED and jobs.reset_for_retry(statement):
        tasks.queue_statement_on_commit(statement.pk)
        messages.info(request, _("Trying the statement again."))
    return redirect("statement_list")


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def statement_download(request: MemberRequest, pk: int) -> HttpResponseBase:
    statement = _get_statement_for_user(request, pk)
    return job_file(
        request,
        statement,
        content_type="application/pdf",
        expired_page="statements/expired.html",
        back_to="statement_list",
    )


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
    if _too_many_attempts(f"verify-attempts:{_client_address(request)}"):
        return render(request, "statements/verify.html", {"limited": True}, status=429)
    # Only a well-formed code reaches the database: anything else (a NUL byte, which
    # PostgreSQL refuses in text) is as unknown as a code nobody issued.
    normalized = normalize_code(code)
    statement = (
        Statement.objects.filter(
            state=Statement.State.DONE,
            verification_code=normalized,
            expires_at__gt=timezone.now(),
        ).first()
        if normalized
        else None
    )
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


def _client_address(request: HttpRequest) -> str:
    """The visitor's address: behind the proxy, the one it appended to X-Forwarded-For
    (earlier entries come from the visitor and could be anything)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _too_many_attempts(key: str) -> bool:
    """Counts an attempt in the shared cache (Redis in production) over ten minutes. While
    the cache is down the page stays open: it only ever shows figures to a valid code."""
    try:
        cache.add(key, 0, timeout=600)
        return cache.incr(key) > settings.VERIFY_RATE_LIMIT
    except Exception:  # the cache server, whatever its client raises
        logger.warning("rate limit not counted: the cache cannot be reached", exc_info=True)
        return False
