"""/dashboard/: where signing in lands."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ..accounts.decorators import organization_required
from ..accounts.request import MemberRequest
from ..periods import period_presets
from .figures import collect_figures
from .forms import DashboardForm
from .panels import build_panels, period_text


@organization_required
def dashboard(request: MemberRequest) -> HttpResponse:
    """Figures only, no one's number or name: every role may see it."""
    today = timezone.localdate()
    form = DashboardForm(request.GET, organization=request.organization, today=today)
    context: dict[str, object] = {"form": form, "presets": period_presets(today)}
    if not form.is_valid():
        return render(request, "dashboard/dashboard.html", context, status=400)
    scope = form.scope()
    figures = collect_figures(scope, today=today)
    previous = scope.previous()
    context.update(
        scope=scope,
        figures=figures,
        period=period_text(scope.start, scope.end),
        previous_period=period_text(previous.start, previous.end),
        **build_panels(figures),
    )
    return render(request, "dashboard/dashboard.html", context)
