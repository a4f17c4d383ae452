# Deliveries carry their send's requested_at, and on PostgreSQL sends and deliveries are
# kept in monthly partitions of it (sql/0024_partitions.sql: new partitioned tables, the
# rows copied, the keys and indexes made again, the old tables dropped). SQLite keeps
# plain tables; its deliveries only gain the column.
#
# Django's state says what both databases share. Where PostgreSQL differs:
# - the primary keys are (id, requested_at); Django still takes `id` for the pk, which the
#   sequence alone writes, so it stays unique;
# - send_request_external_id_unique (organization, external_id) is a unique index in each
#   month's partition; the ingest's per-external_id lock covers a replay in another month;
# - a delivery references its send by (send_request_id, requested_at), a key between each
#   month's two partitions, so the model's ForeignKey has no constraint of its own.
# Migrations that later touch these must be written by hand for PostgreSQL.
#
# Measured on the 10M-delivery benchmark set: README "Monthly partitions".

from pathlib import Path

from django.db import migrations, models

import sendon_results.models.sends

SQL = (Path(__file__).parent / "sql" / "0024_partitions.sql").read_text()

TRIGRAM_INDEX = (
    "CREATE INDEX send_body_trgm ON sendon_results_sendrequest USING gin (UPPER(body) gin_trgm_ops)"
)

REQUESTED_AT = models.DateTimeField(editable=False, verbose_name="requested at")
SEND_REQUEST = models.ForeignKey(
    db_constraint=False,
    db_index=False,
    on_delete=models.deletion.CASCADE,
    related_name="deliveries",
    to="sendon_results.sendrequest",
)
UNIQUE = models.UniqueConstraint(
    fields=("send_request", "external_id", "requested_at"), name="delivery_external_id_unique"
)
# The deliveries' indexes hold requested_at: a send's deliveries are asked for with it,
# and the list's recipient and code filters bound it by the period.
INDEXES = [
    models.Index(fields=["send_request", "requested_at", "id"], name="delivery_send_id"),
    models.Index(
        fields=["send_request", "requested_at", "status", "id"], name="delivery_send_status_id"
    ),
    models.Index(
        fields=["organization", "recipient", "send_request", "requested_at"],
        name="delivery_org_recipient",
    ),
    models.Index(
        fields=["organization", "result_code", "send_request", "requested_at"],
        name="delivery_org_code",
    ),
    models.Index(
        models.F("organization"),
        sendon_results.models.sends.RecipientEnding("recipient"),
        models.F("send_request"),
        models.F("recipient"),
        models.F("requested_at"),
        name="delivery_org_recipient_end",
    ),
]


def index_changes():
    return [
        *(migrations.RemoveIndex("delivery", index.name) for index in INDEXES),
        *(migrations.AddIndex("delivery", index) for index in INDEXES),
    ]


class Partition(migrations.operations.base.Operation):
    """PostgreSQL: the conversion to monthly partitions, and back (an empty or small
    install; going back copies every row into plain tables as 0023 made them)."""

    reduces_to_sql = False
    reversible = True

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(SQL)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        tables = [
            to_state.apps.get_model(app_label, name)._meta.db_table
            for name in ("SendRequest", "Delivery")
        ]
        with schema_editor.connection.cursor() as cursor:
            for table in tables:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {table}_rows ON COMMIT DROP AS SELECT * FROM {table}"
                )
            cursor.execute(
                "SELECT last_value, is_called FROM sendon_results_sendrequest_id_seq "
                "UNION ALL SELECT last_value, is_called FROM sendon_results_delivery_id_seq"
            )
            sequences = cursor.fetchall()
            cursor.execute(f"DROP TABLE {tables[1]}, {tables[0]}")
            cursor.execute(
                "DROP FUNCTION sendon_ensure_month(date, boolean, text, text), "
                "sendon_partition_name(text, date)"
            )
        for name, table, (last, called) in zip(
            ("SendRequest", "Delivery"), tables, sequences, strict=True
        ):
            model = to_state.apps.get_model(app_label, name)
            schema_editor.create_model(model)
            columns = ", ".join(f'"{field.column}"' for field in model._meta.local_concrete_fields)
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_rows"
                )
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [table, last, called]
                )
        schema_editor.execute(TRIGRAM_INDEX)

    def describe(self):
        return "Sends and deliveries in monthly partitions (PostgreSQL)"


class OnlyOn(migrations.operations.base.Operation):
    """These operations' schema changes on one database vendor only; the state is the
    migration's state_operations."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, vendor, operations):
        self.vendor, self.operations = vendor, operations

    def deconstruct(self):
        return (self.__class__.__name__, [self.vendor, self.operations], {})

    def state_forwards(self, app_label, state):
        pass

    def _states(self, app_label, state):
        states = [state]
        for operation in self.operations:
            state = state.clone()
            operation.state_forwards(app_label, state)
            states.append(state)
        return states

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != self.vendor:
            return
        states = self._states(app_label, from_state)
        for operation, before, after in zip(self.operations, states, states[1:], strict=False):
            operation.database_forwards(app_label, schema_editor, before, after)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != self.vendor:
            return
        states = self._states(app_label, to_state)
        steps = list(zip(self.operations, states, states[1:], strict=False))
        for operation, before, after in reversed(steps):
            operation.database_backwards(app_label, schema_editor, after, before)

    def describe(self):
        return f"Schema changes on {self.vendor} only"


class Migration(migrations.Migration):
    dependencies = [("sendon_results", "0023_count_tallies")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="delivery",
                    name="requested_at",
                    field=REQUESTED_AT,
                    preserve_default=False,
                ),
                migrations.AlterField(
                    model_name="delivery", name="send_request", field=SEND_REQUEST
                ),
                migrations.RemoveConstraint(
                    model_name="delivery", name="delivery_external_id_unique"
                ),
                migrations.AddConstraint(model_name="delivery", constraint=UNIQUE),
                *index_changes(),
            ],
            database_operations=[
                Partition(),
                OnlyOn(
                    "sqlite",
                    [
                        migrations.AddField(
                            "delivery", "requested_at", models.DateTimeField(null=True)
                        ),
                        migrations.RunSQL(
                            "UPDATE sendon_results_delivery SET requested_at = (SELECT "
                            "requested_at FROM sendon_results_sendrequest s "
                            "WHERE s.id = sendon_results_delivery.send_request_id)",
                            migrations.RunSQL.noop,
                        ),
                        migrations.AlterField("delivery", "requested_at", REQUESTED_AT),
                        migrations.AlterField("delivery", "send_request", SEND_REQUEST),
                        migrations.RemoveConstraint("delivery", "delivery_external_id_unique"),
                        migrations.AddConstraint("delivery", UNIQUE),
                        *index_changes(),
                    ],
                ),
            ],
        ),
    ]
