"""The access record (접속기록): who handled which personal data, when, from where.

Append-only. The application refuses to change or delete an event (save() of a stored
event, delete(), and the QuerySet's update() and delete() raise AccessRecordIsAppendOnly;
the admin shows events read-only); on PostgreSQL a trigger (migration 0016) refuses
UPDATE and DELETE whatever the client, except the retention purge's DELETE, made in a
transaction that set `sendon.audit_purge` on, and the `SET NULL` that deleting a user or
an organization makes (the copies of their names stay).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .accounts import Organization

USER_AGENT_MAX_LENGTH = 300
USERNAME_MAX_LENGTH = 150  # Django's User.username


class AccessRecordIsAppendOnly(Exception):
    """An attempt to change or delete an event of the access record."""


class AccessEventQuerySet(models.QuerySet["AccessEvent"]):
    # Deleting a user or an organization sets their foreign keys to NULL through Django's
    # plain base manager, not this QuerySet: that is the one change an event allows.
    def update(self, **kwargs: Any) -> NoReturn:
        raise AccessRecordIsAppendOnly("the access record is append-only")

    def delete(self) -> NoReturn:
        raise AccessRecordIsAppendOnly("only the retention purge deletes from the access record")

    def for_org(self, organization: Organization) -> AccessEventQuerySet:
        return self.filter(organization=organization)


class AccessEvent(models.Model):
    class Action(models.TextChoices):
        SIGNED_IN = "signed_in", _("Signed in")
        SIGNED_OUT = "signed_out", _("Signed out")
        SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
        SENDS_SEARCHED = "sends_searched", _("Searched sends by recipient")
        SEND_VIEWED = "send_viewed", _("Viewed a send")
        NUMBERS_REVEALED = "numbers_revealed", _("Revealed numbers")
        EXPORT_REQUESTED = "export_requested", _("Asked for an export")
        EXPORT_DOWNLOADED = "export_downloaded", _("Downloaded an export")
        STATEMENT_ISSUED = "statement_issued", _("Issued a statement")
        STATEMENT_DOWNLOADED = "statement_downloaded", _("Downloaded a statement")
        STATEMENT_VERIFIED = "statement_verified", _("Looked up a statement code")
        API_KEY_CREATED = "api_key_created", _("Created an API key")
        API_KEY_REVOKED = "api_key_revoked", _("Revoked an API key")
        MEMBER_INVITED = "member_invited", _("Invited a member")
        MEMBER_JOINED = "member_joined", _("Joined the organization")
        ROLE_CHANGED = "role_changed", _("Changed a role")
        MEMBER_REMOVED = "member_removed", _("Removed a member")
        RECORD_EXPORTED = "record_exported", _("Exported the access record")
        SEND_CANCEL_ASKED = "send_cancel_asked", _("Asked to cancel a reservation")
        SEND_NOW_ASKED = "send_now_asked", _("Asked to send a reservation now")
        SEND_RESEND_ASKED = "send_resend_asked", _("Asked to resend to the failed")
        PLATFORM_ENDPOINT_SET = "platform_endpoint_set", _("Set the platform endpoint")
        PLATFORM_SECRET_ROTATED = "platform_secret_rotated", _("Rotated the platform secret")

    at = models.DateTimeField(_("at"), default=timezone.now)
    action = models.CharField(_("action"), max_length=32, choices=Action)
    # Who: the user while they exist, and their username for ever (SET_NULL keeps the
    # event when the account goes). Empty for a public page's visitor; for a failed
    # sign-in, the username that was typed (which may belong to nobody).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # access_user_org_at starts with it
    )
    username = models.CharField(_("username"), max_length=USERNAME_MAX_LENGTH, blank=True)
    # Whose data: the organization worked in (or the statement's, for a verification),
    # and its name for ever. None for a sign-in failure of a username nobody has.
    organization = models.ForeignKey(
        Organization,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # access_org_at starts with it
    )
    organization_name = models.CharField(_("organization"), max_length=200, blank=True)
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=USER_AGENT_MAX_LENGTH, blank=True)
    # Which object: its model (`sendrequest`, `export`, `statement`, `apikey`,
    # `membership`, `invitation`) and id.
    object_type = models.CharField(_("object type"), max_length=32, blank=True)
    object_id = models.BigIntegerField(_("object id"), null=True, blank=True)
    # What else: filters, masked or revealed, reason, rows, code, role… Never a phone
    # number in full, a recipient's name or a message body (audit/events.py).
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("access event")
        verbose_name_plural = _("access record")
        indexes = [
            # /audit/: an organization's events newest first, keyset on (at, id); and the
            # period filter.
            models.Index(fields=["organization", "-at", "-id"], name="access_org_at"),
            # /audit/?person=…; also what deleting a user sets to NULL (user_id = …).
            models.Index(fields=["user", "organization", "-at", "-id"], name="access_user_org_at"),
            # /audit/?action=… (a rare action need not walk the whole organization's record).
            models.Index(fields=["organization", "action", "-at", "-id"], name="access_org_action"),
            # The retention purge: events older than AUDIT_RETENTION_DAYS, oldest first.
            models.Index(fields=["at"], name="access_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username or '-'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AccessRecordIsAppendOnly("an event of the access record is never changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AccessRecordIsAppendOnly("only the retention purge deletes from the access record")
