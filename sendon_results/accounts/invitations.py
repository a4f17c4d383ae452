"""Inviting people into an organization by email: the signed link, the mail that carries
it, and accepting it once.

The link's token is `django.core.signing` over the invitation's id, organization, email,
role and inviter, with a salt of its own and a time stamp: a changed character fails the
signature, and it is good for INVITE_DAYS. The Invitation row makes it good once: it is
marked accepted in the same transaction that makes the membership, and cancelling or
replacing an invitation deletes its row, so its link says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from ..models import Invitation, Membership, Organization
from .people import person_name

SALT = "sendon_results.accounts.invitation"


class Problem(StrEnum):
    """Why a link cannot be used; the page says it in words (accounts/members.py)."""

    TAMPERED = "tampered"  # not a link this console signed: cut short or changed
    EXPIRED = "expired"  # older than INVITE_DAYS
    WITHDRAWN = "withdrawn"  # cancelled by an owner, or replaced by a newer invitation
    USED = "used"  # accepted already


class InvitationError(Exception):
    def __init__(self, problem: Problem, invitation: Invitation | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.invitation = invitation


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    expires_at: dt.datetime


def expires_at(invitation: Invitation) -> dt.datetime:
    return invitation.created_at + dt.timedelta(days=settings.INVITE_DAYS)


def make_token(invitation: Invitation) -> str:
    payload = {
        "id": invitation.pk,
        "organization": invitation.organization_id,
        "email": invitation.email,
        "role": invitation.role,
        "by": invitation.invited_by_id,
    }
    return signing.dumps(payload, salt=SALT)


def link_for(invitation: Invitation) -> str:
    """The address mailed: the console's public one (never the request's Host header, which
    the visitor writes)."""
    path = reverse("invitation", kwargs={"token": make_token(invitation)})
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def invite(*, organization: Organization, email: str, role: str, invited_by: User) -> Sent:
    """A new invitation, mailed. One pending invitation per address and organization: once
    the mail is sent, a newer one replaces the older (whose link stops working). If the
    mail cannot be sent, nothing changes and the error is raised."""
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=role, invited_by=invited_by
    )
    try:
        _mail(invitation)
    except Exception:
        invitation.delete()  # the earlier invitation, if any, still holds
        raise
    Invitation.objects.filter(
        organization=organization, email__iexact=email, accepted_at__isnull=True
    ).exclude(pk=invitation.pk).delete()
    return Sent(invitation, expires_at(invitation))


def _mail(invitation: Invitation) -> None:
    # In Korean, the console's language: the inviter's choice of language says nothing of
    # the person invited.
    with translation.override(settings.LANGUAGE_CODE):
        context: dict[str, Any] = {
            "invitation": invitation,
            "inviter": person_name(invitation.invited_by) if invitation.invited_by else "",
            "link": link_for(invitation),
            "expires_at": expires_at(invitation),
        }
        subject = render_to_string("accounts/invitation_subject.txt", context)
        body = render_to_string("accounts/invitation_email.txt", context)
    send_mail(" ".join(subject.split()), body, None, [invitation.email])


def read_token(token: str) -> Invitation:
    """The pending invitation the link names, or InvitationError saying why not."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=dt.timedelta(days=settings.INVITE_DAYS))
    except signing.SignatureExpired:
        # The signature holds, only the time is past: name the invitation on the page.
        payload = signing.loads(token, salt=SALT)
        raise InvitationError(Problem.EXPIRED, _named(payload)) from None
    except signing.BadSignature:
        raise InvitationError(Problem.TAMPERED) from None
    invitation = _named(payload)
    if invitation is None:
        raise InvitationError(Problem.WITHDRAWN)
    if invitation.accepted_at is not None:
        raise InvitationError(Problem.USED, invitation)
    return invitation


def _named(payload: Any) -> Invitation | None:
    """The invitation a signed payload names: its row, as long as the row still says what
    the link says."""
    try:
        pk, organization_id = int(payload["id"]), int(payload["organization"])
        email, role = str(payload["email"]), str(payload["role"])
    except (KeyError, TypeError, ValueError):
        return None
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(pk=pk, organization_id=organization_id, email=email, role=role)
        .first()
    )


def is_for(invitation: Invitation, user: AbstractBaseUser) -> bool:
    """Whether the signed-in user is the person invited: their account has that email."""
    email = getattr(user, "email", "") or ""
    return email.casefold() == invitation.email.casefold()


def accept(invitation: Invitation, user: User) -> Membership:
    """Makes the user a member with the invitation's role and uses the invitation up; in
    the caller's transaction when there is one (an account made for it is undone with it).
    A second acceptance, even at the same moment, raises InvitationError(USED)."""
    with transaction.atomic():
        taken = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now(), accepted_by=user
        )
        if not taken:
            raise InvitationError(Problem.USED, invitation)
        membership, _ = Membership.objects.get_or_create(
            user=user, organization=invitation.organization, defaults={"role": invitation.role}
        )
    return membership
