"""A number's history (/recipients/): the deliveries to it across the organization's
sends, masked unless revealed, with the confirmations issued for it."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import audit, masking
from ..accounts.decorators import organization_required, permission_required
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission, may
from ..confirmations.forms import ConfirmationForm
from ..confirmations.views import confirmations_of
from ..models import Delivery
from ..periods import period_presets
from ..phones import format_phone
from ..results.views import render_page_or_fragment
from . import reveals
from .forms import HistoryForm
from .history import deliveries_to, numbers_matched, page_of


@organization_required
def history(request: MemberRequest) -> HttpResponse:
    today = timezone.localdate()
    form = HistoryForm(request.GET)
    context: dict[str, Any] = {"form": form, "period_presets": period_presets(today)}
    status = 200
    if not form.is_valid():
        status = 400
    elif digits := form.cleaned_data["number"]:
        context.update(_found(request, form, digits))
        audit.record(
            request,
            audit.Action.SENDS_SEARCHED,
            detail={
                "recipients": [audit.masked_phone(digits)],
                "period": [
                    form.cleaned_data["requested_from"].isoformat(),
                    form.cleaned_data["requested_to"].isoformat(),
                ],
                "numbers": "revealed" if context["revealed"] else "masked",
                "page": "recipient_history",
            },
        )
    return render_page_or_fragment(request, "recipients/history.html", "history", context, status)


def _found(request: MemberRequest, form: HistoryForm, digits: str) -> dict[str, Any]:
    """The page of deliveries, their count, the numbers an ending matched (labelled), the
    confirmations of a whole number, and whether numbers are shown."""
    start, end = form.cleaned_data["requested_from"], form.cleaned_data["requested_to"]
    ending = form.is_ending
    deliveries = deliveries_to(request.organization, digits, start, end, ending=ending)
    reveal = _reveal_state(request, digits)
    revealed = bool(reveal["revealed"])
    page = page_of(deliveries, form.cleaned_data["cursor"])
    numbers, more_numbers = numbers_matched(deliveries) if ending else ([], False)
    labels = {number.digits: number.label for number in numbers}
    context: dict[str, Any] = {
        **reveal,
        "digits": digits,
        "ending": ending,
        "page": page,
        "rows": [_row(delivery, labels, revealed=revealed) for delivery in page.rows],
        "numbers": [{"number": n, "shown": _shown(n.digits, revealed=revealed)} for n in numbers],
        "more_numbers": more_numbers,
        "labelled": len(numbers) > 1 or more_numbers,
        "start": start,
        "end": end,
    }
    if not ending:
        today = timezone.localdate()
        confirm_to = min(end, today)
        context["confirmations"] = confirmations_of(request, digits)
        context["confirmation_form"] = ConfirmationForm(
            initial={"number": digits, "period_from": start, "period_to": confirm_to}
        )
        context["confirm_period"] = (start, confirm_to)
    return context


def _shown(digits: str, *, revealed: bool) -> str:
    return format_phone(digits) if revealed else masking.mask_phone(digits)


def _row(delivery: Delivery, labels: dict[str, str], *, revealed: bool) -> dict[str, Any]:
    """A delivery as the page shows it: its number masked unless revealed, and for an
    ending, the label of the number it went to."""
    return {
        "delivery": delivery,
        "send": delivery.send_request,
        "number": _shown(delivery.recipient, revealed=revealed),
        "label": labels.get(delivery.recipient, ""),
    }


def _reveal_state(request: MemberRequest, digits: str) -> dict[str, object]:
    """Whether this search's numbers are shown in full, and how long still: only to a role
    that may, within REVEAL_MINUTES of asking."""
    now = timezone.now()
    key = reveals.search_key(request.organization.pk, digits)
    until = reveals.revealed_until(request.session, key, now)
    if until is None or not may(request.role, Permission.REVEAL):
        return {"revealed": False}
    return {
        "revealed": True,
        "reveal_minutes": masking.minutes_left(until, now),
        "reveal_seconds": math.ceil((until - now).total_seconds()),
    }


@require_POST
@permission_required(Permission.REVEAL)
def history_reveal(request: MemberRequest) -> HttpResponse:
    """번호 보기: this search's numbers in full for REVEAL_MINUTES, to this member."""
    form = HistoryForm(request.GET)
    if form.is_valid() and (digits := form.cleaned_data["number"]):
        key = reveals.search_key(request.organization.pk, digits)
        until = reveals.reveal(request.session, key, timezone.now())
        audit.record(
            request,
            audit.Action.NUMBERS_REVEALED,
            detail={
                "recipients": [audit.masked_phone(digits)],
                "until": until.isoformat(),
                "minutes": settings.REVEAL_MINUTES,
                "page": "recipient_history",
            },
        )
    return _back(request)


@require_POST
@organization_required
def history_conceal(request: MemberRequest) -> HttpResponse:
    """다시 가리기: the search's numbers masked again before their time is up."""
    form = HistoryForm(request.GET)
    if form.is_valid() and (digits := form.cleaned_data["number"]):
        reveals.conceal(request.session, reveals.search_key(request.organization.pk, digits))
    return _back(request)


def _back(request: MemberRequest) -> HttpResponse:
    """The history page with the search and page it was on (the form posts its query)."""
    query = request.GET.urlencode()
    return redirect(reverse("recipient_history") + (f"?{query}" if query else ""))
