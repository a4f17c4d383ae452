"""Daily tallies of sends and deliveries, so that a summary, the dashboard and the failure
analysis read a few thousand rows instead of millions.

A tally row holds what every send (or delivery) of one organization's Korea-time day with
the same dimensions adds up to. The rows are kept exact in the same transactions that
change sends and deliveries (see `sendon_results.tallies`), and `rebuild_tallies`
recounts them from the rows themselves.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .accounts import Organization
from .sends import Channel, Delivery, SenderProfile, SendRequest, Source


class SendTallyColumns(models.Model):
    """Sends by sender, channel, source and processing status, and what they add up to:
    what a day's tally row and a month's hold."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    sender = models.ForeignKey(
        SenderProfile, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=12, choices=Channel)
    source = models.CharField(max_length=10, choices=Source)
    status = models.CharField(max_length=12, choices=SendRequest.Status)
    sends = models.BigIntegerField(default=0)
    recipients = models.BigIntegerField(default=0)
    success = models.BigIntegerField(default=0)
    failure = models.BigIntegerField(default=0)
    sending = models.BigIntegerField(default=0)
    waiting = models.BigIntegerField(default=0)
    cancelled = models.BigIntegerField(default=0)
    points_charged = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    points_refunded = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        abstract = True


class SendTally(SendTallyColumns):
    """Sends of one day: what the list's summary and the dashboard's days, senders,
    channels and points read."""

    # The Korea-time day of the sends' requested_at: the day the list's period filter uses.
    day = models.DateField()

    class Meta:
        verbose_name = _("send tally")
        verbose_name_plural = _("send tallies")
        constraints = [
            # Also the index every reader uses: one organization, a range of days.
            models.UniqueConstraint(
                fields=["organization", "day", "sender", "channel", "source", "status"],
                name="send_tally_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.status}: {self.sends}"


class SendMonthTally(SendTallyColumns):
    """The daily send tallies of one Korea-time month summed, kept beside them by the same
    writes: a year's summary reads the months it covers whole here and only the days of
    the others in the daily tallies, a twentieth of the rows."""

    month = models.DateField()  # its first day

    class Meta:
        verbose_name = _("monthly send tally")
        verbose_name_plural = _("monthly send tallies")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "month", "sender", "channel", "source", "status"],
                name="send_month_tally_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.channel} {self.status}: {self.sends}"


class DeliveryTally(models.Model):
    """Deliveries of one day by their send's sender and channel, the channel they finally
    went by, their outcome, result code and carrier: what the failure analysis and the
    fallback rate read."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    sender = models.ForeignKey(
        SenderProfile, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=12, choices=Channel)
    final_channel = models.CharField(max_length=12, choices=Channel)
    status = models.CharField(max_length=10, choices=Delivery.Status)
    result_code = models.CharField(max_length=20)
    carrier = models.CharField(max_length=20)
    deliveries = models.BigIntegerField(default=0)
    points_charged = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    points_refunded = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("delivery tally")
        verbose_name_plural = _("delivery tallies")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "day",
                    "sender",
                    "channel",
                    "final_channel",
                    "status",
                    "result_code",
                    "carrier",
                ],
                name="delivery_tally_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.day} {self.final_channel} {self.status} {self.result_code}: {self.deliveries}"
        )
