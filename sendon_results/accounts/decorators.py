from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404
from django.http.response import HttpResponseBase
from django.shortcuts import render

from .request import OrgRequest

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


def owner_required(view: View) -> View:
    """For an organization's settings (API keys): its owners only; to anyone else the page
    does not exist."""

    @organization_required
    @wraps(view)
    def wrapper(request: OrgRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.is_owner:
            raise Http404("not an owner")
        return view(request, *args, **kwargs)

    return wrapper
