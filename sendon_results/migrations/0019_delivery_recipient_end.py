# The recipient search by a number's last four digits: an index on the expression, so no
# stored row has to be rewritten and no writer has to fill a column. On PostgreSQL it is
# built CONCURRENTLY, so ingest goes on writing deliveries while it is built (at ten million
# deliveries: README, "Personal data"); hence a migration of its own, outside a transaction.
# Should the build fail, PostgreSQL leaves an INVALID index behind: drop it
# (DROP INDEX CONCURRENTLY delivery_org_recipient_end) and migrate again.

from django.db import migrations, models

import sendon_results.models.sends


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    """AddIndex, CONCURRENTLY where the database can (PostgreSQL), plainly elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.add_index(model, self.index, concurrently=True)
            else:
                schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.remove_index(model, self.index, concurrently=True)
            else:
                schema_editor.remove_index(model, self.index)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("sendon_results", "0018_export_unmasked"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="delivery",
            index=models.Index(
                models.F("organization"),
                sendon_results.models.sends.RecipientEnding("recipient"),
                models.F("send_request"),
                models.F("recipient"),
                name="delivery_org_recipient_end",
            ),
        ),
    ]
