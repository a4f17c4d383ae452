"""What the sending platform reports: send requests and each recipient's delivery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Self, TypeVar

from django.db import models
from django.db.models import F, Func, Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..masking import mask_phone
from ..phones import format_phone
from .accounts import Organization

# Every moment a send or a delivery holds lies in these years. The API keeps far tighter
# windows; the database refuses anything outside this range however it is written, so no
# stored row can overflow a date in Korea time or sort a send above every other for ever.
EARLIEST_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_MOMENT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

_Model = TypeVar("_Model", bound=models.Model)


def _in_range(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(
        **{f"{field}__gte": EARLIEST_MOMENT, f"{field}__lt": LATEST_MOMENT}
    )


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    LMS = "lms", "LMS"
    MMS = "mms", "MMS"
    ALIMTALK = "alimtalk", _("AlimTalk")
    FRIENDTALK = "friendtalk", _("FriendTalk")

    @classmethod
    def is_kakao(cls, value: str) -> bool:
        return value in (cls.ALIMTALK, cls.FRIENDTALK)


class Source(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", "API"


class SenderProfile(models.Model):
    class Kind(models.TextChoices):
        PHONE = "phone", _("Calling number")
        KAKAO = "kakao", _("Kakao profile")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sender_profiles"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    # The calling number as digits, or the Kakao channel's profile key.
    value = models.CharField(_("value"), max_length=100)
    # What people call it: the Kakao channel's @name, or a note for a number.
    label = models.CharField(_("label"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sender profile")
        verbose_name_plural = _("sender profiles")
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "value"], name="sender_profile_unique"
            )
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.PHONE:
            number = format_phone(self.value)
            return f"{number} ({self.label})" if self.label else number
        return self.label or self.value


class RequestedAtQuerySet(models.QuerySet[_Model]):
    """Rows with a requested_at: sends, and deliveries, which carry their send's."""

    def requested_between(self, start: dt.datetime | None, end: dt.datetime | None) -> Self:
        """Rows of sends requested in [start, end); either bound may be open."""
        qs = self
        if start is not None:
            qs = qs.filter(requested_at__gte=start)
        if end is not None:
            qs = qs.filter(requested_at__lt=end)
        return qs


class SendRequestQuerySet(RequestedAtQuerySet["SendRequest"]):
    def for_org(self, organization: Organization) -> SendRequestQuerySet:
        return self.filter(organization=organization)

    def with_outcome(self, outcomes: list[str]) -> SendRequestQuerySet:
        """Sends with at least one delivery in any of the outcomes, read off the counts."""
        condition = Q()
        for outcome in outcomes:
            condition |= Q(**{f"{outcome}_count__gt": 0})
        return self.filter(condition)

    def with_recipient(
        self,
        organization: Organization,
        numbers: list[str],
        endings: list[str] | None = None,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> SendRequestQuerySet:
        """Sends to any of these numbers (digits), or to a number ending in any of these
        four digits. `start` and `end` ([start, end), either open) bound the deliveries
        looked at, by their own requested_at: give this queryset's own period, so that
        PostgreSQL reads the deliveries of its months only, not of every month kept."""
        deliveries = Delivery.objects.filter(organization=organization).requested_between(
            start, end
        )
        sends = deliveries.to_recipients(numbers, endings)
        return self.filter(id__in=sends.values("send_request_id"))


class SendRequest(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        RESERVED = "reserved", _("Reserved")
        CANCELLED = "cancelled", _("Reservation cancelled")
        SENDING_NOW = "sending_now", _("Sending now")
        CANCELLING = "cancelling", _("Cancelling")

    # No index of its own: every index below starts with the organization.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="send_requests", db_index=False
    )
    external_id = models.CharField(_("platform id"), max_length=100)
    requested_at = models.DateTimeField(_("requested at"))
    source = models.CharField(_("source"), max_length=10, choices=Source)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel)
    sender = models.ForeignKey(
        SenderProfile,
        on_delete=models.PROTECT,
        related_name="send_requests",
        verbose_name=_("sender"),
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    body = models.TextField(_("message body"))
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    fallback = models.BooleanField(_("fallback text"), default=False)
    status = models.CharField(_("processing status"), max_length=12, choices=Status)
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    points_charged = models.DecimalField(
        _("points charged"), max_digits=14, decimal_places=2, default=0
    )
    points_refunded = models.DecimalField(
        _("points refunded"), max_digits=14, decimal_places=2, default=0
    )
    # Denormalised from the deliveries so a list page never aggregates them; kept in step
    # in the same transaction as the delivery results that change them.
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0)
    success_count = models.PositiveIntegerField(_("success"), default=0)
    failure_count = models.PositiveIntegerField(_("failure"), default=0)
    sending_count = models.PositiveIntegerField(pgettext_lazy("outcome", "sending"), default=0)
    # Defaults in the database too, for the bulk inserts of seed_scale.
    waiting_count = models.PositiveIntegerField(
        pgettext_lazy("outcome", "waiting"), default=0, db_default=0
    )
    cancelled_count = models.PositiveIntegerField(
        pgettext_lazy("outcome", "cancelled"), default=0, db_default=0
    )
    # The platform id of the send this one resends to its failed recipients (실패 건
    # 재발송, asked from the console and recorded by the platform), or "".
    resend_of = models.CharField(
        _("resend of"), max_length=100, blank=True, default="", db_default=""
    )
    # SHA-256 of the send as the platform posted it: a replay with the same content is the
    # same send, with other content a conflict.
    content_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SendRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("send request")
        verbose_name_plural = _("send requests")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], name="send_request_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(
                    recipient_count=F("success_count")
                    + F("failure_count")
                    + F("sending_count")
                    + F("waiting_count")
                    + F("cancelled_count")
                ),
                name="send_request_counts_add_up",
            ),
            models.CheckConstraint(
                condition=_in_range("requested_at") & _in_range("scheduled_at"),
                name="send_request_moments_in_range",
            ),
        ]
        # Every list query is "this organization, newest first, keyset on (requested_at,
        # id)", so each index ends in requested_at, id to deliver rows already in order.
        indexes = [
            # The unfiltered list and the period filter; also oldest-first (scanned backwards).
            models.Index(
                fields=["organization", "-requested_at", "-id"], name="send_org_requested"
            ),
            # status=… (one or several processing statuses).
            models.Index(
                fields=["organization", "status", "-requested_at", "-id"],
                name="send_org_status_requested",
            ),
            # sender=… (a sender profile).
            models.Index(
                fields=["organization", "sender", "-requested_at", "-id"],
                name="send_org_sender_requested",
            ),
            # channel=… (SMS/LMS/MMS/AlimTalk/FriendTalk).
            models.Index(
                fields=["organization", "channel", "-requested_at", "-id"],
                name="send_org_channel_requested",
            ),
            # outcome=failure: sends with at least one failed delivery. Failures are a
            # small share of sends, so a partial index keeps a deep failure page cheap.
            models.Index(
                fields=["organization", "-requested_at", "-id"],
                condition=Q(failure_count__gt=0),
                name="send_org_has_failure",
            ),
            # outcome=sending: sends still waiting for some result. (outcome=success needs
            # no index of its own: nearly every send has one, so send_org_requested serves.)
            models.Index(
                fields=["organization", "-requested_at", "-id"],
                condition=Q(sending_count__gt=0),
                name="send_org_has_sending",
            ),
            # outcome=waiting and outcome=cancelled: reservations, a small share of sends.
            models.Index(
                fields=["organization", "-requested_at", "-id"],
                condition=Q(waiting_count__gt=0),
                name="send_org_has_waiting",
            ),
            models.Index(
                fields=["organization", "-requested_at", "-id"],
                condition=Q(cancelled_count__gt=0),
                name="send_org_has_cancelled",
            ),
            # A send's resends, for its page: the few sends that are one.
            models.Index(
                fields=["organization", "resend_of"],
                condition=~Q(resend_of=""),
                name="send_org_resend_of",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.get_channel_display()})"

    @property
    def status_help(self) -> str:
        return str(STATUS_HELP[self.status])

    @property
    def first_line(self) -> str:
        return self.body.strip().splitlines()[0] if self.body.strip() else ""

    @property
    def points_net(self) -> object:
        return self.points_charged - self.points_refunded

    def failure_breakdown(self, limit: int = 50) -> dict[str, object]:
        """The failure codes of this send, by the channel they came back from, most common
        first: every one of them (carriers and KakaoTalk return a few dozen), unless the
        platform sent more than `limit` kinds; `others` counts the failures not listed."""
        if not self.failure_count:
            return {"rows": [], "others": 0}
        rows = list(
            Delivery.objects.of_send(self)
            .filter(status=Delivery.Status.FAILURE)
            .values("result_code", "final_channel")
            .annotate(count=models.Count("id"))
            .order_by("-count", "result_code", "final_channel")[:limit]
        )
        return {"rows": rows, "others": self.failure_count - sum(row["count"] for row in rows)}

    def outcome_counts(self) -> dict[str, int]:
        """Recipients per outcome, in Delivery.Status order."""
        return {outcome: getattr(self, f"{outcome}_count") for outcome in Delivery.Status.values}


STATUS_HELP: dict[str, Promise] = {
    SendRequest.Status.IN_PROGRESS: _(
        "Being transmitted through the carriers; waiting for their results."
    ),
    SendRequest.Status.COMPLETED: _("Every recipient's success or failure is known."),
    SendRequest.Status.FAILED: _(
        "The request itself failed, e.g. not enough points for the fallback text."
    ),
    SendRequest.Status.RESERVED: _("Scheduled for later; waiting to be sent."),
    SendRequest.Status.CANCELLED: _("The reservation was cancelled; nothing was sent."),
    SendRequest.Status.SENDING_NOW: _("A waiting reservation released to send immediately."),
    SendRequest.Status.CANCELLING: _("A cancellation was requested and is being processed."),
}


class RecipientEnding(Func):
    """A number's last four digits, as the recipient search matches them. Written without
    parameters, so that the query spells the expression exactly as the index
    delivery_org_recipient_end does (SQLite uses an index on an expression only then)."""

    template = "RIGHT(%(expressions)s, 4)"
    output_field = models.CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="SUBSTR(%(expressions)s, -4)", **extra)


class DeliveryQuerySet(RequestedAtQuerySet["Delivery"]):
    def of_send(self, send: SendRequest) -> DeliveryQuerySet:
        """This send's deliveries. Use it rather than `send.deliveries`: the month of the
        send's requested_at names the one partition they are in (PostgreSQL), where the
        send alone would have every kept month's partition looked into."""
        return self.filter(send_request=send, requested_at=send.requested_at)

    def of_sends(self, sends: Iterable[SendRequest]) -> DeliveryQuerySet:
        """The deliveries of these sends, from the months between the first and the last."""
        sends = list(sends)
        if not sends:
            return self.none()
        moments = [send.requested_at for send in sends]
        return self.filter(send_request__in=[send.pk for send in sends]).requested_within(
            min(moments), max(moments)
        )

    def requested_within(self, first: dt.datetime, last: dt.datetime) -> DeliveryQuerySet:
        """Deliveries of sends requested from `first` to `last`, both included: the
        earliest and latest of a set of sends, whose months PostgreSQL then reads alone."""
        return self.filter(requested_at__gte=first, requested_at__lte=last)

    def bulk_create(  # type: ignore[override]
        self, objs: Iterable[Delivery], batch_size: int | None = None, **options: Any
    ) -> list[Delivery]:
        """Sets each delivery's requested_at from its send, as Delivery.save does."""
        deliveries = list(objs)
        for delivery in deliveries:
            if delivery.requested_at is None:
                delivery.requested_at = delivery.send_request.requested_at
        return super().bulk_create(deliveries, batch_size, **options)

    def to_recipients(
        self, numbers: list[str], endings: list[str] | None = None
    ) -> DeliveryQuerySet:
        """Deliveries to any of these numbers (digits), or to a number ending in any of these
        four digits."""
        condition = Q(recipient__in=numbers)
        if endings:
            condition |= Q(recipient_ending__in=endings)
        return self.alias(recipient_ending=RecipientEnding("recipient")).filter(condition)


class Delivery(models.Model):
    class Status(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")
        SENDING = "sending", pgettext_lazy("outcome", "Sending")
        # Messages that never went out: a reservation's, not yet handed to a carrier, and
        # a cancelled reservation's (refunded in full; neither a success nor a failure).
        WAITING = "waiting", pgettext_lazy("outcome", "Waiting")
        CANCELLED = "cancelled", pgettext_lazy("outcome", "Cancelled")

    # Indexed by delivery_send_id below. No constraint of Django's: on PostgreSQL each
    # month's deliveries reference that month's sends by (send_request_id, requested_at)
    # (migration 0024), a key Django cannot declare. Deleting a send still deletes its
    # deliveries (Django's cascade, as before).
    send_request = models.ForeignKey(
        SendRequest,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    # The send's requested_at, copied: PostgreSQL keeps deliveries in monthly partitions of
    # it as it keeps sends, so a month of both goes at once and a send's deliveries are
    # read from one month's partition. Set from the send when saved.
    requested_at = models.DateTimeField(_("requested at"), editable=False)
    # Copied from the send so "which sends went to this number" is one index lookup
    # inside the organization, never a join across every organization's deliveries.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    external_id = models.CharField(_("platform id"), max_length=100)
    recipient = models.CharField(_("recipient"), max_length=20)  # digits only
    recipient_name = models.CharField(_("recipient name"), max_length=100, blank=True)
    status = models.CharField(_("outcome"), max_length=10, choices=Status)
    result_code = models.CharField(_("result code"), max_length=20, blank=True)
    # The platform's own text for the code, kept beside our explanation.
    result_message = models.CharField(_("result message"), max_length=300, blank=True)
    final_channel = models.CharField(_("final channel"), max_length=12, choices=Channel)
    carrier = models.CharField(_("carrier"), max_length=20, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    points_charged = models.DecimalField(
        _("points charged"), max_digits=10, decimal_places=2, default=0
    )
    points_refunded = models.DecimalField(
        _("points refunded"), max_digits=10, decimal_places=2, default=0
    )

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            # With requested_at, which every delivery of a send shares, so the same rows
            # are unique: PostgreSQL wants the partition key in every unique index.
            models.UniqueConstraint(
                fields=["send_request", "external_id", "requested_at"],
                name="delivery_external_id_unique",
            ),
            models.CheckConstraint(
                condition=_in_range("sent_at") & _in_range("completed_at"),
                name="delivery_moments_in_range",
            ),
        ]
        indexes = [
            # The detail page: one send's deliveries in id order, keyset on id. With
            # requested_at, which every query of a send's deliveries names (of_send): asked
            # for both columns, PostgreSQL takes their rows as rarer than they are and would
            # rather sort all of a big send's deliveries through another index.
            models.Index(fields=["send_request", "requested_at", "id"], name="delivery_send_id"),
            # The detail page filtered by outcome (failures of a 10,000-recipient send).
            models.Index(
                fields=["send_request", "requested_at", "status", "id"],
                name="delivery_send_status_id",
            ),
            # The list's recipient=… filter: sends of this organization to one number.
            # requested_at last in this index and the two below, so that a period (or the
            # retention cutoff) on the deliveries is checked from the index alone too.
            models.Index(
                fields=["organization", "recipient", "send_request", "requested_at"],
                name="delivery_org_recipient",
            ),
            # The list's code=… filter (sends with a recipient of that result code, often
            # with outcome=failure, linked from /failures/): the sends of this
            # organization with that code, from the index alone.
            models.Index(
                fields=["organization", "result_code", "send_request", "requested_at"],
                name="delivery_org_code",
            ),
            # The recipient=5678 filter: sends of this organization to numbers ending in
            # 5678. On the expression, so no column has to be written for it. The number
            # itself last, so that PostgreSQL answers from the index alone as it does for a
            # whole number: it reads the table when a column of the query is in the index
            # only inside an expression (0.1 ms instead of 1.3 ms for 160 rows of 2M).
            models.Index(
                F("organization"),
                RecipientEnding("recipient"),
                F("send_request"),
                F("recipient"),
                F("requested_at"),
                name="delivery_org_recipient_end",
            ),
        ]

    def __str__(self) -> str:
        # Masked: the admin writes this into its log and its pages' titles.
        return f"{mask_phone(self.recipient)} {self.get_status_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.requested_at is None:
            self.requested_at = self.send_request.requested_at
        super().save(*args, **kwargs)
