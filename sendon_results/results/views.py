"""The results list and a send's detail page."""

from __future__ import annotations

import datetime as dt
import math
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from .. import audit, masking, retention
from ..accounts.decorators import forbidden, organization_required, permission_required
from ..accounts.request import MemberRequest, OrgRequest
from ..accounts.roles import Permission, may
from ..exports import failed
from ..exports.forms import ExportRequestForm
from ..exports.views import CONTENT_TYPES, export_notice_for
from ..handoff import actions, resends
from ..models import Delivery, Export, Organization, OutboxMessage, SendRequest, SendTally
from ..pagination import paginate
from ..periods import period_presets
from .filters import DeliveryFilter, SendRequestFilter
from .progress import next_poll, with_success_rate
from .rows import send_row
from .summary import from_sends_in_time, summarize

# Counting stops here: the page says "1,000+" instead of paying for an exact COUNT(*).
COUNT_LIMIT = 1_000


def _get_send_for_user(request: OrgRequest, pk: int) -> SendRequest:
    """A send of one of the user's organizations (404 otherwise); the caller checks it is
    the organization they work in."""
    send = (
        retention.kept(
            with_success_rate(SendRequest.objects.select_related("sender", "organization"))
        )
        .filter(pk=pk, organization__in=request.organizations)
        .first()
    )
    if send is None:
        raise Http404("no such send")
    return send


def _get_send_worked_on(request: MemberRequest, pk: int) -> SendRequest:
    """A send of the organization the member works in (404 otherwise): for what a page
    asks by itself or posts, which never offers to switch organizations."""
    send = _get_send_for_user(request, pk)
    if send.organization != request.organization:
        raise Http404("a send of another organization than the one worked in")
    return send


def bounded_count(queryset: QuerySet[SendRequest]) -> tuple[int, bool]:
    count = queryset[: COUNT_LIMIT + 1].count()
    return min(count, COUNT_LIMIT), count > COUNT_LIMIT


def render_page_or_fragment(
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
    return redirect("dashboard")


@organization_required
def results(request: MemberRequest) -> HttpResponse:
    organization = request.organization
    filterset = SendRequestFilter(
        request.GET,
        queryset=with_success_rate(
            SendRequest.objects.for_org(organization).select_related("sender")
        ),
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
        count, capped = bounded_count(queryset)
        context["page"] = paginate(
            # Many matches found by their deliveries: a month at a time (filters.py).
            filterset.by_month() if capped else queryset,
            key=("requested_at", "id"),
            descending=not filterset.oldest_first,
            cursor=filterset.cursor,
        )
        context["count"], context["count_capped"] = count, capped
        context["summary"] = summarize(filterset, matched=None if capped else count)
        if typed := filterset.form.cleaned_data.get("recipient"):  # people, by their numbers
            masked = [audit.masked_phone(number) for number in typed]
            audit.record(request, audit.Action.SENDS_SEARCHED, detail={"recipients": masked})
    else:
        status = 400
    return render_page_or_fragment(request, "results/list.html", "results", context, status)


@require_GET
@organization_required
def results_summary(request: MemberRequest) -> HttpResponse:
    """The list's summary when its filter needs the matching sends summed one by one (see
    results/summary.py): asked for by the list page once it is shown."""
    filterset = SendRequestFilter(request.GET, organization=request.organization)
    context: dict[str, object] = {"filter": filterset}
    status = 200
    if filterset.is_valid():
        context["summary"] = from_sends_in_time(filterset)
        context["summary_too_long"] = context["summary"] is None
    else:
        status = 400
    return render_page_or_fragment(request, "results/summary.html", "summary", context, status)


@organization_required
def result_detail(request: MemberRequest, pk: int) -> HttpResponse:
    send = _get_send_for_user(request, pk)
    if send.organization != request.organization:
        # A link to a send of another of the user's organizations: switching is theirs to
        # choose (with a POST), never a side effect of following a link.
        switch = {"organization": send.organization, "next": request.get_full_path()}
        return render(request, "accounts/switch.html", switch)
    filterset = DeliveryFilter(request.GET, queryset=Delivery.objects.of_send(send))
    context: dict[str, object] = {
        "send": send,
        "filter": filterset,
        "poll": next_poll(send),
        "failed_form": failed.FailedExportForm(
            initial={"code": _one_code(filterset)}, auto_id="failed_%s"
        ),
        "platform_requests": OutboxMessage.objects.filter(
            organization=send.organization, send_id=send.pk
        ).order_by("-created_at")[:10],
        "resends": resends.linked(send),
        "resendable": actions.RESENDABLE,
        **_reveal_state(request, send),
    }
    status = 200
    if filterset.is_valid():
        context["page"] = paginate(
            filterset.qs, key=("id",), descending=False, cursor=filterset.cursor
        )
    else:
        status = 400
    detail = _viewed(filterset, revealed=bool(context["revealed"]))
    audit.record(request, audit.Action.SEND_VIEWED, obj=send, detail=detail)
    return render_page_or_fragment(request, "results/detail.html", "deliveries", context, status)


@require_GET
@organization_required
def result_row(request: MemberRequest, pk: int) -> HttpResponse:
    """A send's row of the list, alone: what a row of a send still moving asks for by
    itself, until the send reaches a final state (progress.py)."""
    send = _get_send_worked_on(request, pk)
    return HttpResponse(send_row(send, poll=next_poll(send, request.GET)))


@require_GET
@organization_required
def result_progress(request: MemberRequest, pk: int) -> HttpResponse:
    """A send's status and counts, alone, for its page to swap in while the send moves:
    no recipient in it, so nothing masked and nothing for the access record."""
    send = _get_send_worked_on(request, pk)
    context = {"send": send, "poll": next_poll(send, request.GET), "refreshed": True}
    return render(request, "results/progress.html", context)


@require_POST
@permission_required(Permission.EXPORT)
def result_failed_export(request: MemberRequest, pk: int) -> HttpResponseBase:
    """실패 번호 내보내기: the send's failed recipients as a file to resend, at once
    (exports/failed.py); full numbers only to a role that may see them, with a reason.
    Every download goes into the access record."""
    send = _get_send_worked_on(request, pk)
    form = failed.FailedExportForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("The file could not be made: %(errors)s") % {"errors": form.errors.as_text()},
        )
        return _back_to_send(request, send)
    unmasked: bool = form.cleaned_data["unmasked"]
    if unmasked and not may(request.role, Permission.REVEAL):
        return forbidden(request, Permission.REVEAL)
    file_format: str = form.cleaned_data["file_format"]
    code: str = form.cleaned_data["code"]
    file, rows = failed.write_failed(send, file_format=file_format, unmasked=unmasked, code=code)
    detail: dict[str, object] = {
        "kind": Export.Kind.DELIVERIES,
        "filters": {"outcome": [Delivery.Status.FAILURE], **({"code": [code]} if code else {})},
        "format": file_format,
        "numbers": "revealed" if unmasked else "masked",
        "rows": rows,
    }
    if unmasked:
        detail["reason"] = form.cleaned_data["reason"]
    audit.record(request, audit.Action.EXPORT_DOWNLOADED, obj=send, detail=detail)
    return FileResponse(
        file,
        as_attachment=True,
        filename=failed.file_name(send, file_format),
        content_type=CONTENT_TYPES[file_format],
    )


def _one_code(filterset: DeliveryFilter) -> str:
    """The result code the page is narrowed to, when it is exactly one: the failed
    recipients' file then lists that code's."""
    if not filterset.is_valid():
        return ""
    codes = filterset.active_codes()
    return codes[0] if len(codes) == 1 else ""


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
    send = _get_send_worked_on(request, pk)
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
    """How many sends the purge deletes within WARNING_DAYS, to offer their export: summed
    from the daily tallies of the days still kept up to the last of those (counting the
    sends themselves was 2 ms of every list page)."""
    today = timezone.localdate()
    first, until = retention.oldest_kept_day(today), retention.soon_deleted_until(today)
    if until < first:  # the whole window ends within WARNING_DAYS
        return None
    days = SendTally.objects.filter(organization=organization, day__range=(first, until))
    count = days.aggregate(sends=Sum("sends"))["sends"] or 0
    if not count:
        return None
    return {
        "count": count,
        "query": SendRequestFilter.query(requested_to=until),
        "days": retention.WARNING_DAYS,
    }
