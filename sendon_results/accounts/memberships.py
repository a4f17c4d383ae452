"""Changing who belongs to an organization, and as what, without ever leaving it without an
owner.

Each change locks the organization's memberships (`SELECT … FOR UPDATE`) and only then
reads who the owners are: two owners demoting each other at the same moment take turns,
and the second finds the first change made (and may not be an owner any more). Locking
the memberships rather than the organization's row leaves that row to statement numbers.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ..models import Membership, Organization

Role = Membership.Role


class LastOwner(Exception):
    """The change would leave the organization without an owner."""


class NotAnOwner(Exception):
    """The one asking is no longer an owner (another owner changed that meanwhile)."""


def change_role(
    *, organization: Organization, actor: AbstractBaseUser, member_id: int, role: str
) -> Membership:
    """Gives the membership `member_id` of `organization` the role; Membership.DoesNotExist
    when it is not one of the organization's."""
    with transaction.atomic():
        memberships = _locked(organization, actor)
        membership = _one_of(memberships, member_id)
        if membership.role == Role.OWNER and role != Role.OWNER:
            _keep_an_owner(memberships, membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def remove_member(
    *, organization: Organization, actor: AbstractBaseUser, member_id: int
) -> Membership:
    """Takes the membership out of the organization (the account stays, and so do the
    statements it issued); Membership.DoesNotExist when it is not one of the
    organization's."""
    with transaction.atomic():
        memberships = _locked(organization, actor)
        membership = _one_of(memberships, member_id)
        if membership.role == Role.OWNER:
            _keep_an_owner(memberships, membership)
        membership.delete()
    return membership


def _locked(organization: Organization, actor: AbstractBaseUser) -> list[Membership]:
    """Every membership of the organization, locked, once the actor is found still to be
    an owner among them."""
    memberships = list(
        Membership.objects.select_for_update(of=("self",))
        .filter(organization=organization)
        .select_related("user")
        .order_by("pk")  # one order for every locker: no deadlock between two of them
    )
    if not any(m.user_id == actor.pk and m.role == Role.OWNER for m in memberships):
        raise NotAnOwner
    return memberships


def _one_of(memberships: list[Membership], member_id: int) -> Membership:
    found = next((m for m in memberships if m.pk == member_id), None)
    if found is None:
        raise Membership.DoesNotExist
    return found


def _keep_an_owner(memberships: list[Membership], leaving: Membership) -> None:
    if not any(m.role == Role.OWNER and m.pk != leaving.pk for m in memberships):
        raise LastOwner
