"""Delivery confirmations (발송확인서): the messages an organization sent to one number in
a period, as a one-page PDF numbered per organization and month, with a code anyone can
verify it by. A document of its own beside the statement: a statement sums up sends, a
confirmation lists one person's messages, and only the confirmation holds a number."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _

from .jobs import Job


class Confirmation(Job):
    """One confirmation: the number and period it covers, whether it prints the number in
    full, its own number and code, and, once made, what it prints (with the number masked)
    and their fingerprint, kept for the verification page as long as it lives."""

    built_fields = ("figures", "fingerprint")

    number = models.CharField(_("confirmation number"), max_length=32)  # CF-2026-11-0001
    verification_code = models.CharField(max_length=16, unique=True)
    # The recipient's number as stored (digits): the job reads the deliveries by it. Shown
    # and printed masked, unless `unmasked`; never in the figures nor the access record.
    recipient = models.CharField(_("recipient"), max_length=20)
    # Printed in full: asked for by a member who may see numbers; downloaded only by such.
    unmasked = models.BooleanField(_("full number"), default=False)
    period_from = models.DateField(_("period start"))
    period_to = models.DateField(_("period end"))  # inclusive, Korea time
    figures = models.JSONField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)  # SHA-256 of the figures
    file = models.FileField(upload_to="confirmations/%Y/%m/", blank=True)

    class Meta(Job.Meta):
        verbose_name = _("delivery confirmation")
        verbose_name_plural = _("delivery confirmations")
        constraints = [
            # Numbers go on without gaps within an organization (statements.codes); this
            # index also finds the month's highest number.
            models.UniqueConstraint(
                fields=["organization", "number"], name="confirmation_number_unique"
            )
        ]
        indexes = [
            *Job.Meta.indexes,
            # The history page of a number: the confirmations issued for it, newest first.
            models.Index(
                fields=["organization", "recipient", "-created_at"],
                name="confirmation_org_recipient",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def expiry_on_retry(self, now: dt.datetime) -> dt.datetime:
        # A confirmation's life follows the records it lists, not its retries.
        return self.expires_at
