"""Send statements (발송내역서): an organization's figures for a period and scope, as a
PDF numbered per organization and month, with a code anyone can verify it by."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _

from .jobs import Job
from .sends import Channel, SenderProfile


class Statement(Job):
    """One statement: what it covers (period, sender, channel, whether the sends are
    listed), its number and code, and, once made, the figures it prints and their
    fingerprint (kept, so the verification page shows them as long as it lives)."""

    built_fields = ("figures", "fingerprint")

    number = models.CharField(_("statement number"), max_length=32)  # ST-2026-11-0001
    verification_code = models.CharField(max_length=16, unique=True)  # printed with the QR code
    period_from = models.DateField(_("period start"))
    period_to = models.DateField(_("period end"))  # inclusive, Korea time
    # PROTECT, as a send's sender: a statement of one sender must not turn into one of all
    # senders (what SET_NULL would make of it) if that sender is deleted.
    sender = models.ForeignKey(
        SenderProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sender"),
    )
    channel = models.CharField(_("channel"), max_length=12, choices=Channel, blank=True)
    appendix = models.BooleanField(_("sends listed"), default=True)  # up to APPENDIX_LIMIT
    figures = models.JSONField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)  # SHA-256 of the figures
    file = models.FileField(upload_to="statements/%Y/%m/", blank=True)

    class Meta(Job.Meta):
        verbose_name = _("send statement")
        verbose_name_plural = _("send statements")
        constraints = [
            # Numbers go on without gaps within an organization (statements.codes); this
            # index also finds the month's highest number.
            models.UniqueConstraint(
                fields=["organization", "number"], name="statement_number_unique"
            )
        ]

    def __str__(self) -> str:
        return self.number

    def expiry_on_retry(self, now: dt.datetime) -> dt.datetime:
        # A statement's life follows the records it sums up, not its retries.
        return self.expires_at
