import datetime

import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sendon_results', '0010_tell_messages_never_sent'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="sendrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "recipient_count",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                django.db.models.expressions.CombinedExpression(
                                    django.db.models.expressions.CombinedExpression(
                                        models.F("success_count"), "+", models.F("failure_count")
                                    ),
                                    "+",
                                    models.F("sending_count"),
                                ),
                                "+",
                                models.F("waiting_count"),
                            ),
                            "+",
                            models.F("cancelled_count"),
                        ),
                    )
                ),
                name="send_request_counts_add_up",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("sent_at__isnull", True),
                        models.Q(
                            (
                                "sent_at__gte",
                                datetime.datetime(2000, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                            (
                                "sent_at__lt",
                                datetime.datetime(2100, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                        ),
                        _connector="OR",
                    ),
                    models.Q(
                        ("completed_at__isnull", True),
                        models.Q(
                            (
                                "completed_at__gte",
                                datetime.datetime(2000, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                            (
                                "completed_at__lt",
                                datetime.datetime(2100, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                        ),
                        _connector="OR",
                    ),
                ),
                name="delivery_moments_in_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="sendrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("requested_at__isnull", True),
                        models.Q(
                            (
                                "requested_at__gte",
                                datetime.datetime(2000, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                            (
                                "requested_at__lt",
                                datetime.datetime(2100, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                        ),
                        _connector="OR",
                    ),
                    models.Q(
                        ("scheduled_at__isnull", True),
                        models.Q(
                            (
                                "scheduled_at__gte",
                                datetime.datetime(2000, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                            (
                                "scheduled_at__lt",
                                datetime.datetime(2100, 1, 1, 0, 0, tzinfo=datetime.timezone.utc),
                            ),
                        ),
                        _connector="OR",
                    ),
                ),
                name="send_request_moments_in_range",
            ),
        ),
    ]
