"""/audit/: an organization's access record for its owners, filtered, newest first, and
its CSV."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..accounts.decorators import permission_required
from ..accounts.request import MemberRequest
from ..accounts.roles import Permission
from ..dates import wall_clock
from ..exports.columns import safe_text
from ..models import AccessEvent, Channel, Export, Membership
from ..pagination import paginate
from ..results.filters import DeliveryFilter, SendRequestFilter
from ..results.views import render_page_or_fragment
from .events import Action, record
from .filters import AccessEventFilter

CSV_CHUNK = 2_000  # rows fetched at a time for the CSV
# The pages an event's detail names ("page": the page the action was taken on), by their
# titles.
PAGES = {
    "recipient_history": gettext_lazy("Recipient history"),
}


@permission_required(Permission.VIEW_ACCESS_RECORD)
def access_record(request: MemberRequest) -> HttpResponse:
    filterset = AccessEventFilter(request.GET, organization=request.organization)
    context: dict[str, object] = {
        "filter": filterset,
        "retention_days": settings.AUDIT_RETENTION_DAYS,
    }
    status = 200
    if filterset.is_valid():
        page = paginate(filterset.qs, key=("at", "id"), descending=True, cursor=filterset.cursor)
        context["page"] = page
        context["events"] = [(e, object_label(e), describe(e)) for e in page.rows]
        context["csv_query"] = filterset.without_position(request.GET)
    else:
        status = 400
    return render_page_or_fragment(request, "audit/list.html", "events", context, status)


@permission_required(Permission.VIEW_ACCESS_RECORD)
def access_record_csv(request: MemberRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered record as CSV, streamed. Exporting it is itself an event (with the
    filters and the number of rows), which the file does not hold: it holds the events up
    to the moment it was asked for."""
    filterset = AccessEventFilter(request.GET, organization=request.organization)
    if not filterset.is_valid():
        return redirect(f"{reverse('access_record')}?{request.GET.urlencode()}")
    events = filterset.qs.filter(at__lte=timezone.now()).order_by("-at", "-id")
    rows = events.count()
    record(request, Action.RECORD_EXPORTED, detail={"filters": filterset.chosen(), "rows": rows})
    name = f"{_('Access record')}_{timezone.localdate().isoformat()}.csv"
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def _csv_lines(events: QuerySet[AccessEvent]) -> Iterator[str]:
    """The file, a line at a time: a BOM for Excel, headers, one row an event. Every text
    cell formula-safe (a username typed at the sign-in page, a user agent: anyone's)."""
    buffer = _Line()
    writer = csv.writer(buffer)
    yield "\ufeff"
    headers = [
        _("At"),
        _("Person"),
        _("Action"),
        _("Object"),
        _("Detail"),
        _("Address"),
        _("User agent"),
        _("Organization"),
    ]
    yield writer.writerow(headers)
    for event in events.iterator(CSV_CHUNK):
        at = wall_clock(event.at)
        yield writer.writerow(
            [
                at.strftime("%Y-%m-%d %H:%M:%S") if at else "",
                safe_text(event.username),
                event.get_action_display(),
                safe_text(object_label(event)),
                safe_text(describe(event)),
                event.address or "",
                safe_text(event.user_agent),
                safe_text(event.organization_name),
            ]
        )


class _Line:
    """A file the csv module writes one row into, which hands the row back."""

    def write(self, value: str) -> str:
        return value


def object_label(event: AccessEvent) -> str:
    """The object as "발송 #12": its kind, as its model names it, and its id."""
    if not event.object_type:
        return ""
    try:
        kind = str(apps.get_model("sendon_results", event.object_type)._meta.verbose_name)
    except LookupError:
        kind = event.object_type
    return f"{kind} #{event.object_id}" if event.object_id is not None else kind


def describe(event: AccessEvent) -> str:
    """An event's detail in words: "번호: 가림 · 행: 1,204"."""
    return " · ".join(f"{label}: {value}" for label, value in _detail_items(event.detail))


def _detail_items(detail: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    # In this order whatever order the database keeps a JSON object's keys in (jsonb's
    # own); keys not named here last, as they are.
    labels = {
        "member": _("Member"),
        "email": _("Email"),
        "role": _("Role"),
        "numbers": _("Numbers"),
        "recipients": _("Recipient number"),
        "filters": _("Filters"),
        "kind": _("Layout"),
        "format": _("Format"),
        "split": _("Sheets"),
        "reason": _("Reason"),
        "rows": _("Rows"),
        "number": _("Statement number"),
        "period": _("Period"),
        "sender": _("Sender info"),
        "channel": _("Channel"),
        "appendix": _("Sends listed"),
        "code": _("Code"),
        "found": _("Found"),
        "name": _("Name"),
        "prefix": _("Key prefix"),
        "until": _("Shown until"),
        "minutes": _("Shown for"),
        "throttled": _("Refused by the sign-in limit"),
        "page": _("Page"),
    }
    order = {key: i for i, key in enumerate(labels)}
    values = {
        "masked": _("masked"),
        "revealed": _("revealed"),
        "none": _("none"),
        True: _("yes"),
        False: _("no"),
    }
    choices: dict[str, dict[str, Any]] = {
        "role": dict(Membership.Role.choices),
        "kind": dict(Export.Kind.choices),
        "format": dict(Export.Format.choices),
        "split": dict(Export.Split.choices),
        "page": PAGES,
        # A statement's sender and channel: empty for all of them.
        "sender": {"": _("All senders")},
        "channel": {"": _("All channels"), **dict(Channel.choices)},
    }
    for key, value in sorted(detail.items(), key=lambda item: order.get(item[0], len(order))):
        if key in choices and isinstance(value, str) and value in choices[key]:
            shown = str(choices[key][value])
        elif key == "until" and isinstance(value, str):
            shown = _local_time(value)
        elif key == "minutes" and isinstance(value, int):
            shown = ngettext("%(count)s minute", "%(count)s minutes", value) % {"count": value}
        elif key == "period" and isinstance(value, list):
            shown = " ~ ".join(str(day) for day in value)  # [first, last]: 2026-11-07 ~ 2026-12-06
        elif key == "filters" and isinstance(value, dict):
            shown = _filters_text(value)
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        elif isinstance(value, bool | str) and value in values:
            shown = str(values[value])
        elif isinstance(value, int):
            shown = f"{value:,}"
        else:
            shown = str(value)
        yield str(labels.get(key, key)), shown or "–"


def _local_time(value: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment.tzinfo else value


def _filters_text(filters: Mapping[str, Any]) -> str:
    """A filter as it was kept ({name: [values]}), its names and choices as the lists
    label them: "처리상태=처리실패; 수신번호=010-****-5678"."""
    fields = {
        **SendRequestFilter.base_filters,
        **DeliveryFilter.base_filters,
        **AccessEventFilter.base_filters,
    }
    order = {name: i for i, name in enumerate(fields)}  # the form's, not the database's
    parts = []
    for name, values in sorted(filters.items(), key=lambda item: order.get(item[0], -1)):
        field = fields.get(name)
        label = str(field.label) if field is not None else name
        listed = values if isinstance(values, list) else [values]
        parts.append(f"{label}=" + ", ".join(_filter_value(name, field, v) for v in listed))
    return "; ".join(parts)


def _filter_value(name: str, field: Any, value: Any) -> str:
    """A filter's value as its list shows it: a choice by its label, a person by their
    username (kept as "<id> <username>"), anything typed as it was kept."""
    if name == "person" and isinstance(value, str):
        return value.partition(" ")[2] or value
    choices = field.extra.get("choices") if field is not None else None
    if isinstance(choices, list | tuple):
        return str(dict(choices).get(value, value))
    return str(value)
