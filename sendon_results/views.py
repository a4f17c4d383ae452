from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from . import api, exports, retention, statements, tasks
from .celery import app as celery_app
from .filters import DeliveryFilter, SendRequestFilter, period_presets
from .forms import ApiKeyForm, ExportRequestForm, StatementCodeForm, StatementForm, last_month
from .middleware import SESSION_KEY
from .models import ApiKey, Delivery, Export, Organization, SendRequest
from .pagination import paginate

EXPORT_NOTICE_KEY = "export_notice"
EXPORTS_SHOWN = 50
CONTENT_TYPES = {
    Export.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Export.Format.CSV: "text/csv; charset=utf-8",
    Export.Format.PDF: "application/pdf",
}
# Counting stops here: the page says "1,000+" instead of paying for an exact COUNT(*).
COUNT_LIMIT = 1_000

logger = logging.getLogger(__name__)


def _get_send_for_user(request: HttpRequest, pk: int) -> SendRequest:
    send = get_object_or_404(
        retention.kept(SendRequest.objects.select_related("sender", "organization")),
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
        "export_form": ExportRequestForm(initial={"query": _query_without_cursor(request)}),
        # Callables, which the template calls only where it renders them: the notice and the
        # banner stand outside the htmx fragment, so filter changes do not query for them.
        "export_notice": partial(_export_notice, request),
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


def _expiring_soon(organization: Organization) -> dict[str, object] | None:
    """How many sends the purge deletes within WARNING_DAYS, to offer their export."""
    until = retention.soon_deleted_until(timezone.localdate())
    soon = retention.kept(SendRequest.objects.for_org(organization)).requested_between(
        None, retention.korea_day_start(until + dt.timedelta(days=1))
    )
    count, capped = _bounded_count(soon)
    if not count:
        return None
    return {
        "count": count,
        "capped": capped,
        "query": f"requested_to={until.isoformat()}",
        "days": retention.WARNING_DAYS,
    }


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


def _export_notice(request: HttpRequest) -> Export | None:
    """The export this member started from the list, to say when it is ready (once)."""
    pk = request.session.get(EXPORT_NOTICE_KEY)
    if pk is None:
        return None
    export = Export.objects.for_member(request.user, request.organization).filter(pk=pk).first()
    if export is None or not export.is_active:
        request.session.pop(EXPORT_NOTICE_KEY, None)
    return export


def _get_export_for_user(request: HttpRequest, pk: int) -> Export:
    return get_object_or_404(Export.objects.for_member(request.user, request.organization), pk=pk)


def export_list(request: HttpRequest) -> HttpResponse:
    Export.objects.filter(organization=request.organization).fail_stuck()
    jobs = (
        Export.objects.for_member(request.user, request.organization)
        .exclude(kind=Export.Kind.STATEMENT)
        .order_by("-created_at", "-id")[:EXPORTS_SHOWN]
    )
    return render(request, "exports/list.html", {"exports": jobs, "now": timezone.now()})


def export_row(request: HttpRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    return render(request, "exports/list.html#row", {"export": export, "now": timezone.now()})


def export_notice(request: HttpRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    if not export.is_active:
        request.session.pop(EXPORT_NOTICE_KEY, None)  # said once; the exports page keeps it
    return render(request, "results/list.html#export_notice", {"export_notice": export})


@require_POST
def export_create(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        raise Http404("no organization")
    form = ExportRequestForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("The export could not be started: %(errors)s") % {"errors": form.errors.as_text()},
        )
        return redirect("results")
    query = form.cleaned_data["query"]
    check = SendRequestFilter(query, queryset=SendRequest.objects.none(), request=request)
    if not check.is_valid():
        messages.error(request, _("Correct the filters first: the export uses them as they are."))
        return redirect(f"{reverse('results')}?{query.urlencode()}")
    export, created = exports.request_export(
        user=request.user, organization=request.organization, kind=form.cleaned_data["kind"],
        file_format=form.cleaned_data["file_format"], split=form.cleaned_data["split"],
        filters=exports.filters_from_query(query),
    )  # fmt: skip
    if created:
        tasks.queue_export_on_commit(export.pk)
    request.session[EXPORT_NOTICE_KEY] = export.pk
    return redirect(f"{reverse('results')}?{query.urlencode()}")


@require_POST
def export_retry(request: HttpRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    if export.state == Export.State.FAILED and exports.reset_for_retry(export):
        tasks.queue_export_on_commit(export.pk)
        messages.info(request, _("Trying the export again."))
    return redirect("export_list")


def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = _get_export_for_user(request, pk)
    if export.is_expired() or (export.state == Export.State.DONE and not export.file):
        return render(request, "exports/expired.html", {"export": export}, status=410)
    if export.state != Export.State.DONE:
        messages.info(request, _("That file is not ready yet."))
        return redirect("export_list")
    return FileResponse(
        export.file.open("rb"),
        as_attachment=True,
        filename=export.file_name,
        content_type=CONTENT_TYPES[export.file_format],
    )


def statement_list(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        raise Http404("no organization")
    start, end = last_month(timezone.localdate())
    form = StatementForm(
        request.POST or None,
        organization=request.organization,
        initial={"period_from": start, "period_to": end},
    )
    if request.method == "POST" and form.is_valid():
        export, created = exports.request_export(
            user=request.user, organization=request.organization,
            kind=Export.Kind.STATEMENT, file_format=Export.Format.PDF, filters=form.filters(),
        )  # fmt: skip
        if created:
            tasks.queue_export_on_commit(export.pk)
        return redirect("statement_list")
    Export.objects.filter(organization=request.organization).fail_stuck()
    issued = (
        Export.objects.for_member(request.user, request.organization)
        .filter(kind=Export.Kind.STATEMENT)
        .order_by("-created_at", "-id")[:EXPORTS_SHOWN]
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
        code = statements.format_code(form.cleaned_data["code"])
        return redirect("statement_verify", code=code)
    status = 400 if form.errors else 200
    return render(request, "statements/verify.html", {"form": form}, status=status)


@login_not_required
def statement_verify(request: HttpRequest, code: str) -> HttpResponse:
    """Public: the scope and figures of the statement with this code, and nothing else."""
    if _too_many_attempts(f"verify-attempts:{_client_address(request)}"):
        return render(request, "statements/verify.html", {"limited": True}, status=429)
    # Only a well-formed code reaches the database: anything else (a NUL byte, which
    # PostgreSQL refuses in text) is as unknown as a code nobody issued.
    normalized = statements.normalize_code(code)
    statement = (
        Export.objects.filter(
            kind=Export.Kind.STATEMENT, state=Export.State.DONE,
            verification_code=normalized, expires_at__gt=timezone.now(),
        ).first()
        if normalized else None
    )  # fmt: skip
    if statement is None:
        typed = statements.format_code(normalized) if normalized else ""
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


def _owner_organization(request: HttpRequest) -> Organization:
    """The current organization, when the user owns it: keys are an owner's business."""
    if request.organization is None or not request.is_owner:
        raise Http404("not an owner")
    return request.organization


def api_keys(request: HttpRequest) -> HttpResponse:
    organization = _owner_organization(request)
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _, new_key = api.create_key(
            organization=organization, name=form.cleaned_data["name"], user=request.user
        )
        form = ApiKeyForm()
    keys = ApiKey.objects.filter(organization=organization).order_by("-created_at")
    return render(
        request, "settings/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )


@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    organization = _owner_organization(request)
    key = get_object_or_404(ApiKey, pk=pk, organization=organization)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    messages.success(request, _("The key %(name)s is revoked.") % {"name": key.name})
    return redirect("api_keys")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a friendly 503 while the database cannot be reached (pages work again by
    themselves when it is back), Django's plain 500 page otherwise."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        # A page of its own: base.html would touch the session and user, i.e. the database.
        response = render(request, "unavailable.html", status=503)
        response["Retry-After"] = "30"
        return response
    return defaults.server_error(request)


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database (and the broker, when one is configured) answers; else 503."""
    checks = {"database": _reachable(_ping_database)}
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _reachable(_ping_broker)
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)


def _reachable(ping: Callable[[], None]) -> str:
    try:
        ping()
    except Exception as error:  # any failure to answer is "down", with its reason
        return f"error: {type(error).__name__}"
    return "ok"


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping_broker() -> None:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)


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
