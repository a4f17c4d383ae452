from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from .filters import DeliveryFilter, SendRequestFilter, period_presets
from .middleware import SESSION_KEY
from .models import SendRequest
from .pagination import paginate

# Counting stops here: the page says "10,000+" instead of paying for an exact COUNT(*).
COUNT_LIMIT = 10_000


def _get_send_for_user(request: HttpRequest, pk: int) -> SendRequest:
    send = get_object_or_404(
        SendRequest.objects.select_related("sender", "organization"),
        pk=pk,
        organization__in=request.organizations,
    )
    # A link to a send of another of the user's organizations switches to it.
    if send.organization != request.organization:
        request.session[SESSION_KEY] = send.organization_id
        request.organization = send.organization
    return send


def _bounded_count(queryset: QuerySet[SendRequest]) -> tuple[int, bool]:
    count = queryset[: COUNT_LIMIT + 1].count()
    return min(count, COUNT_LIMIT), count > COUNT_LIMIT


def _render_page_or_fragment(
    request: HttpRequest, template: str, fragment: str, context: dict[str, object], status: int
) -> HttpResponse:
    """The whole page, or for htmx's swaps only the named partial of it.

    htmx restoring history after a cache miss asks for the whole page again.
    """
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    response = render(
        request, f"{template}#{fragment}" if partial else template, context, status=status
    )
    # The same URL answers a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


def index(request: HttpRequest) -> HttpResponse:
    return redirect("results")


def results(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    if organization is None:
        return render(request, "no_organization.html", status=403)
    filterset = SendRequestFilter(
        request.GET,
        queryset=SendRequest.objects.for_org(organization).select_related("sender"),
        request=request,
    )
    context: dict[str, object] = {
        "filter": filterset,
        "period_presets": period_presets(timezone.localdate()),
        "retention_days": settings.RETENTION_DAYS,
    }
    status = 200
    if filterset.is_valid():
        queryset = filterset.qs
        context["page"] = paginate(
            queryset,
            key=("requested_at", "id"),
            descending=not filterset.oldest_first,
            cursor=filterset.cursor,
        )
        context["count"], context["count_capped"] = _bounded_count(queryset)
    else:
        status = 400
    return _render_page_or_fragment(request, "results/list.html", "results", context, status)


def result_detail(request: HttpRequest, pk: int) -> HttpResponse:
    send = _get_send_for_user(request, pk)
    filterset = DeliveryFilter(request.GET, queryset=send.deliveries.all(), request=request)
    context: dict[str, object] = {"send": send, "filter": filterset}
    status = 200
    if filterset.is_valid():
        context["page"] = paginate(
            filterset.qs, key=("id",), descending=False, cursor=filterset.cursor
        )
    else:
        status = 400
    return _render_page_or_fragment(request, "results/detail.html", "deliveries", context, status)


@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    chosen = request.POST.get("organization", "")
    organization = next((o for o in request.organizations if str(o.pk) == chosen), None)
    if organization is None:
        raise Http404("not a member")
    request.session[SESSION_KEY] = organization.pk
    messages.success(request, _("Now working in %(name)s.") % {"name": organization.name})
    return redirect("results")


# The language switch is offered on the sign-in page too.
switch_language = login_not_required(set_language)
