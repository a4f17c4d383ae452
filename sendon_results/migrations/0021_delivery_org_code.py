# The list's result code filter (code=3019): an index on (organization, result_code,
# send_request), so that "the sends of this organization with a recipient of that code" is
# read from the index alone. On PostgreSQL it is built CONCURRENTLY, so ingest goes on
# writing deliveries while it is built; hence a migration of its own, outside a
# transaction, as 0019. Should the build fail, PostgreSQL leaves an INVALID index behind:
# drop it (DROP INDEX CONCURRENTLY delivery_org_code) and migrate again.

from django.db import migrations, models


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
        ("sendon_results", "0020_tallies"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="delivery",
            index=models.Index(
                fields=["organization", "result_code", "send_request"],
                name="delivery_org_code",
            ),
        ),
    ]
