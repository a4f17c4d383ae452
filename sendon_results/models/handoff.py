"""What the console hands to the sending platform: the organization's endpoint and the
outbox of signed requests (cancel a reservation, send it now, a test), each delivered
until the platform answers or a day has passed (see `sendon_results.handoff`)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .accounts import Organization


class PlatformEndpoint(models.Model):
    """Where an organization's requests go, and the secret they are signed with. After a
    rotation the previous secret signs too until `previous_until`, so the platform can
    change its copy without missing a request."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="platform_endpoint"
    )
    url = models.URLField(_("endpoint URL"), max_length=500)
    # Where a summary of each send that reaches its end goes, signed the same way; blank:
    # no notifications.
    notify_url = models.URLField(_("result notification URL"), max_length=500, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("platform endpoint")
        verbose_name_plural = _("platform endpoints")

    def __str__(self) -> str:
        return self.url


class OutboxMessage(models.Model):
    class Kind(models.TextChoices):
        CANCEL = "cancel", _("Cancel the reservation")
        SEND_NOW = "send_now", _("Send now")
        RESEND = "resend", _("Resend to the failed")
        NOTIFY = "notify", _("Result notification")
        TEST = "test", _("Test")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for the platform")
        ACCEPTED = "accepted", _("Accepted")
        REFUSED = "refused", _("Refused")
        GAVE_UP = "gave_up", _("Not delivered")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind)
    # The send it is about (none for a test). No foreign key: sends are partitioned by
    # month on PostgreSQL and no key can point at them; requested_at finds its month.
    send_id = models.BigIntegerField(null=True, blank=True)
    send_requested_at = models.DateTimeField(null=True, blank=True)
    # The send's status before the request moved it (reserved): what it goes back to when
    # the platform refuses or is never reached.
    previous_status = models.CharField(max_length=12, blank=True)
    # Sent as Idempotency-Key and as the body's id: a request delivered twice (a retry
    # after a lost answer, a worker killed mid-delivery) is the same request.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    body = models.JSONField()
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # When the next try is due; None once settled.
    next_try_at = models.DateTimeField(null=True, blank=True)
    # Every try: {"at": ISO time, "status": HTTP status or None, "ms": answer time,
    # "error": what went wrong, when something did}.
    tries = models.JSONField(default=list)
    # The platform's reason for a refusal, or why the console gave up (plain text, shown
    # escaped).
    answer = models.CharField(_("answer"), max_length=300, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            # The settings page's last 50, and a send's own requests.
            models.Index(fields=["organization", "-created_at"], name="outbox_org_created"),
            models.Index(fields=["send_id", "-created_at"], name="outbox_send_created"),
            # What the deliverer picks up: pending and due.
            models.Index(fields=["next_try_at"], condition=Q(state="pending"), name="outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

    @property
    def last_try(self) -> dict[str, object] | None:
        return self.tries[-1] if self.tries else None

    @property
    def tries_made(self) -> list[dict[str, object]]:
        """The tries with their moments as datetimes (pages show them in Korea time)."""
        return [{**made, "at": dt.datetime.fromisoformat(made["at"])} for made in self.tries]
