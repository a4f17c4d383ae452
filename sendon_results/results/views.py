"""The results list and a send's detail page."""

from __future__ import annotations

import datetime as dt
import math
from functools import partial

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from .. import audit, masking, retention
from ..accounts.decorators import organization_required, permission_required
from ..accounts.request import MemberRequest, OrgRequest
from ..accounts.roles import Permission, may
from ..exports.forms import ExportRequestForm
from ..exports.views import export_notice_for
from ..models import Organization, SendRequest
from ..pagination import paginate
from .filters import DeliveryFilter, SendRequestFilter, period_presets

# Counting stops here: the page says "1,000+" instead of paying for an exact COUNT(*).
COUNT_LIMIT = 1_000


def _get_send_for_user(request: OrgRequest, pk: int) -> SendRequest:
    """A send of one of the user's organizations (404 otherwise); the caller checks it is
    the organization they work in."""
    send = (
        retention.kept(SendRequest.objects.select_related("sender", "organization"))
        .filter(pk=pk, organization__in=request.organizations)
        .first()
    )
    if send is None:
        raise Http404("no such send")
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


@organization_required
def results(request: MemberRequest) -> HttpResponse:
    organization = request.organization
    filterset = SendRequestFilter(
        request.GET,
        queryset=SendRequest.objects.for_org(organization).select_related("sender"),
        organization=organization,
    )
    context: dict[str, object] = {
        "filter": filterset,
        "period_presets": period_presets(timezone.localdate()),
        "retention_days": settings.RETENTION_DAYS,
        "export_form": ExportRequestForm(
            initial={"query": SendRequestFilter.without_position(request.GET)}
        ),
        # Callables, which the template calls only where it renders them: the notice and the
        # banner stand outside the htmx fragment, so filter changes do not query for them.
        "export_notice": partial(export_notice_for, request),
        "expiring": partial(_expiring_soon, organization),
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
        if typed := filterset.form.cleaned_data.get("recipient"):  # people, by their numbers
            masked = [audit.masked_phone(number) for number in typed]
            audit.record(request, audit.Action.SENDS_SEARCHED, detail={"recipients": masked})
    else:
        status = 400
    return _render_page_or_fragment(request, "results/list.html", "results", context, status)


@organization_required
def result_detail(request: MemberRequest, pk: int) -> HttpResponse:
    send = _get_send_for_user(request, pk)
    if send.organization != request.organization:
        # A link to a send of another of the user's organizations: switching is theirs to
        # choose (with a POST), never a side effect of following a link.
        switch = {"organization": send.organization, "next": request.get_full_path()}
        return render(request, "accounts/switch.html", switch)
    filterset = DeliveryFilter(request.GET, queryset=send.deliveries.all())
    context: dict[str, object] = {"send": send, "filter": filterset, **_reveal_state(request, send)}
    status = 200
    if filterset.is_valid():
        context["page"] = paginate(
            filterset.qs, key=("id",), descending=False, cursor=filterset.cursor
        )
    else:
        status = 400
    detail = _viewed(filterset, revealed=bool(context["revealed"]))
    audit.record(request, audit.Action.SEND_VIEWED, obj=send, detail=detail)
    return _render_page_or_fragment(request, "results/detail.html", "deliveries", context, status)


def _viewed(filterset: DeliveryFilter, *, revealed: bool) -> dict[str, object]:
    """What the access record keeps of a look at a send: whether its numbers and names
    were shown masked or revealed, and the numbers searched for in it (masked)."""
    detail: dict[str, object] = {"numbers": "revealed" if revealed else "masked"}
    if filterset.is_valid() and (typed := filterset.form.cleaned_data.get("recipient")):
        detail["recipients"] = [audit.masked_phone(number) for number in typed]
    return detail


def _reveal_state(request: MemberRequest, send: SendRequest) -> dict[str, object]:
    """Whether the page shows the send's numbers and names in full, and how long still:
    only to a role that may, within REVEAL_MINUTES of asking (masking.py)."""
    now = timezone.now()
    until = masking.revealed_until(request.session, send.pk, now)
    if until is None or not may(request.role, Permission.REVEAL):
        return {"revealed": False}
    return {
        "revealed": True,
        "reveal_minutes": masking.minutes_left(until, now),
        "reveal_seconds": math.ceil((until - now).total_seconds()),
    }


@require_POST
@permission_required(Permission.REVEAL)
def result_reveal(request: MemberRequest, pk: int) -> HttpResponse:
    """번호 보기: this send's numbers and names in full for REVEAL_MINUTES, to this member."""
    send = _get_send_for_user(request, pk)
    if send.organization != request.organization:
        raise Http404("a send of another organization than the one worked in")
    until = masking.reveal(request.session, send.pk, timezone.now())
    _record_reveal(request, send, until)
    return _back_to_send(request, send)


@require_POST
@organization_required
def result_conceal(request: MemberRequest, pk: int) -> HttpResponse:
    """다시 가리기: the send's numbers masked again before their time is up."""
    send = _get_send_for_user(request, pk)
    masking.conceal(request.session, send.pk)
    return _back_to_send(request, send)


def _record_reveal(request: MemberRequest, send: SendRequest, until: dt.datetime) -> None:
    """The access record's entry for a reveal: who, which send, until when."""
    audit.record(
        request,
        audit.Action.NUMBERS_REVEALED,
        obj=send,
        detail={"until": until.isoformat(), "minutes": settings.REVEAL_MINUTES},
    )


def _back_to_send(request: MemberRequest, send: SendRequest) -> HttpResponse:
    """The send's page with the filters and page it was on (the form posts its query)."""
    query = request.GET.urlencode()
    return redirect(reverse("result_detail", args=[send.pk]) + (f"?{query}" if query else ""))


def _expiring_soon(organization: Organization) -> dict[str, object] | None:
    """How many sends the purge deletes within WARNING_DAYS, to offer their export."""
    until = retention.soon_deleted_until(timezone.localdate())
    query = SendRequestFilter.query(requested_to=until)
    soon = SendRequestFilter(QueryDict(query), organization=organization)
    if not soon.is_valid():  # the whole window ends within WARNING_DAYS
        return None
    count, capped = _bounded_count(soon.qs)
    if not count:
        return None
    return {
        "count": count,
        "capped": capped,
        "query": query,
        "days": retention.WARNING_DAYS,
    }
