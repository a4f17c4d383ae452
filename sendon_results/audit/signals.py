"""Sign-in, sign-out and failed sign-in, from Django's signals (connected in apps.py).

A person signs in to the console, not to one organization: the event is written once for
each organization they belong to (one multi-row INSERT), so that every owner sees their
members' sign-ins. A failed sign-in is written for the organizations of the account whose
username was typed, if there is one (else with no organization: staff see it in the
admin). A sign-in the throttle refuses (accounts/throttle.py) sends user_login_failed
itself, without checking the password; it is recorded the same way, marked throttled.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from ..models import AccessEvent, Membership, Organization
from .events import Action, new_event

THROTTLE_SENDER = "sendon_results.accounts.throttle"


def _record_for_each_organization(
    request: HttpRequest | None,
    action: str,
    *,
    user: AbstractBaseUser | None,
    username: str,
    detail: dict[str, Any] | None = None,
) -> None:
    organizations: list[Organization | None] = (
        [
            membership.organization
            for membership in Membership.objects.filter(user_id=user.pk)
            .select_related("organization")
            .order_by("organization_id")
        ]
        if user is not None
        else []
    )
    AccessEvent.objects.bulk_create(
        new_event(
            request,
            action,
            user=user,
            username=username,
            organization=organization,
            detail=detail,
        )
        for organization in organizations or [None]  # no organization: still recorded
    )


@receiver(user_logged_in, dispatch_uid="sendon_results.audit.signed_in")
def _signed_in(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    _record_for_each_organization(
        request, Action.SIGNED_IN, user=user, username=user.get_username()
    )


@receiver(user_logged_out, dispatch_uid="sendon_results.audit.signed_out")
def _signed_out(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser | None, **kwargs: Any
) -> None:
    if user is None:  # signing out of no sign-in
        return
    _record_for_each_organization(
        request, Action.SIGNED_OUT, user=user, username=user.get_username()
    )


@receiver(user_login_failed, dispatch_uid="sendon_results.audit.sign_in_failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    model = get_user_model()
    typed = str(credentials.get(model.USERNAME_FIELD, ""))
    # The account that was tried, found as the sign-in backend finds it (exactly).
    account = (
        model._default_manager.filter(**{model.USERNAME_FIELD: typed.replace("\x00", "")}).first()
        if typed
        else None
    )
    detail = {"throttled": True} if sender == THROTTLE_SENDER else None
    _record_for_each_organization(
        request, Action.SIGN_IN_FAILED, user=account, username=typed, detail=detail
    )
