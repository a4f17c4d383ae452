import django.db.models.deletion
from django.db import migrations, models

# q=… (text in the message body) is `UPPER(body) LIKE UPPER('%…%')`. On PostgreSQL a
# trigram index on UPPER(body) answers rare words at once and, as important, gives the
# planner real estimates, so a common word still walks send_org_requested in order.
# SQLite has no such index; the embedded database scans, which is fine at its size.
CREATE_TRIGRAM_INDEX = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS send_body_trgm
    ON sendon_results_sendrequest USING gin (UPPER(body) gin_trgm_ops);
"""
DROP_TRIGRAM_INDEX = "DROP INDEX IF EXISTS send_body_trgm;"


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("sendon_results", "0002_export"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sendrequest",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="send_requests",
                to="sendon_results.organization",
            ),
        ),
        migrations.RunPython(
            on_postgresql(CREATE_TRIGRAM_INDEX), on_postgresql(DROP_TRIGRAM_INDEX)
        ),
    ]
