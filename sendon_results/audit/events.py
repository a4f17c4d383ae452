"""Writing the access record: one event, one INSERT, from the request that did it.

What an event keeps of personal data is deliberately little: who acted (their user and
username), from where (address, user agent), what and which object (its type and id),
and a detail of the circumstances — filters, masked or revealed, reason, rows, a code.
Never a phone number in full, a recipient's name or a message's text: a number typed
into a filter is kept masked (010-****-5678), text typed into a filter masked like a
name (인**호, masking.py), and a user agent or a typed username cut to its column.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import Field, Model
from django.http import HttpRequest

from ..accounts.addresses import client_address
from ..masking import mask_name, mask_phone
from ..models import AccessEvent, Organization
from ..models.audit import USER_AGENT_MAX_LENGTH, USERNAME_MAX_LENGTH
from ..phones import normalize_phone

Action = AccessEvent.Action

# Actions of a public page: the visitor is nobody in particular, and the page never
# touches the session (it answers while nobody is signed in, and costs no session query).
PUBLIC_ACTIONS = frozenset({Action.STATEMENT_VERIFIED})
# Filters whose values a person typed and that may name a person: kept masked. The rest
# (statuses, channels, sender ids, dates) are kept as they are.
MASKED_FILTERS = {"recipient": "phone", "q": "text"}
TEXT_MAX_LENGTH = 100  # a detail's text value, at most
ENDING_KEPT = 4  # digits of a number a masked number still shows


def record(
    request: HttpRequest,
    action: str,
    *,
    obj: Model | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record that the request's user did `action` (to `obj`), with `detail`: one INSERT.

    The organization is the object's (a verification names the statement's), else the one
    the user works in. For a public action the user is left out."""
    event = new_event(
        request,
        action,
        user=None if action in PUBLIC_ACTIONS else _user_of(request),
        organization=_organization_of(request, obj),
        obj=obj,
        detail=detail,
    )
    # Once per request: a page a replica failed during is made again from the primary
    # with the same request (replicas.py), and what it did is still done once.
    recorded: set[str] = request.__dict__.setdefault("_access_recorded", set())
    key = json.dumps(
        [event.action, event.object_type, event.object_id, event.detail], sort_keys=True
    )
    if key in recorded:
        return
    recorded.add(key)
    _insert(event)


def _insert(event: AccessEvent) -> None:
    """The event's INSERT, the statement written once per process and each value prepared
    by its field as the ORM would. Model.save() compiles the statement on every call and
    asks for the id back: measured 0.41 ms a call against 0.15 ms for this (medians, inside
    one transaction, PostgreSQL 15, `manage.py bench_audit`) — most of what a page pays."""
    sql, fields = _insert_statement()
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


@functools.cache
def _insert_statement() -> tuple[str, list[Field[Any, Any]]]:
    fields = [field for field in AccessEvent._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table = quote(AccessEvent._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", fields


def new_event(
    request: HttpRequest | None,
    action: str,
    *,
    user: AbstractBaseUser | None,
    organization: Organization | None,
    username: str | None = None,
    obj: Model | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AccessEvent:
    """An event, not saved yet (signals.py saves a sign-in's for each organization at
    once). `username` defaults to the user's."""
    if username is None:
        username = user.get_username() if user is not None else ""
    return AccessEvent(
        action=action,
        user=cast(Any, user),  # the project's user model
        username=_clean(username)[:USERNAME_MAX_LENGTH],
        organization=organization,
        organization_name=organization.name if organization is not None else "",
        address=_address(request),
        user_agent=_user_agent(request),
        object_type=(obj._meta.model_name or "") if obj is not None else "",
        object_id=obj.pk if obj is not None else None,
        detail=_clean_json(dict(detail or {})),
    )


def _user_of(request: HttpRequest) -> AbstractBaseUser | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, AbstractBaseUser) and user.is_authenticated else None


def _organization_of(request: HttpRequest | None, obj: Model | None) -> Organization | None:
    working_in: Organization | None = getattr(request, "organization", None)
    owner_id = getattr(obj, "organization_id", None)
    if owner_id is None or (working_in is not None and working_in.pk == owner_id):
        return working_in
    # A public page's object (a statement looked up by its code): select_related it, or
    # this costs a query.
    return getattr(obj, "organization", None)


def _address(request: HttpRequest | None) -> str | None:
    """The visitor's address, as accounts/addresses.py reads it behind our proxies; None
    when it is not an address (the column holds only addresses)."""
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(client_address(request)))
    except ValueError:
        return None


def _user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return _clean(request.META.get("HTTP_USER_AGENT", ""))[:USER_AGENT_MAX_LENGTH]


def _clean(text: str) -> str:
    # PostgreSQL refuses NUL in text; a header or a typed username could carry one.
    return text.replace("\x00", "")


def _clean_json(value: Any) -> Any:
    """A detail with no NUL in any text (PostgreSQL's jsonb refuses \\u0000)."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(str(key)): _clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(item) for item in value]
    return value


def masked_phone(typed: str) -> str:
    """A number someone typed, as the access record keeps it: masked as the pages mask a
    recipient's (010-****-5678). Four digits or fewer (a search by a number's ending) are
    no more than a masked number shows: kept, after a `…`."""
    digits = normalize_phone(typed)
    return mask_phone(digits) if len(digits) > ENDING_KEPT else f"…{digits}"


def masked_text(text: str) -> str:
    """Text someone typed, as the access record keeps it: masked as the pages mask a name
    (인**호, J*** S****), since it may be one."""
    text = _clean(text.strip())[:TEXT_MAX_LENGTH]
    return mask_name(text) if text else ""


def masked_filters(filters: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """A list's filter ({name: [values]}, as an export saves it) as the access record
    keeps it: numbers and text masked, the rest as chosen."""
    kept: dict[str, list[str]] = {}
    for name, values in filters.items():
        kind = MASKED_FILTERS.get(name)
        mask = masked_phone if kind == "phone" else masked_text if kind == "text" else None
        kept[name] = [
            mask(value) if mask else _clean(value)[:TEXT_MAX_LENGTH] for value in values if value
        ]
    return kept
