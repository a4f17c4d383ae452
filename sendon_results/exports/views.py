"""The exports page: asking for a file of the list, following its progress, downloading it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import audit, jobs, tasks
from ..accounts.decorators import forbidden, permission_required
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission, may
from ..downloads import job_file
from ..models import Export, Statement
from ..results.filters import SendRequestFilter
from .forms import ExportRequestForm
from .requests import request_export

NOTICE_KEY = "export_notice"
EXPORTS_SHOWN = 50
CONTENT_TYPES: dict[str, str] = {
    Export.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Export.Format.CSV: "text/csv; charset=utf-8",
}


def export_notice_for(request: MemberRequest) -> Export | None:
    """The export this member started from the list, to say when it is ready (once)."""
    pk = request.session.get(NOTICE_KEY)
    if pk is None:
        return None
    export = Export.objects.for_member(request.user, request.organization).filter(pk=pk).first()
    if export is None or not export.is_active:
        request.session.pop(NOTICE_KEY, None)
    return export


def _get_export_for_user(request: MemberRequest, pk: int) -> Export:
    return get_object_or_404(Export.objects.for_member(request.user, request.organization), pk=pk)


@permission_required(Permission.EXPORT)
def export_list(request: MemberRequest) -> HttpResponse:
    jobs_shown = list(
        Export.objects.for_member(request.user, request.organization).order_by(
            "-created_at", "-id"
        )[:EXPORTS_SHOWN]
    )
    for export in jobs_shown:
        if export.filters and not export.description:  # asked for before descriptions were kept
            saved = SendRequestFilter.from_saved(export.filters, organization=request.organization)
            export.description = saved.active_filters()
    context = {
        "exports": jobs_shown,
        "now": timezone.now(),
        "expiry_days": settings.EXPORT_EXPIRY_DAYS,
    }
    return render(request, "exports/list.html", context)


@permission_required(Permission.EXPORT)
def export_row(request: MemberRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    return render(request, "exports/list.html#row", {"export": export, "now": timezone.now()})


@permission_required(Permission.EXPORT)
def export_notice(request: MemberRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    if not export.is_active:
        request.session.pop(NOTICE_KEY, None)  # said once; the exports page keeps it
    return render(request, "results/list.html#export_notice", {"export_notice": export})


@require_POST
@permission_required(Permission.EXPORT)
def export_create(request: MemberRequest) -> HttpResponse:
    """Starts an export of the list's filter (`query`). Back to the list the member was on
    (ExportRequestForm.list_to_return_to); asked through htmx (the expiring banner), no
    page is left at all: the answer is the export's notice, in place of the form."""
    form = ExportRequestForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("The export could not be started: %(errors)s") % {"errors": form.errors.as_text()},
        )
        return _back_to_list(request, form)
    if form.cleaned_data["unmasked"] and not may(request.role, Permission.REVEAL):
        return forbidden(request, Permission.REVEAL)
    query = form.cleaned_data["query"]
    check = SendRequestFilter(query, organization=request.organization)
    if not check.is_valid():
        messages.error(request, _("Correct the filters first: the export uses them as they are."))
        return _back_to_list(request, form)
    try:
        export, created = request_export(
            user=request.user,
            organization=request.organization,
            kind=form.cleaned_data["kind"],
            file_format=form.cleaned_data["file_format"],
            split=form.cleaned_data["split"],
            filters=SendRequestFilter.saved(query),
            description=[
                {"label": item["label"], "value": item["value"]} for item in check.active_filters()
            ],
            unmasked=form.cleaned_data["unmasked"],
            reason=form.cleaned_data["reason"],
        )
    except jobs.QueueFull as full:
        messages.error(request, str(full))
        return _back_to_list(request, form)
    if created:
        tasks.queue_export_on_commit(export.pk)
        audit.record(request, audit.Action.EXPORT_REQUESTED, obj=export, detail=_recorded(export))
    request.session[NOTICE_KEY] = export.pk
    if request.headers.get("HX-Request"):
        return render(request, "results/list.html#export_notice", {"export_notice": export})
    return _back_to_list(request, form)


def _back_to_list(request: MemberRequest, form: ExportRequestForm) -> HttpResponse:
    """To the results list the form was posted from. Through htmx, the page's address is
    the list's as it is now (its filters changed in place since the form was drawn), and
    its message is shown by loading that list."""
    back = form.list_to_return_to()
    url = f"{reverse('results')}?{back.urlencode()}" if back else reverse("results")
    if request.headers.get("HX-Request"):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.path == reverse("results"):
            url = f"{current.path}?{current.query}" if current.query else current.path
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
@permission_required(Permission.EXPORT)
def export_retry(request: MemberRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    if export.unmasked and not may(request.role, Permission.REVEAL):
        return forbidden(request, Permission.REVEAL)
    try:
        if export.state == Export.State.FAILED and jobs.reset_for_retry(export):
            tasks.queue_export_on_commit(export.pk)
            messages.info(request, _("Trying the export again."))
    except jobs.QueueFull as full:
        messages.error(request, str(full))
    return redirect("export_list")


@permission_required(Permission.EXPORT)
def export_download(request: MemberRequest, pk: int) -> HttpResponseBase:
    export = Export.objects.for_member(request.user, request.organization).filter(pk=pk).first()
    if export is None:
        # Statements were exports until migration 0013 moved them, ids and all: a link
        # to one saved before then still leads to its file.
        statements = Statement.objects.for_member(request.user, request.organization)
        if statements.filter(pk=pk).exists():
            return redirect("statement_download", pk=pk)
        raise Http404
    if export.unmasked and not may(request.role, Permission.REVEAL):
        return forbidden(request, Permission.REVEAL)  # a role changed since it was asked for
    response = job_file(
        request,
        export,
        content_type=CONTENT_TYPES[export.file_format],
        expired_page="exports/expired.html",
        back_to="export_list",
    )
    if isinstance(response, FileResponse):  # the file itself, not a page about it
        detail = {**_recorded(export), "rows": export.row_count}
        audit.record(request, audit.Action.EXPORT_DOWNLOADED, obj=export, detail=detail)
    return response


def _recorded(export: Export) -> dict[str, object]:
    """What the access record keeps of an export: its filter (numbers and text typed into
    it masked), layout and format, full or masked numbers and the reason given."""
    detail: dict[str, object] = {
        "filters": audit.masked_filters(export.filters),
        "kind": export.kind,
        "format": export.file_format,
        "numbers": "revealed" if export.unmasked else "masked",
    }
    if export.reason:
        detail["reason"] = export.reason
    return detail
