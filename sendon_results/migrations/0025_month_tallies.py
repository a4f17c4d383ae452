# The daily send tallies summed by month, kept beside them from here on (tallies.py):
# filled from the daily rows, which are exact, in one grouped read. On PostgreSQL every
# organization's tally lock is held alone meanwhile (as rebuild_tallies does), so a writer
# still running waits and then adds its change to both.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Sum
from django.db.models.functions import TruncMonth

SUMS = (
    "sends",
    "recipients",
    "success",
    "failure",
    "sending",
    "waiting",
    "cancelled",
    "points_charged",
    "points_refunded",
)


# tallies.LOCK_BASE as it is when this is written.
LOCK_BASE = 0x7A11_0000_0000


def sum_months(apps, schema_editor):
    Organization = apps.get_model("sendon_results", "Organization")
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            for organization_id in Organization.objects.order_by("id").values_list("id", flat=True):
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_BASE + organization_id])
    SendTally = apps.get_model("sendon_results", "SendTally")
    SendMonthTally = apps.get_model("sendon_results", "SendMonthTally")
    months = (
        SendTally.objects.order_by()
        .annotate(month=TruncMonth("day"))
        .values("organization_id", "month", "sender_id", "channel", "source", "status")
        .annotate(**{name + "_sum": Sum(name) for name in SUMS})
    )
    SendMonthTally.objects.bulk_create(
        (
            SendMonthTally(
                **{name: row[name] for name in row if not name.endswith("_sum")},
                **{name: row[name + "_sum"] for name in SUMS},
            )
            for row in months.iterator(5_000)
        ),
        batch_size=1_000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("sendon_results", "0024_monthly_partitions"),
    ]

    operations = [
        migrations.CreateModel(
            name="SendMonthTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("sms", "SMS"),
                            ("lms", "LMS"),
                            ("mms", "MMS"),
                            ("alimtalk", "AlimTalk"),
                            ("friendtalk", "FriendTalk"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "source",
                    models.CharField(choices=[("web", "Web"), ("api", "API")], max_length=10),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("in_progress", "In progress"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("reserved", "Reserved"),
                            ("cancelled", "Reservation cancelled"),
                            ("sending_now", "Sending now"),
                            ("cancelling", "Cancelling"),
                        ],
                        max_length=12,
                    ),
                ),
                ("sends", models.BigIntegerField(default=0)),
                ("recipients", models.BigIntegerField(default=0)),
                ("success", models.BigIntegerField(default=0)),
                ("failure", models.BigIntegerField(default=0)),
                ("sending", models.BigIntegerField(default=0)),
                ("waiting", models.BigIntegerField(default=0)),
                ("cancelled", models.BigIntegerField(default=0)),
                ("points_charged", models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                (
                    "points_refunded",
                    models.DecimalField(decimal_places=2, default=0, max_digits=18),
                ),
                ("month", models.DateField()),
                (
                    "organization",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="sendon_results.organization",
                    ),
                ),
                (
                    "sender",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="sendon_results.senderprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "monthly send tally",
                "verbose_name_plural": "monthly send tallies",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization", "month", "sender", "channel", "source", "status"),
                        name="send_month_tally_key",
                    )
                ],
            },
        ),
        migrations.RunPython(sum_months, migrations.RunPython.noop),
    ]
