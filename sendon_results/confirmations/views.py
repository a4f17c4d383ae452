"""Issuing delivery confirmations from a number's history, following and downloading
them, and the public page that verifies one by its code."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
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
from ..models import Confirmation, Delivery
from ..statements.codes import format_code, normalize_code
from ..statements.views import VERIFY_CODE_KEPT, seconds_to_wait
from .forms import ConfirmationCodeForm, ConfirmationForm
from .requests import request_confirmation

CONFIRMATIONS_SHOWN = 10  # on a number's history page, newest first


def _get_confirmation_for_user(request: MemberRequest, pk: int) -> Confirmation:
    """A confirmation of the organization the member works in (404 for another's)."""
    confirmations = Confirmation.objects.for_organization(request.organization)
    return get_object_or_404(confirmations.select_related("created_by"), pk=pk)


def confirmations_of(request: MemberRequest, digits: str) -> list[dict[str, Any]]:
    """The rows of a number's confirmations for its history page."""
    issued = (
        Confirmation.objects.for_organization(request.organization)
        .filter(recipient=digits)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:CONFIRMATIONS_SHOWN]
    )
    return [_row(request, confirmation) for confirmation in issued]


def _row(request: MemberRequest, confirmation: Confirmation) -> dict[str, Any]:
    """A confirmation and what the member may do with it: one printing the number in full
    is downloaded only by a member who may see numbers."""
    return {
        "confirmation": confirmation,
        "issued_by": person_name(confirmation.created_by),
        "may_download": may(request.role, Permission.DOWNLOAD_STATEMENTS)
        and (not confirmation.unmasked or may(request.role, Permission.REVEAL)),
        "may_retry": may(request.role, Permission.ISSUE_STATEMENTS),
    }


def history_url(digits: str, start: object, end: object) -> str:
    """The history page of this number and period, at its confirmations."""
    query = urlencode({"number": digits, "requested_from": start, "requested_to": end})
    return f"{reverse('recipient_history')}?{query}#confirmations"


@require_POST
@permission_required(Permission.ISSUE_STATEMENTS)
def confirmation_create(request: MemberRequest) -> HttpResponseBase:
    form = ConfirmationForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("recipient_history")
    scope = form.cleaned_data
    unmasked = bool(scope["full_number"])
    if unmasked and not may(request.role, Permission.REVEAL):
        return forbidden(request, Permission.REVEAL)
    back = history_url(scope["number"], scope["period_from"], scope["period_to"])
    try:
        confirmation, created = request_confirmation(
            user=request.user,
            organization=request.organization,
            recipient=scope["number"],
            period_from=scope["period_from"],
            period_to=scope["period_to"],
            unmasked=unmasked,
        )
    except jobs.QueueFull as full:
        messages.error(request, str(full))
        return redirect(back)
    if created:
        tasks.queue_confirmation_on_commit(confirmation.pk)
        detail = _recorded(confirmation)
        audit.record(request, audit.Action.STATEMENT_ISSUED, obj=confirmation, detail=detail)
    return redirect(back)


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def confirmation_row(request: MemberRequest, pk: int) -> HttpResponse:
    """One row of a number's confirmations, for htmx to poll while it is being made."""
    confirmation = _get_confirmation_for_user(request, pk)
    return render(request, "confirmations/panel.html#row", {"row": _row(request, confirmation)})


@require_POST
@permission_required(Permission.ISSUE_STATEMENTS)
def confirmation_retry(request: MemberRequest, pk: int) -> HttpResponse:
    confirmation = _get_confirmation_for_user(request, pk)
    try:
        if confirmation.state == Confirmation.State.FAILED and jobs.reset_for_retry(confirmation):
            tasks.queue_confirmation_on_commit(confirmation.pk)
            messages.info(request, _("Trying the confirmation again."))
    except jobs.QueueFull as full:
        messages.error(request, str(full))
    return redirect(
        history_url(confirmation.recipient, confirmation.period_from, confirmation.period_to)
    )


@permission_required(Permission.DOWNLOAD_STATEMENTS)
def confirmation_download(request: MemberRequest, pk: int) -> HttpResponseBase:
    confirmation = _get_confirmation_for_user(request, pk)
    if confirmation.unmasked and not may(request.role, Permission.REVEAL):
        return forbidden(request, Permission.REVEAL)
    response = job_file(
        request,
        confirmation,
        content_type="application/pdf",
        expired_page="confirmations/expired.html",
        back_to="recipient_history",
    )
    if isinstance(response, FileResponse):  # the file itself, not a page about it
        detail = _recorded(confirmation)
        audit.record(request, audit.Action.STATEMENT_DOWNLOADED, obj=confirmation, detail=detail)
    return response


def _recorded(confirmation: Confirmation) -> dict[str, object]:
    """What the access record keeps of a confirmation: its number, the recipient masked,
    the period, and whether it prints the number in full."""
    return {
        "number": confirmation.number,
        "recipients": [audit.masked_phone(confirmation.recipient)],
        "period": [confirmation.period_from.isoformat(), confirmation.period_to.isoformat()],
        "numbers": "revealed" if confirmation.unmasked else "masked",
    }


@login_not_required
def confirmation_verify_form(request: HttpRequest) -> HttpResponse:
    """Public: type the code printed on a confirmation; a well-formed code opens its page."""
    form = ConfirmationCodeForm(request.GET or None)
    if form.is_valid():
        return redirect("confirmation_verify", code=format_code(form.cleaned_data["code"]))
    status = 400 if form.errors else 200
    return render(request, "confirmations/verify.html", {"form": form}, status=status)


@login_not_required
def confirmation_verify(request: HttpRequest, code: str) -> HttpResponse:
    """Public: the number, period, counts, issuer and issue time of the confirmation with
    this code, the recipient masked, and nothing else (no message, no time of a message).
    Rate-limited with the statements' page, per address."""
    if wait := seconds_to_wait(client_address(request)):
        limited = {"limited": True, "minutes": -(-wait // 60)}
        response = render(request, "confirmations/verify.html", limited, status=429)
        response["Retry-After"] = str(wait)
        return response
    normalized = normalize_code(code)
    confirmation = (
        Confirmation.objects.filter(
            state=Confirmation.State.DONE,
            verification_code=normalized,
            expires_at__gt=timezone.now(),
        )
        .select_related("organization")  # the access record names it
        .first()
        if normalized
        else None
    )
    looked_up = {
        "code": format_code(normalized) if normalized else code[:VERIFY_CODE_KEPT],
        "found": confirmation is not None,
    }
    audit.record(request, audit.Action.STATEMENT_VERIFIED, obj=confirmation, detail=looked_up)
    if confirmation is None:
        typed = format_code(normalized) if normalized else ""
        form = ConfirmationCodeForm(initial={"code": typed})
        return render(
            request, "confirmations/verify.html", {"form": form, "not_found": True}, status=404
        )
    figures: dict[str, Any] = confirmation.figures or {}
    outcomes = [
        (label, figures["total"][value])
        for value, label in Delivery.Status.choices
        if value in figures.get("total", {})
    ]
    context = {"confirmation": confirmation, "figures": figures, "outcomes": outcomes}
    return render(request, "confirmations/verify.html", context)
