"""The sending platform's JSON API: send requests and results in, in any order, exactly once.

Every call is authenticated by an organization's API key (`keys`) and validated whole
before anything is stored (`validation`); what it changes in the data is `ingest`'s
business. Each call is one transaction: an error of any kind (4xx or 5xx) leaves nothing
stored. Every answer, errors included, is JSON as `openapi.json` describes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .. import ingest
from ..models import Delivery, Organization, SendRequest
from ..pagination import InvalidCursor, paginate
from ..results.fields import PagedFilterForm
from ..results.filters import SendRequestFilter
from ..retention import kept
from .errors import ApiError, error
from .keys import authenticate
from .validation import parse_results, parse_send, parse_status_change

logger = logging.getLogger(__name__)

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
PAGE_SIZE = 100
DELIVERY_PAGE_SIZE = 1_000
# How the API answers what ingest refuses.
REFUSED_STATUS: dict[type[ingest.Refused], int] = {
    ingest.Invalid: 400,
    ingest.UnknownRecipient: 422,
    ingest.Conflict: 409,
    ingest.TooManyWaiting: 429,
}
TOO_MANY_WAITING_RETRY_AFTER = "60"  # seconds

ApiView = Callable[Concatenate[HttpRequest, Organization, ...], HttpResponse]


def _api(*methods: str) -> Callable[[ApiView], Callable[..., HttpResponse]]:
    """JSON in and out, a key instead of a session, errors as {"errors": [...]}; the whole
    call in one transaction, so an error leaves nothing behind. Another method than
    `methods` is a 405 that lists them in `Allow` (RFC 9110), after the key is checked."""

    def decorator(view: ApiView) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @login_not_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                # Outside the call's transaction: the key's last use is written at once,
                # not held locked while a long call runs.
                organization = authenticate(request)
                if request.method not in methods:
                    response = _errors(error(405, "", f"Use {' or '.join(methods)}."))
                    response["Allow"] = ", ".join(methods)
                    return response
                with transaction.atomic():
                    return view(request, organization, *args, **kwargs)
            except (ApiError, ingest.Refused) as problem:
                return _errors(problem)
            except (OperationalError, InterfaceError):
                logger.exception("API call failed: the database cannot be reached")
                return _unexpected(503, "The database is not available. Nothing was stored; retry.")
            except Exception:
                logger.exception("API call failed")
                return _unexpected(500, "An unexpected error. Nothing was stored; retry later.")

        return wrapper

    return decorator


def _errors(problem: ApiError | ingest.Refused) -> JsonResponse:
    if isinstance(problem, ApiError):
        status = problem.status
    else:  # a refusal added to ingest and not here is still a JSON answer
        status = REFUSED_STATUS.get(type(problem), 500)
    response = JsonResponse({"errors": problem.errors}, status=status)
    if status == 429:
        # Waiting results go as their sends are recorded: record the sends, then retry.
        response["Retry-After"] = TOO_MANY_WAITING_RETRY_AFTER
    return response


def _unexpected(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"errors": [{"field": "", "message": message}]}, status=status)
    if status == 503:
        response["Retry-After"] = "30"
    return response


def _body(request: HttpRequest) -> Any:
    if request.content_type != "application/json":
        raise error(415, "Content-Type", "Send JSON with 'Content-Type: application/json'.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise error(413, "", "The request is too large.") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as problem:
        raise error(400, "", f"Malformed JSON: {problem}") from None


def _send_json(send: SendRequest) -> dict[str, Any]:
    return {
        "external_id": send.external_id,
        "requested_at": send.requested_at.isoformat(),
        "source": send.source,
        "channel": send.channel,
        "sender": {
            "kind": send.sender.kind,
            "value": send.sender.value,
            "label": send.sender.label,
        },
        "title": send.title,
        "body": send.body,
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
        "fallback": send.fallback,
        "status": send.status,
        "failure_reason": send.failure_reason,
        "points_charged": f"{send.points_charged:.2f}",
        "points_refunded": f"{send.points_refunded:.2f}",
        "resend_of": send.resend_of,
        "counts": {
            "recipients": send.recipient_count,
            **{outcome: getattr(send, f"{outcome}_count") for outcome in Delivery.Status.values},
        },
    }


def _delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "external_id": delivery.external_id,
        "phone": delivery.recipient,
        "name": delivery.recipient_name,
        "outcome": delivery.status,
        "result_code": delivery.result_code,
        "result_message": delivery.result_message,
        "final_channel": delivery.final_channel,
        "carrier": delivery.carrier,
        "completed_at": delivery.completed_at.isoformat() if delivery.completed_at else None,
        "points_charged": f"{delivery.points_charged:.2f}",
        "points_refunded": f"{delivery.points_refunded:.2f}",
    }


def _get_send(organization: Organization, external_id: str) -> SendRequest:
    """The organization's send, 404 when it has none (or only an expired one, which the
    list no longer shows either)."""
    send = (
        kept(SendRequest.objects.select_related("sender"))
        .filter(organization=organization, external_id=external_id)
        .first()
        if "\x00" not in external_id  # no id holds one, and PostgreSQL refuses to look
        else None
    )
    if send is None:
        raise error(404, "external_id", "No send with this external_id.")
    return send


@_api("GET", "POST")
def send_requests(request: HttpRequest, organization: Organization) -> HttpResponse:
    if request.method == "POST":
        send, created, early = ingest.create_send(
            organization=organization, send=parse_send(_body(request))
        )
        send = _get_send(organization, send.external_id)
        return JsonResponse(
            {**_send_json(send), "early_results": early}, status=201 if created else 200
        )
    filterset = SendRequestFilter(
        request.GET,
        queryset=SendRequest.objects.for_org(organization).select_related("sender"),
        organization=organization,
    )
    if not filterset.is_valid():
        raise ApiError(
            400,
            [
                {"field": field, "message": " ".join(messages)}
                for field, messages in filterset.errors.items()
            ],
        )
    page = paginate(
        filterset.qs,
        key=("requested_at", "id"),
        descending=not filterset.oldest_first,
        cursor=filterset.cursor,
        size=PAGE_SIZE,
    )
    return JsonResponse(
        {"results": [_send_json(send) for send in page.rows], "next_cursor": page.next_cursor}
    )


@_api("GET")
def send_request_detail(
    request: HttpRequest, organization: Organization, external_id: str
) -> HttpResponse:
    send = _get_send(organization, external_id)
    position = PagedFilterForm(request.GET)  # the page position, as the detail page reads it
    try:
        if not position.is_valid():
            raise InvalidCursor(position.data.get("cursor", ""))
        page = paginate(
            Delivery.objects.of_send(send),
            key=("id",),
            descending=False,
            cursor=position.cleaned_data["cursor"],
            size=DELIVERY_PAGE_SIZE,
        )
    except InvalidCursor:
        raise error(400, "cursor", "Not a cursor this API gave out.") from None
    return JsonResponse(
        {
            **_send_json(send),
            "deliveries": [_delivery_json(delivery) for delivery in page.rows],
            "next_cursor": page.next_cursor,
        }
    )


@_api("POST")
def send_request_status(
    request: HttpRequest, organization: Organization, external_id: str
) -> HttpResponse:
    status, reason = parse_status_change(_body(request))
    send = ingest.change_status(
        send=_get_send(organization, external_id), status=status, reason=reason
    )
    return JsonResponse(_send_json(_get_send(organization, send.external_id)))


@_api("POST")
def results(request: HttpRequest, organization: Organization) -> HttpResponse:
    summary = ingest.apply_results(organization=organization, results=parse_results(_body(request)))
    return JsonResponse(summary)


@csrf_exempt
@login_not_required
def not_found(request: HttpRequest, path: str) -> HttpResponse:
    """Any other /api/ address: a JSON 404, as the platform's client expects everywhere."""
    return JsonResponse(
        {"errors": [{"field": "", "message": f"No API at {request.path}."}]}, status=404
    )


@csrf_exempt
@login_not_required
def openapi(request: HttpRequest) -> HttpResponse:
    return HttpResponse(OPENAPI_FILE.read_bytes(), content_type="application/json")
