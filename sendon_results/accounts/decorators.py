from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from .request import OrgRequest
from .roles import ACTIONS, Permission, may, roles_allowed

View = Callable[..., HttpResponseBase]


def organization_required(view: View) -> View:
    """For pages of an organization's data: a signed-in user who belongs to none gets one
    answer everywhere, a page saying so (403)."""

    @wraps(view)
    def wrapper(request: OrgRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.organization is None:
            return render(request, "accounts/no_organization.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def forbidden(request: HttpRequest, permission: Permission) -> HttpResponse:
    """The page for an action the user's role does not allow: which roles may (403)."""
    context = {"action": ACTIONS[permission], "roles": roles_allowed(permission)}
    return render(request, "accounts/forbidden.html", context, status=403)


def permission_required(permission: Permission) -> Callable[[View], View]:
    """For what only some roles may do (accounts/roles.py): anyone else in the organization
    gets a page saying which roles may (403)."""

    def decorator(view: View) -> View:
        @organization_required
        @wraps(view)
        def wrapper(request: OrgRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not may(request.role, permission):
                return forbidden(request, permission)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
