from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from sendon_results import partitions
from sendon_results.models import (
    Delivery,
    Membership,
    Organization,
    SenderProfile,
    SendRequest,
)
from sendon_results.tallies import TallyChanges


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("password-123")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"조직 {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OPERATOR


class SenderProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SenderProfile

    organization = factory.SubFactory(OrganizationFactory)
    kind = SenderProfile.Kind.PHONE
    value = factory.Sequence(lambda n: f"0212{n:06d}")
    label = ""


class SendRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SendRequest

    organization = factory.SubFactory(OrganizationFactory)
    external_id = factory.Sequence(lambda n: f"send-{n}")
    requested_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    source = "api"
    channel = "sms"
    sender = factory.LazyAttribute(lambda o: SenderProfileFactory(organization=o.organization))
    body = "[테스트] 안녕하세요"
    status = SendRequest.Status.COMPLETED

    @classmethod
    def _create(cls, model_class: type[SendRequest], *args: object, **kwargs: object) -> object:
        # Any month, on PostgreSQL: one ahead of those made, or one the purge dropped.
        partitions.ensure_month(kwargs["requested_at"])  # type: ignore[arg-type]
        return super()._create(model_class, *args, **kwargs)


def make_send(
    organization: Organization,
    *,
    outcomes: Sequence[str] = ("success",),
    recipients: Sequence[str] | None = None,
    **fields: object,
) -> SendRequest:
    """A send with one delivery per outcome and counts that add up, as the platform makes."""
    send = SendRequestFactory(
        organization=organization,
        recipient_count=len(outcomes),
        **{f"{outcome}_count": list(outcomes).count(outcome) for outcome in Delivery.Status.values},
        **fields,
    )
    numbers = recipients or [f"0109{send.pk % 1000:03d}{i:04d}" for i in range(len(outcomes))]
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            send_request=send,
            organization=organization,
            external_id=f"{send.external_id}-{i}",
            recipient=number,
            status=outcome,
            result_code={"success": "1000", "failure": "3019"}.get(outcome, ""),
            final_channel=send.channel,
            # Messages never sent went to no carrier, and are refunded like failures.
            carrier="" if outcome in ("waiting", "cancelled") else "SKT",
            points_charged=Decimal("9"),
            points_refunded=Decimal("9") if outcome in ("failure", "cancelled") else Decimal("0"),
        )
        for i, (number, outcome) in enumerate(zip(numbers, outcomes, strict=True))
    )
    # Counted in the daily tallies as ingest counts a send it records.
    changes = TallyChanges()
    changes.send(send)
    for delivery in deliveries:
        changes.delivery(send, delivery)
    changes.save()
    return send
