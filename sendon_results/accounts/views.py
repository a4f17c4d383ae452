"""Switching organizations and languages, and an organization's settings (API keys)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language

from .. import audit
from ..api.keys import create_key
from ..models import ApiKey
from .decorators import permission_required
from .forms import ApiKeyForm
from .middleware import SESSION_KEY
from .request import MemberRequest, OrgRequest
from .roles import Permission


@require_POST
def switch_organization(request: OrgRequest) -> HttpResponse:
    chosen = request.POST.get("organization", "")
    organization = next((o for o in request.organizations if str(o.pk) == chosen), None)
    if organization is None:
        raise Http404("not a member")
    request.session[SESSION_KEY] = organization.pk
    messages.success(request, _("Now working in %(name)s.") % {"name": organization.name})
    following = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(following, {request.get_host()}, request.is_secure()):
        return redirect(following)
    return redirect("results")


# The language switch is offered on the sign-in page too.
switch_language = login_not_required(set_language)


# The secret of a key just created, kept in the session for the one page that shows it.
NEW_KEY_SESSION_KEY = "new_api_key"


@never_cache
@permission_required(Permission.MANAGE_KEYS)
def api_keys(request: MemberRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, secret = create_key(
            organization=request.organization, name=form.cleaned_data["name"], user=request.user
        )
        named = {"name": key.name, "prefix": key.prefix}  # the prefix only: never the secret
        audit.record(request, audit.Action.API_KEY_CREATED, obj=key, detail=named)
        # Post/redirect/get: a refresh of the page must not create a second key. The next
        # GET shows the secret once and drops it; a refresh after that shows it no more.
        request.session[NEW_KEY_SESSION_KEY] = [request.organization.pk, secret]
        return redirect("api_keys")
    shown = request.session.pop(NEW_KEY_SESSION_KEY, None) if request.method == "GET" else None
    new_key = shown[1] if shown and shown[0] == request.organization.pk else None
    keys = ApiKey.objects.filter(organization=request.organization).order_by("-created_at")
    return render(
        request, "accounts/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )


@require_http_methods(["GET", "POST"])
@permission_required(Permission.MANAGE_KEYS)
def api_key_revoke(request: MemberRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (a page of its own, so it works without JavaScript); POST
    revokes."""
    key = get_object_or_404(ApiKey, pk=pk, organization=request.organization)
    if request.method == "GET":
        if key.revoked_at is not None:
            return redirect("api_keys")
        return render(request, "accounts/api_key_revoke.html", {"key": key})
    if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        named = {"name": key.name, "prefix": key.prefix}
        audit.record(request, audit.Action.API_KEY_REVOKED, obj=key, detail=named)
    messages.success(request, _("The key %(name)s is revoked.") % {"name": key.name})
    return redirect("api_keys")
