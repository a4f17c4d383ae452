# Send statements get a model of their own. Until now they were Export rows of kind
# "statement", their scope in the export's `filters` JSON ({"from": [day], "to": [day],
# "sender": [id], "channel": [c], "appendix": ["no"]}). Each moves to Statement with its
# primary key (links to it keep working), number, code, figures, fingerprint and file (the
# same stored path), its scope read out of the JSON; then the statement columns leave
# Export. It reverses. Historical models only: no app code is imported here.
#
# Timed on a copy of the `make bench` data set (10M deliveries; 1,006 statements, 200
# exports) on PostgreSQL: 1.8 s for the migration, 4.2 s for `manage.py migrate` as a
# whole; docs/benchmarks.md ("Migration 0013") has the command.

import contextlib
import datetime as dt
import secrets

import django.db.models.deletion
from django.conf import settings
from django.core.management.color import no_style
from django.db import migrations, models
from django.utils import timezone

APP = "sendon_results"
BATCH = 1_000
CHANNELS = ("sms", "lms", "mms", "alimtalk", "friendtalk")  # Channel's values at 0013
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # statements.codes at 0013
# The Job fields both tables share, copied as they are.
SHARED = (
    "organization_id created_by_id language state progress total_rows row_count file_name "
    "file_size error worker attempt covers_from created_at started_at finished_at expires_at "
    "figures fingerprint"
).split()


@contextlib.contextmanager
def creation_times_kept(model):
    """created_at is auto_now_add: an insert would stamp it now. A moved row keeps its own
    (the list is ordered by it, and a retry's sweep reads it)."""
    field = model._meta.get_field("created_at")
    field.auto_now_add = False
    try:
        yield
    finally:
        field.auto_now_add = True


def _first(filters, name):
    values = filters.get(name) if isinstance(filters, dict) else None
    return values[0] if isinstance(values, list) and values else None


def _day(text):
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _period(export):
    """The period from the filters; from the printed figures, or the day it was asked
    for, when the filters lost it (never seen; a bad row must not stop the migration)."""
    figures = export.figures if isinstance(export.figures, dict) else {}
    printed = figures.get("period") if isinstance(figures.get("period"), list) else [None, None]
    asked = timezone.localdate(export.created_at) if export.created_at else dt.date.today()
    start = _day(_first(export.filters, "from")) or _day(printed[0]) or asked
    end = _day(_first(export.filters, "to")) or _day(printed[-1]) or start
    return start, max(start, end)


def _sender_id(export, senders):
    """The sender of the scope, when it is a profile of the statement's organization."""
    text = str(_first(export.filters, "sender") or "")
    if not (text.isascii() and text.isdigit()):
        return None
    sender_id = int(text)
    return sender_id if senders.get(sender_id) == export.organization_id else None


def move_statements(apps, schema_editor):
    Export = apps.get_model(APP, "Export")
    Statement = apps.get_model(APP, "Statement")
    SenderProfile = apps.get_model(APP, "SenderProfile")
    db = schema_editor.connection.alias
    statements = Export.objects.using(db).filter(kind="statement").order_by("pk")
    last = 0
    with creation_times_kept(Statement):
        while batch := list(statements.filter(pk__gt=last)[:BATCH]):
            last = batch[-1].pk
            ids = {_first(e.filters, "sender") for e in batch}
            wanted = [int(i) for i in ids if str(i).isascii() and str(i).isdigit()]
            senders = dict(
                SenderProfile.objects.using(db)
                .filter(pk__in=[i for i in wanted if i < 2**63])
                .values_list("pk", "organization_id")
            )
            moved = []
            for export in batch:
                start, end = _period(export)
                channel = _first(export.filters, "channel")
                moved.append(
                    Statement(
                        pk=export.pk,
                        number=export.number or f"ST-{export.pk}",
                        verification_code=export.verification_code
                        or "".join(secrets.choice(CODE_ALPHABET) for _ in range(12)),
                        period_from=start,
                        period_to=end,
                        sender_id=_sender_id(export, senders),
                        channel=channel if channel in CHANNELS else "",
                        appendix=_first(export.filters, "appendix") != "no",
                        file=export.file.name,
                        **{name: getattr(export, name) for name in SHARED},
                    )
                )
            Statement.objects.using(db).bulk_create(moved)
    statements.delete()
    # Explicit ids leave PostgreSQL's sequence behind them: the next statement would take
    # id 1. (SQLite's AUTOINCREMENT follows the highest id by itself.)
    _reset_sequence(schema_editor, Statement)
    _check_foreign_keys_now(schema_editor)


def move_back(apps, schema_editor):
    Export = apps.get_model(APP, "Export")
    Statement = apps.get_model(APP, "Statement")
    db = schema_editor.connection.alias
    last = 0
    with creation_times_kept(Export):
        while batch := list(
            Statement.objects.using(db).filter(pk__gt=last).order_by("pk")[:BATCH]
        ):
            last = batch[-1].pk
            # A statement made after 0013 may have an id an export has since taken: it
            # comes back under a new one.
            taken = set(
                Export.objects.using(db)
                .filter(pk__in=[s.pk for s in batch])
                .values_list("pk", flat=True)
            )
            exports = []
            for statement in batch:
                filters = {
                    "from": [statement.period_from.isoformat()],
                    "to": [statement.period_to.isoformat()],
                }
                if statement.sender_id is not None:
                    filters["sender"] = [str(statement.sender_id)]
                if statement.channel:
                    filters["channel"] = [statement.channel]
                if not statement.appendix:
                    filters["appendix"] = ["no"]
                exports.append(
                    Export(
                        pk=None if statement.pk in taken else statement.pk,
                        kind="statement",
                        file_format="pdf",
                        filters=filters,
                        number=statement.number,
                        verification_code=statement.verification_code,
                        file=statement.file.name,
                        **{name: getattr(statement, name) for name in SHARED},
                    )
                )
            Export.objects.using(db).bulk_create(exports)
    _reset_sequence(schema_editor, Export)
    _check_foreign_keys_now(schema_editor)


def _check_foreign_keys_now(schema_editor):
    """PostgreSQL checks the copied rows' foreign keys at commit; until then it refuses to
    index the table they went into ("pending trigger events"), and the indexes this
    migration adds are created at its end. Checked now, nothing is pending."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


def _reset_sequence(schema_editor, model):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("sendon_results", "0012_export_description"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Statement",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("language", models.CharField(default="ko", max_length=8)),
                ("state", models.CharField(choices=[("pending", "Waiting"), ("running", "Working"), ("done", "Ready"), ("failed", "Failed"), ("expired", "Expired")], default="pending", max_length=8, verbose_name="state")),
                ("progress", models.PositiveSmallIntegerField(default=0, verbose_name="progress")),
                ("total_rows", models.PositiveIntegerField(blank=True, null=True)),
                ("row_count", models.PositiveIntegerField(blank=True, null=True, verbose_name="rows")),
                ("file_name", models.CharField(blank=True, max_length=200)),
                ("file_size", models.PositiveBigIntegerField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("worker", models.CharField(blank=True, max_length=200)),
                ("attempt", models.CharField(blank=True, max_length=32)),
                ("covers_from", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField()),
                ("number", models.CharField(max_length=32, verbose_name="statement number")),
                ("verification_code", models.CharField(max_length=16, unique=True)),
                ("period_from", models.DateField(verbose_name="period start")),
                ("period_to", models.DateField(verbose_name="period end")),
                ("channel", models.CharField(blank=True, choices=[("sms", "SMS"), ("lms", "LMS"), ("mms", "MMS"), ("alimtalk", "AlimTalk"), ("friendtalk", "FriendTalk")], max_length=12, verbose_name="channel")),
                ("appendix", models.BooleanField(default=True, verbose_name="sends listed")),
                ("figures", models.JSONField(blank=True, null=True)),
                ("fingerprint", models.CharField(blank=True, max_length=64)),
                ("file", models.FileField(blank=True, upload_to="statements/%Y/%m/")),
                ("created_by", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="%(class)ss", to=settings.AUTH_USER_MODEL)),
                ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="sendon_results.organization")),
                ("sender", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="sendon_results.senderprofile", verbose_name="sender")),
            ],
            options={
                "verbose_name": "send statement",
                "verbose_name_plural": "send statements",
                "abstract": False,
                "indexes": [
                    models.Index(fields=["organization", "created_by", "-created_at"], name="statement_member_created"),
                    models.Index(fields=["state", "created_at"], name="statement_state_created"),
                    models.Index(fields=["expires_at"], name="statement_expires"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("organization", "number"), name="statement_number_unique"),
                ],
            },
        ),
        migrations.RunPython(move_statements, move_back, elidable=False),
        migrations.RemoveConstraint(
            model_name="export",
            name="export_statement_number_unique",
        ),
        migrations.RemoveField(model_name="export", name="figures"),
        migrations.RemoveField(model_name="export", name="fingerprint"),
        migrations.RemoveField(model_name="export", name="number"),
        migrations.RemoveField(model_name="export", name="verification_code"),
        migrations.AlterField(
            model_name="export",
            name="created_by",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="%(class)ss", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="export",
            name="file_format",
            field=models.CharField(choices=[("xlsx", "Excel (.xlsx)"), ("csv", "CSV (UTF-8)")], default="xlsx", max_length=4, verbose_name="format"),
        ),
        migrations.AlterField(
            model_name="export",
            name="kind",
            field=models.CharField(choices=[("sends", "One row per send"), ("deliveries", "One row per recipient")], max_length=12, verbose_name="layout"),
        ),
    ]
