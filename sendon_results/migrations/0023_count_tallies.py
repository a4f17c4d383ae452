# The daily tallies of an install that had sends before them (0020 made the tables empty):
# counted here from the rows, an organization per transaction, so that the summary, the
# dashboard and the failure analysis show the history from the first page after the
# upgrade. The same count as `manage.py rebuild_tallies`, written against this
# migration's models so that later changes to the code leave it as it is.
# Measured on the 10M-delivery benchmark set: see README "Daily tallies".

from itertools import islice

from django.db import migrations, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

BATCH = 5_000


def count_tallies(apps, schema_editor):
    Organization = apps.get_model("sendon_results", "Organization")
    SendRequest = apps.get_model("sendon_results", "SendRequest")
    Delivery = apps.get_model("sendon_results", "Delivery")
    SendTally = apps.get_model("sendon_results", "SendTally")
    DeliveryTally = apps.get_model("sendon_results", "DeliveryTally")
    for organization_id in Organization.objects.values_list("id", flat=True):
        with transaction.atomic():
            count_organization(organization_id, SendRequest, Delivery, SendTally, DeliveryTally)


def count_organization(organization_id, SendRequest, Delivery, SendTally, DeliveryTally):
    zone = timezone.get_default_timezone()
    SendTally.objects.filter(organization_id=organization_id).delete()
    DeliveryTally.objects.filter(organization_id=organization_id).delete()
    sends = (
        SendRequest.objects.filter(organization_id=organization_id)
        .order_by()
        .annotate(day=TruncDate("requested_at", tzinfo=zone))
        .values("day", "sender_id", "channel", "source", "status")
        .annotate(
            sends=Count("id"),
            recipients=Sum("recipient_count"),
            success=Sum("success_count"),
            failure=Sum("failure_count"),
            sending=Sum("sending_count"),
            waiting=Sum("waiting_count"),
            cancelled=Sum("cancelled_count"),
            points_charged=Sum("points_charged"),
            points_refunded=Sum("points_refunded"),
        )
    )
    insert(SendTally, organization_id, sends)
    deliveries = (
        Delivery.objects.filter(organization_id=organization_id)
        .order_by()
        .annotate(
            day=TruncDate("send_request__requested_at", tzinfo=zone),
            sender_id=F("send_request__sender_id"),
            channel=F("send_request__channel"),
        )
        .values("day", "sender_id", "channel", "final_channel", "status", "result_code", "carrier")
        .annotate(
            deliveries=Count("id"),
            points_charged=Sum("points_charged"),
            points_refunded=Sum("points_refunded"),
        )
    )
    insert(DeliveryTally, organization_id, deliveries)


def insert(model, organization_id, grouped):
    """The grouped rows as tally rows, a batch at a time (a year of a large organization
    is some 200,000 of them)."""
    rows = (model(organization_id=organization_id, **row) for row in grouped.iterator())
    while batch := list(islice(rows, BATCH)):
        model.objects.bulk_create(batch)


def forget_tallies(apps, schema_editor):
    apps.get_model("sendon_results", "SendTally").objects.all().delete()
    apps.get_model("sendon_results", "DeliveryTally").objects.all().delete()


class Migration(migrations.Migration):
    atomic = False  # a transaction per organization, not one for the whole history
    dependencies = [("sendon_results", "0022_confirmation")]

    operations = [migrations.RunPython(count_tallies, forget_tallies)]
