"""Issuing statements, and the public page that verifies one by its code."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from .. import jobs, tasks
from ..accounts.decorators import organization_required
from ..models import Delivery, Export
from .codes import format_code, normalize_code
from .forms import StatementCodeForm, StatementForm, last_month

STATEMENTS_SHOWN = 50

logger = logging.getLogger(__name__)


@organization_required
def statement_list(request: HttpRequest) -> HttpResponse:
    start, end = last_month(timezone.localdate())
    form = StatementForm(
        request.POST or None,
        organization=request.organization,
        initial={"period_from": start, "period_to": end},
    )
    if request.method == "POST" and form.is_valid():
        export, created = jobs.request_export(
            user=request.user,
            organization=request.organization,
            kind=Export.Kind.STATEMENT,
            file_format=Export.Format.PDF,
            filters=form.filters(),
        )
        if created:
            tasks.queue_export_on_commit(export.pk)
        return redirect("statement_list")
    issued = (
        Export.objects.for_member(request.user, request.organization)
        .filter(kind=Export.Kind.STATEMENT)
        .order_by("-created_at", "-id")[:STATEMENTS_SHOWN]
    )
    status = 400 if form.errors else 200
    return render(
        request,
        "statements/list.html",
        {"form": form, "statements": issued, "now": timezone.now()},
        status=status,
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
        Export.objects.filter(
            kind=Export.Kind.STATEMENT,
            state=Export.State.DONE,
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
    figures = statement.figures
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
