"""Switching organizations and languages, and an organization's settings (API keys)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

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


@permission_required(Permission.MANAGE_KEYS)
def api_keys(request: MemberRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _, new_key = create_key(
            organization=request.organization, name=form.cleaned_data["name"], user=request.user
        )
        form = ApiKeyForm()
    keys = ApiKey.objects.filter(organization=request.organization).order_by("-created_at")
    return render(
        request, "accounts/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )


@require_POST
@permission_required(Permission.MANAGE_KEYS)
def api_key_revoke(request: MemberRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk, organization=request.organization)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    messages.success(request, _("The key %(name)s is revoked.") % {"name": key.name})
    return redirect("api_keys")
