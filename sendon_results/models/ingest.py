"""What the ingest API keeps besides sends: its keys, and results that came early."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .accounts import Organization


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key the sending platform uses for one organization; only its hash is kept."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    # The key is "sr_<prefix>_<secret>": the prefix finds the row, the secret's SHA-256 is
    # compared in constant time.
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} (sr_{self.prefix}_…)"


class PendingResult(models.Model):
    """A recipient's result that arrived before its send: applied when the send comes."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    send_external_id = models.CharField(max_length=100)
    recipient_external_id = models.CharField(max_length=100)
    result = models.JSONField()  # the validated result, as posted
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Applying a send's waiting results when the send arrives; counting an
            # organization's waiting results against PENDING_RESULT_LIMIT.
            models.Index(fields=["organization", "send_external_id"], name="pending_send"),
            # The nightly purge of results whose send never came.
            models.Index(fields=["received_at"], name="pending_received"),
        ]

    def __str__(self) -> str:
        return f"{self.send_external_id}/{self.recipient_external_id}"
