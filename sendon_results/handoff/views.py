"""Acting on a send through the platform (예약 취소, 즉시 발송, 실패 건 재발송), and the
owner's settings of the connection to it: endpoint, secret, a test, the last requests."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from .. import audit, retention, tasks
from ..accounts.decorators import permission_required
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission
from ..models import OutboxMessage, PlatformEndpoint, SendRequest
from . import actions, delivery, signing
from .forms import PlatformEndpointForm

NEW_SECRET_SESSION_KEY = "new_platform_secret"
# How long a rotated secret still signs, beside the new one.
ROTATION_OVERLAP = dt.timedelta(hours=24)
SHOWN_REQUESTS = 50
ASKED = {
    OutboxMessage.Kind.CANCEL: audit.Action.SEND_CANCEL_ASKED,
    OutboxMessage.Kind.SEND_NOW: audit.Action.SEND_NOW_ASKED,
}
ASKED_OF_PLATFORM = gettext_lazy("Asked the sending platform. The status changes when it confirms.")


@require_http_methods(["GET", "POST"])
@permission_required(Permission.ACT_ON_SENDS)
def send_action(request: MemberRequest, pk: int, kind: str) -> HttpResponse:
    """GET shows what the action will do and asks to confirm; POST asks the platform."""
    send = _send_worked_on(request, pk)
    if request.method == "GET":
        context = {
            "send": send,
            "kind": kind,
            "possible": actions.may_ask(send, kind),
            "connected": PlatformEndpoint.objects.filter(organization=send.organization).exists(),
        }
        return render(request, "handoff/send_action.html", context)
    try:
        actions.ask(send, kind, user=request.user, queue=tasks.queue_outbox_delivery)
    except actions.NotNow as problem:
        messages.error(request, str(problem))
    else:
        audit.record(request, ASKED[OutboxMessage.Kind(kind)], obj=send)
        messages.success(request, ASKED_OF_PLATFORM)
    return redirect("result_detail", pk=send.pk)


@require_http_methods(["GET", "POST"])
@permission_required(Permission.ACT_ON_SENDS)
def send_resend(request: MemberRequest, pk: int) -> HttpResponse:
    """GET lists the send's failures by result code, to choose which to resend (those
    resending cannot help left out), with what it may cost; POST asks the platform."""
    send = _send_worked_on(request, pk)
    groups = actions.failed_groups(send)
    chosen = request.POST.getlist("group")
    if request.method == "POST":
        try:
            message = actions.ask_resend(
                send, chosen, user=request.user, queue=tasks.queue_outbox_delivery
            )
        except actions.NotNow as problem:
            messages.error(request, str(problem))
        else:
            detail = {
                "result_codes": message.body["result_codes"],
                "recipients": len(message.body["recipients"]),
            }
            audit.record(request, audit.Action.SEND_RESEND_ASKED, obj=send, detail=detail)
            messages.success(request, ASKED_OF_PLATFORM)
            return redirect("result_detail", pk=send.pk)
    per_message = send.points_charged / send.recipient_count if send.recipient_count else 0
    context = {
        "send": send,
        "groups": groups,
        "chosen": set(chosen) if request.method == "POST" else None,
        "per_message": per_message,
        "possible": send.status in actions.RESENDABLE and send.failure_count > 0,
        "connected": PlatformEndpoint.objects.filter(organization=send.organization).exists(),
    }
    return render(request, "handoff/send_resend.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(Permission.MANAGE_PLATFORM)
def platform_settings(request: MemberRequest) -> HttpResponse:
    endpoint = PlatformEndpoint.objects.filter(organization=request.organization).first()
    form = PlatformEndpointForm(
        request.POST or None, instance=endpoint, console_host=request.get_host()
    )
    if request.method == "POST" and form.is_valid():
        endpoint = form.save(commit=False)
        endpoint.organization = request.organization
        if not endpoint.secret:
            endpoint.secret = signing.new_secret()
            _show_once(request, endpoint.secret)
        endpoint.save()
        audit.record(request, audit.Action.PLATFORM_ENDPOINT_SET, detail={"url": endpoint.url})
        messages.success(request, _("The endpoint is saved."))
        return redirect("platform_settings")
    shown = request.session.pop(NEW_SECRET_SESSION_KEY, None) if request.method == "GET" else None
    context = {
        "form": form,
        "endpoint": endpoint,
        "new_secret": shown[1] if shown and shown[0] == request.organization.pk else None,
        "requests": OutboxMessage.objects.filter(organization=request.organization)
        .select_related("created_by")
        .order_by("-created_at")[:SHOWN_REQUESTS],
        "retries": len(delivery.RETRY_AFTER),
        "now": timezone.now(),
    }
    return render(request, "handoff/platform.html", context)


@require_POST
@permission_required(Permission.MANAGE_PLATFORM)
def platform_rotate(request: MemberRequest) -> HttpResponse:
    """A new secret; the old one signs too for ROTATION_OVERLAP, while the platform
    changes its copy."""
    endpoint = PlatformEndpoint.objects.filter(organization=request.organization).first()
    if endpoint is None:
        return _connect_first(request)
    if endpoint.previous_until and endpoint.previous_until > timezone.now():
        # A second rotation would drop a secret the platform may still sign with.
        messages.error(
            request,
            _("The previous secret is still in use until %(until)s: rotate again after it.")
            % {"until": timezone.localtime(endpoint.previous_until).strftime("%Y-%m-%d %H:%M")},
        )
        return redirect("platform_settings")
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_until = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = signing.new_secret()
    endpoint.save()
    _show_once(request, endpoint.secret)
    audit.record(request, audit.Action.PLATFORM_SECRET_ROTATED)
    return redirect("platform_settings")


@require_POST
@permission_required(Permission.MANAGE_PLATFORM)
def platform_test(request: MemberRequest) -> HttpResponse:
    """Sends a test request now, while the owner waits (one timeout at most), and says
    what the platform answered."""
    endpoint = PlatformEndpoint.objects.filter(organization=request.organization).first()
    if endpoint is None:
        return _connect_first(request)
    message = actions.test_message(endpoint, user=request.user)
    delivery.deliver(message.pk, waited_for=True)
    message.refresh_from_db()
    last = message.last_try or {}
    if message.state == OutboxMessage.State.ACCEPTED:
        messages.success(
            request,
            _("The platform accepted the test (HTTP %(status)s, %(ms)s ms).") % last,
        )
    else:
        said = [f"HTTP {last['status']}" if last.get("status") else ""]
        said.append(str(message.answer or last.get("error") or ""))
        answer = " · ".join(part for part in said if part)
        messages.error(request, _("The test was not accepted: %(answer)s") % {"answer": answer})
        if message.state == OutboxMessage.State.PENDING:  # a test is not tried again
            OutboxMessage.objects.filter(pk=message.pk).update(
                state=OutboxMessage.State.GAVE_UP, next_try_at=None, settled_at=timezone.now()
            )
    return redirect("platform_settings")


def _send_worked_on(request: MemberRequest, pk: int) -> SendRequest:
    """A kept send of the organization worked in; 404 for anything else."""
    send = (
        retention.kept(SendRequest.objects.select_related("sender"))
        .filter(pk=pk, organization=request.organization)
        .first()
    )
    if send is None:
        raise Http404("no such send in this organization")
    return send


def _connect_first(request: MemberRequest) -> HttpResponse:
    messages.error(request, _("Set the endpoint URL first."))
    return redirect("platform_settings")


def _show_once(request: MemberRequest, secret: str) -> None:
    """Post/redirect/get, as for API keys: the next page shows the secret once."""
    request.session[NEW_SECRET_SESSION_KEY] = [request.organization.pk, secret]
