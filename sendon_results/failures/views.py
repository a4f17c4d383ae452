"""The failure analysis page: why a period's deliveries failed, and what to do about it."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ..accounts.decorators import organization_required
from ..accounts.request import MemberRequest
from ..periods import period_presets
from .analysis import CARRIER_COLUMNS, Scope, analyse_failures
from .forms import FailureFilterForm


@organization_required
def failures(request: MemberRequest) -> HttpResponse:
    # Counts only, no numbers or names: every role may see it, and nothing is recorded.
    today = timezone.localdate()
    form = FailureFilterForm(request.GET, organization=request.organization, today=today)
    context: dict[str, object] = {
        "form": form,
        "period_presets": period_presets(today),
        "carrier_columns": CARRIER_COLUMNS,
    }
    if not form.is_valid():
        return render(request, "failures/page.html", context, status=400)
    cleaned = form.cleaned_data
    scope = Scope(
        organization=request.organization,
        start=cleaned["requested_from"],
        end=cleaned["requested_to"],
        sender=cleaned.get("sender"),
        channel=cleaned.get("channel") or "",
    )
    context["analysis"] = analyse_failures(scope)
    return render(request, "failures/page.html", context)
