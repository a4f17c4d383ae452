"""번호 일괄 조회: the last outcome of each number of an uploaded list, on the page and as
an .xlsx. Every member may look up (numbers masked unless their role may reveal and they
ticked 전체 번호 보기); the workbook is for the roles that may export."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from .. import audit
from ..accounts.decorators import organization_required, permission_required
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission, may
from ..retention import oldest_kept_day
from .forms import (
    DOWNLOAD_MINUTES,
    DownloadForm,
    LookupForm,
    download_token,
    period_instants,
)
from .outcomes import last_outcomes
from .report import build_rows, summary
from .sheets import MAX_BYTES, MAX_NUMBERS, NumberList
from .table import table_rows
from .uploads import InMemoryUpload
from .workbook import write_workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@csrf_exempt  # checked by csrf_protect below, once the upload handler is in place
def recipient_lookup(request: HttpRequest) -> HttpResponseBase:
    # Set before anything reads the body: the list is kept in memory, never on disk.
    request.upload_handlers = [InMemoryUpload(request, max_bytes=MAX_BYTES)]
    return _recipient_lookup(request)


@csrf_protect
@organization_required
def _recipient_lookup(request: MemberRequest) -> HttpResponse:
    today = timezone.localdate()
    may_reveal = may(request.role, Permission.REVEAL)
    context: dict[str, object] = {
        "max_numbers": MAX_NUMBERS,
        "max_mb": MAX_BYTES // 2**20,
        "oldest_day": oldest_kept_day(today),
        "today": today,
        "rows": None,
    }
    if request.method != "POST":
        form = LookupForm(today=today, may_reveal=may_reveal)
        return render(request, "lookups/lookup.html", {**context, "form": form})
    handler = request.upload_handlers[0]
    form = LookupForm(
        request.POST,
        request.FILES,
        today=today,
        may_reveal=may_reveal,
        too_large=isinstance(handler, InMemoryUpload) and handler.too_large,
    )
    if not form.is_valid():
        return render(request, "lookups/lookup.html", {**context, "form": form}, status=400)
    started = time.monotonic()
    numbers: NumberList = form.cleaned_data["file"]
    revealed = may_reveal and bool(form.cleaned_data.get("reveal"))
    first_day, last_day = form.cleaned_data["first_day"], form.cleaned_data["last_day"]
    start, end = form.bounds
    digits = [number for _row, number in numbers.numbers]
    found = last_outcomes(request.organization, digits, start, end)
    rows = build_rows(numbers.numbers, found, revealed=revealed)
    audit.record(
        request,
        audit.Action.SENDS_SEARCHED,
        detail={
            "rows": len(rows),
            "found": len(found),
            "period": _period_text(first_day, last_day),
            "numbers": "revealed" if revealed else "masked",
        },
    )
    context.update(
        form=form,
        numbers=numbers,
        rows=rows,
        table_rows=table_rows(rows),
        summary=summary(rows),
        found=len(found),
        first_day=first_day,
        last_day=last_day,
        revealed=revealed,
        seconds=time.monotonic() - started,
    )
    if may(request.role, Permission.EXPORT):
        token = download_token(
            numbers=numbers.numbers,
            first_day=first_day,
            last_day=last_day,
            user_id=request.user.pk,
            organization_id=request.organization.pk,
        )
        context["download_form"] = _download_form(request, initial={"lookup": token})
        context["download_minutes"] = DOWNLOAD_MINUTES
    return render(request, "lookups/lookup.html", context)


def _download_form(request: MemberRequest, **kwargs: object) -> DownloadForm:
    return DownloadForm(
        **kwargs,
        user_id=request.user.pk,
        organization_id=request.organization.pk,
    )


@require_POST
@permission_required(Permission.EXPORT)
def recipient_lookup_download(request: MemberRequest) -> HttpResponse:
    """The workbook of the lookup the page shows, made now and handed over in this
    response; masked unless the member asked for full numbers with a reason."""
    form = _download_form(request, data=request.POST)
    if not form.is_valid():
        return render(request, "lookups/download_refused.html", {"form": form}, status=400)
    lookup = form.cleaned_data["lookup"]
    unmasked = bool(form.cleaned_data["unmasked"]) and may(request.role, Permission.REVEAL)
    first_day = dt.date.fromisoformat(lookup["first_day"])
    last_day = dt.date.fromisoformat(lookup["last_day"])
    numbers = [(int(row), str(digits)) for row, digits in lookup["numbers"]]
    start, end = period_instants(first_day, last_day)
    found = last_outcomes(request.organization, [digits for _row, digits in numbers], start, end)
    rows = build_rows(numbers, found, revealed=unmasked)
    sends = request.build_absolute_uri(reverse("results"))  # …/results/, a send at …/results/<id>/
    content = write_workbook(rows, send_url=lambda pk: f"{sends}{pk}/")
    detail: dict[str, object] = {
        "format": "xlsx",
        "rows": len(rows),
        "period": _period_text(first_day, last_day),
        "numbers": "revealed" if unmasked else "masked",
    }
    if unmasked:
        detail["reason"] = form.cleaned_data["reason"]
    audit.record(request, audit.Action.EXPORT_DOWNLOADED, detail=detail)
    response = HttpResponse(content, content_type=XLSX)
    # Named by the period looked up, as the page shows it, not by the day of the download.
    name = quote(f"{_('number-lookup')}_{first_day.isoformat()}_{last_day.isoformat()}.xlsx")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response


def _period_text(first_day: dt.date, last_day: dt.date) -> str:
    return f"{first_day.isoformat()} ~ {last_day.isoformat()}"
