"""Messages that never went out, told apart in the rows stored before: its own migration,
so that on PostgreSQL the rows are rewritten in a transaction of their own, between the
new columns and the CHECKs that need them right."""

import datetime

from django.db import migrations
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Left


REQUEST_FAILED = "REQUEST"  # result_codes.REQUEST_FAILED
# models.EARLIEST_MOMENT and LATEST_MOMENT, as they are when this runs.
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
LATEST = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)


def outside(field):
    return Q(**{f"{field}__lt": EARLIEST}) | Q(**{f"{field}__gte": LATEST})


def tell_messages_never_sent(apps, schema_editor):
    """Recipients of reservations wait instead of sending; those of cancelled reservations
    are cancelled instead of failed (no carrier, no completion); those of a failed request
    carry its reason as their result. Moments no page could show are put right first, so
    the CHECKs of the next migration hold: a send dated outside 2000-2099 takes the moment the
    console recorded it; a reservation, sending or completion time out there is dropped."""
    SendRequest = apps.get_model("sendon_results", "SendRequest")
    Delivery = apps.get_model("sendon_results", "Delivery")
    SendRequest.objects.filter(outside("requested_at")).update(requested_at=F("created_at"))
    SendRequest.objects.filter(outside("scheduled_at")).update(scheduled_at=None)
    Delivery.objects.filter(outside("sent_at")).update(sent_at=None)
    Delivery.objects.filter(outside("completed_at")).update(completed_at=None)

    reserved = SendRequest.objects.filter(status__in=["reserved", "cancelling"])
    Delivery.objects.filter(send_request__in=reserved.values("id"), status="sending").update(
        status="waiting",
        carrier="",
        sent_at=None,
        completed_at=None,
        result_code="",
        result_message="",
    )
    reserved.update(waiting_count=F("sending_count"), sending_count=0)
    cancelled = SendRequest.objects.filter(status="cancelled")
    Delivery.objects.filter(
        send_request__in=cancelled.values("id"), status="failure", result_message="예약 취소"
    ).update(status="cancelled", carrier="", sent_at=None, completed_at=None, result_message="")
    cancelled_counts = (
        Delivery.objects.filter(send_request=OuterRef("pk"), status="cancelled")
        .values("send_request")
        .annotate(n=Count("id"))
        .values("n")
    )
    cancelled.update(cancelled_count=Coalesce(Subquery(cancelled_counts), 0))
    cancelled.update(failure_count=F("failure_count") - F("cancelled_count"))
    # Only what a request failure wrote (its reason, or the demo's "요청 실패"), never a
    # carrier's failure that came without a code.
    failed = SendRequest.objects.filter(status="failed")
    reason = Left(
        Subquery(
            SendRequest.objects.filter(pk=OuterRef("send_request_id")).values("failure_reason")[:1]
        ),
        300,
    )
    Delivery.objects.filter(
        send_request__in=failed.values("id"), status="failure", result_code=""
    ).filter(Q(result_message="요청 실패") | Q(result_message=reason)).update(
        result_code=REQUEST_FAILED, result_message=reason, carrier=""
    )


def fold_back(apps, schema_editor):
    """Back to three outcomes: waiting messages are sending again, cancelled ones failed."""
    SendRequest = apps.get_model("sendon_results", "SendRequest")
    Delivery = apps.get_model("sendon_results", "Delivery")
    Delivery.objects.filter(status="waiting").update(status="sending")
    Delivery.objects.filter(status="cancelled").update(status="failure", result_message="예약 취소")
    SendRequest.objects.update(
        sending_count=F("sending_count") + F("waiting_count"),
        failure_count=F("failure_count") + F("cancelled_count"),
        waiting_count=0,
        cancelled_count=0,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('sendon_results', '0009_outcomes_never_sent'),
    ]

    operations = [
        migrations.RunPython(tell_messages_never_sent, fold_back),
    ]
