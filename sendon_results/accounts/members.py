"""An organization's members, for its owners: who belongs and as what, inviting people by
email, changing roles and removing members; and the page an invitation's link opens."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import audit
from ..models import Invitation, Membership
from . import invitations
from .decorators import forbidden, permission_required
from .forms import InviteForm, JoinForm, RoleForm
from .memberships import LastOwner, NotAnOwner, change_role, remove_member
from .middleware import SESSION_KEY
from .people import person_name
from .request import MemberRequest
from .roles import ACTIONS, Permission, may

logger = logging.getLogger(__name__)

Role = Membership.Role
ROLE_ORDER = {value: i for i, value in enumerate(Role.values)}  # owners first
# What an invitation link that cannot be used answers: a link that is not ours is a bad
# request; one that was good and is no more is gone.
PROBLEM_STATUS = {
    invitations.Problem.TAMPERED: 400,
    invitations.Problem.EXPIRED: 410,
    invitations.Problem.WITHDRAWN: 410,
    invitations.Problem.USED: 410,
}


@permission_required(Permission.MANAGE_MEMBERS)
def members(request: MemberRequest) -> HttpResponse:
    form = InviteForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        email, role = form.cleaned_data["email"], form.cleaned_data["role"]
        try:
            sent = invitations.invite(
                organization=request.organization, email=email, role=role, invited_by=request.user
            )
        except Exception:  # the mail server, whatever its backend raises
            logger.exception("invitation to %s not sent", request.organization.pk)
            form.add_error(None, _("The invitation could not be mailed. Try again later."))
            return _members_page(request, form, status=503)
        messages.success(
            request,
            _("An invitation to %(email)s is on its way. Its link works until %(until)s.")
            % {"email": sent.invitation.email, "until": _local(sent.expires_at)},
        )
        invited = {"email": sent.invitation.email, "role": role}
        audit.record(request, audit.Action.MEMBER_INVITED, obj=sent.invitation, detail=invited)
        return redirect("members")
    return _members_page(request, form, status=400 if form.errors else 200)


def _members_page(request: MemberRequest, form: InviteForm, *, status: int) -> HttpResponse:
    memberships = sorted(
        Membership.objects.filter(organization=request.organization).select_related("user"),
        key=lambda m: (ROLE_ORDER[m.role], m.joined_at, m.pk),
    )
    owners = sum(m.role == Role.OWNER for m in memberships)
    rows = [
        {
            "membership": m,
            "name": person_name(m.user),
            "is_you": m.user_id == request.user.pk,
            # The last owner's role and place cannot change: no controls to try.
            "locked": m.role == Role.OWNER and owners == 1,
        }
        for m in memberships
    ]
    pending = [
        {
            "invitation": invitation,
            "invited_by": person_name(invitation.invited_by) if invitation.invited_by else "",
            "expires_at": invitations.expires_at(invitation),
        }
        for invitation in Invitation.objects.filter(
            organization=request.organization, accepted_at__isnull=True
        )
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    ]
    context = {
        "form": form,
        "rows": rows,
        "pending": pending,
        "roles": Role.choices,
        "invite_days": settings.INVITE_DAYS,
        "now": timezone.now(),
        "role_actions": [
            (label, [ACTIONS[p] for p in Permission if may(value, p)])
            for value, label in Role.choices
        ],
    }
    return render(request, "accounts/members.html", context, status=status)


@require_POST
@permission_required(Permission.MANAGE_MEMBERS)
def member_role(request: MemberRequest, pk: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return _members_page(request, InviteForm(organization=request.organization), status=400)
    role = form.cleaned_data["role"]
    try:
        membership = change_role(
            organization=request.organization, actor=request.user, member_id=pk, role=role
        )
    except Membership.DoesNotExist:
        raise Http404("not a member of this organization") from None
    except (NotAnOwner, LastOwner) as refused:
        return _refused(request, refused)
    messages.success(
        request,
        _("%(name)s is now %(role)s.")
        % {"name": person_name(membership.user), "role": membership.get_role_display()},
    )
    changed = {"member": membership.user.get_username(), "role": membership.role}
    audit.record(request, audit.Action.ROLE_CHANGED, obj=membership, detail=changed)
    return _after_change(request, membership)


@permission_required(Permission.MANAGE_MEMBERS)
def member_remove(request: MemberRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (a page, so it works without JavaScript); POST removes."""
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=pk, organization=request.organization
    )
    if request.method != "POST":
        last_owner = (
            membership.role == Role.OWNER
            and not Membership.objects.filter(organization=request.organization, role=Role.OWNER)
            .exclude(pk=membership.pk)
            .exists()
        )
        context = {
            "membership": membership,
            "name": person_name(membership.user),
            "is_you": membership.user_id == request.user.pk,
            "last_owner": last_owner,
        }
        return render(request, "accounts/member_remove.html", context)
    try:
        removed = remove_member(organization=request.organization, actor=request.user, member_id=pk)
    except Membership.DoesNotExist:
        raise Http404("not a member of this organization") from None
    except (NotAnOwner, LastOwner) as refused:
        return _refused(request, refused)
    messages.success(
        request,
        _("%(name)s no longer belongs to %(organization)s.")
        % {"name": person_name(removed.user), "organization": request.organization.name},
    )
    # The membership is gone (no id left to name): the record names the person.
    gone = {"member": removed.user.get_username(), "role": removed.role}
    audit.record(request, audit.Action.MEMBER_REMOVED, detail=gone)
    return _after_change(request, removed, removed=True)


@require_POST
@permission_required(Permission.MANAGE_MEMBERS)
def invitation_cancel(request: MemberRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(
        Invitation, pk=pk, organization=request.organization, accepted_at__isnull=True
    )
    invitation.delete()
    messages.success(
        request,
        _("The invitation to %(email)s is cancelled; its link no longer works.")
        % {"email": invitation.email},
    )
    return redirect("members")


def _after_change(
    request: MemberRequest, membership: Membership, *, removed: bool = False
) -> HttpResponse:
    """Back to the members page, unless the owner just changed their own role or left."""
    if membership.user_id == request.user.pk and (removed or membership.role != Role.OWNER):
        return redirect("results")
    return redirect("members")


def _refused(request: MemberRequest, refused: NotAnOwner | LastOwner) -> HttpResponse:
    """A change the organization's rules refuse: the asker stopped being an owner
    meanwhile (403), or it would leave the organization without one (back, saying so)."""
    if isinstance(refused, NotAnOwner):
        return forbidden(request, Permission.MANAGE_MEMBERS)
    messages.error(
        request,
        _(
            "An organization always keeps an owner: make another member an owner first, "
            "then change this one."
        ),
    )
    return redirect("members")


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@login_not_required
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation's link opens. Signed in as the person invited: accept (a
    POST). Signed out: make an account with the invited address, or sign in to the one
    that has it."""
    try:
        invited = invitations.read_token(token)
    except invitations.InvitationError as error:
        return _invitation_problem(request, error)
    context: dict[str, Any] = {
        "invitation": invited,
        "inviter": person_name(invited.invited_by) if invited.invited_by else "",
        "expires_at": invitations.expires_at(invited),
    }
    user = request.user
    if user.is_authenticated:
        membership = Membership.objects.filter(user=user, organization=invited.organization).first()
        if membership is not None:
            context.update(state="member", membership=membership)
            return render(request, "accounts/invitation.html", context)
        if not invitations.is_for(invited, user):
            context.update(state="other_account")
            return render(request, "accounts/invitation.html", context, status=403)
        if request.method == "POST":
            try:
                invitations.accept(invited, user)
            except invitations.InvitationError as error:
                return _invitation_problem(request, error)
            return _joined(request, invited)
        context.update(state="accept")
        return render(request, "accounts/invitation.html", context)
    if get_user_model().objects.filter(email__iexact=invited.email).exists():
        login_url = reverse(settings.LOGIN_URL) + "?" + urlencode({"next": request.path})
        context.update(state="sign_in", login_url=login_url)
        return render(request, "accounts/invitation.html", context)
    form = JoinForm(request.POST or None, email=invited.email)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                new_user = form.save()
                invitations.accept(invited, new_user)
        except invitations.InvitationError as error:
            return _invitation_problem(request, error)
        login(request, new_user, backend=settings.AUTHENTICATION_BACKENDS[0])
        return _joined(request, invited)
    context.update(state="join", form=form)
    return render(request, "accounts/invitation.html", context, status=400 if form.errors else 200)


def _joined(request: HttpRequest, invited: Invitation) -> HttpResponse:
    audit.record(request, audit.Action.MEMBER_JOINED, obj=invited, detail={"role": invited.role})
    request.session[SESSION_KEY] = invited.organization_id
    messages.success(
        request,
        _("Welcome to %(organization)s. Your role: %(role)s.")
        % {"organization": invited.organization.name, "role": invited.get_role_display()},
    )
    return redirect("results")


def _invitation_problem(request: HttpRequest, error: invitations.InvitationError) -> HttpResponse:
    invited = error.invitation
    if (
        error.problem == invitations.Problem.USED
        and invited is not None
        and request.user.is_authenticated
    ):
        membership = Membership.objects.filter(
            user=request.user, organization=invited.organization
        ).first()
        if membership is not None:  # they followed the link again after accepting
            context = {"invitation": invited, "state": "member", "membership": membership}
            return render(request, "accounts/invitation.html", context)
    context = {
        "problem": error.problem.value,
        "invitation": invited,
        "inviter": person_name(invited.invited_by) if invited and invited.invited_by else "",
        "invite_days": settings.INVITE_DAYS,
    }
    return render(
        request, "accounts/invitation_invalid.html", context, status=PROBLEM_STATUS[error.problem]
    )
