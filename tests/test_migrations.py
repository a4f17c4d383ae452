"""Migrations that rewrite stored rows, run over rows as an earlier version stored them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

APP = "sendon_results"
BEFORE = [(APP, "0008_export_attempt")]
AFTER = [(APP, "0011_counts_and_moments_checks")]


@pytest.fixture
def old_apps(transactional_db):
    """The models as migration 0008 left them; the latest schema is back afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_messages_never_sent_are_told_apart_and_bad_moments_put_right(old_apps):
    Organization = old_apps.get_model(APP, "Organization")
    SenderProfile = old_apps.get_model(APP, "SenderProfile")
    SendRequest = old_apps.get_model(APP, "SendRequest")
    Delivery = old_apps.get_model(APP, "Delivery")
    organization = Organization.objects.create(name="old")
    sender = SenderProfile.objects.create(organization=organization, kind="phone", value="021")
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

    def send(name, status, outcomes, **fields):
        row = SendRequest.objects.create(
            organization=organization,
            external_id=name,
            requested_at=now,
            source="api",
            channel="sms",
            sender=sender,
            body="본문",
            status=status,
            recipient_count=len(outcomes),
            success_count=outcomes.count("success"),
            failure_count=outcomes.count("failure"),
            sending_count=outcomes.count("sending"),
            **fields,
        )
        return row

    def delivery(row, i, status, **fields):
        return Delivery.objects.create(
            send_request=row,
            organization=organization,
            external_id=f"{row.external_id}-{i}",
            recipient="01012345678",
            status=status,
            final_channel="sms",
            **fields,
        )

    reserved = send("reserved", "reserved", ["sending"])
    delivery(reserved, 0, "sending", carrier="SKT", result_code="3005", result_message="대기")
    cancelled = send("cancelled", "cancelled", ["failure", "failure"])
    for i in range(2):
        delivery(
            cancelled,
            i,
            "failure",
            carrier="KT",
            result_message="예약 취소",
            completed_at=now,
            points_charged=9,
            points_refunded=9,
        )
    reason = "발신번호 인증이 만료되었습니다."
    failed = send("failed", "failed", ["failure", "failure", "failure"], failure_reason=reason)
    delivery(failed, 0, "failure", result_message=reason, completed_at=now)
    delivery(failed, 1, "failure", result_message="요청 실패", completed_at=now)
    delivery(failed, 2, "failure", result_message="통신사 오류", carrier="LG U+")
    far = send("far", "completed", ["success"])
    delivery(far, 0, "success", completed_at=now)
    with connection.cursor() as cursor:
        far_moment = (
            "9999-12-31 23:59:59" if connection.vendor == "sqlite" else "9999-12-31T23:59:59-14:00"
        )
        cursor.execute(
            f"UPDATE {SendRequest._meta.db_table} SET requested_at = %s, scheduled_at = %s "
            "WHERE id = %s",
            [far_moment, far_moment, far.pk],
        )
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} SET completed_at = %s WHERE send_request_id = %s",
            [far_moment, far.pk],
        )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    SendRequest = apps.get_model(APP, "SendRequest")
    Delivery = apps.get_model(APP, "Delivery")

    def outcomes(name):
        row = SendRequest.objects.get(external_id=name)
        counts = {
            o: getattr(row, f"{o}_count")
            for o in ("success", "failure", "sending", "waiting", "cancelled")
        }
        return {k: v for k, v in counts.items() if v}

    assert outcomes("reserved") == {"waiting": 1}
    waiting = Delivery.objects.get(send_request__external_id="reserved")
    assert (waiting.status, waiting.carrier, waiting.result_code) == ("waiting", "", "")
    assert outcomes("cancelled") == {"cancelled": 2}
    assert set(
        Delivery.objects.filter(send_request__external_id="cancelled").values_list(
            "status", "carrier", "completed_at", "points_refunded"
        )
    ) == {("cancelled", "", None, 9)}
    by_message = dict(
        Delivery.objects.filter(send_request__external_id="failed").values_list(
            "external_id", "result_code"
        )
    )
    assert by_message == {"failed-0": "REQUEST", "failed-1": "REQUEST", "failed-2": ""}
    assert Delivery.objects.get(external_id="failed-1").result_message == reason
    moved = SendRequest.objects.get(external_id="far")
    assert moved.requested_at == moved.created_at and moved.scheduled_at is None
    assert Delivery.objects.get(send_request=moved).completed_at is None

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)  # and back, three outcomes again
    apps = executor.loader.project_state(BEFORE).apps
    assert set(apps.get_model(APP, "Delivery").objects.values_list("status", flat=True)) == {
        "success",
        "failure",
        "sending",
    }


BEFORE_STATEMENTS = [(APP, "0012_export_description")]
AFTER_STATEMENTS = [(APP, "0013_statement")]


@pytest.fixture
def migrate_to(transactional_db):
    """Migrates to a node and gives its models; the latest schema is back afterwards."""

    def migrate(target):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(target)
        return executor.loader.project_state(target).apps

    yield migrate
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_statements_leave_exports_with_their_ids_numbers_codes_and_files(migrate_to):
    old = migrate_to(BEFORE_STATEMENTS)
    Organization = old.get_model(APP, "Organization")
    SenderProfile = old.get_model(APP, "SenderProfile")
    Export = old.get_model(APP, "Export")
    User = old.get_model("auth", "User")
    organization = Organization.objects.create(name="old")
    elsewhere = Organization.objects.create(name="other")
    user = User.objects.create(username="accountant")
    sender = SenderProfile.objects.create(organization=organization, kind="kakao", value="k")
    theirs = SenderProfile.objects.create(organization=elsewhere, kind="phone", value="021")
    asked = dt.datetime(2026, 11, 3, 1, 0, tzinfo=dt.UTC)
    expires = dt.datetime(2027, 11, 1, tzinfo=dt.UTC)

    def job(**fields):
        return Export.objects.create(
            organization=organization, created_by=user, expires_at=expires, **fields
        )

    sheet = job(
        kind="sends",
        file_format="xlsx",
        filters={"channel": ["sms"]},
        state="done",
        file="exports/2026/11/sheet.xlsx",
    )
    figures = {"period": ["2026-10-01", "2026-10-31"], "total": {"messages": 3}}
    narrow = job(
        kind="statement",
        file_format="pdf",
        state="done",
        number="ST-2026-11-0001",
        verification_code="7K3F9QHW2M4X",
        figures=figures,
        fingerprint="f" * 64,
        file="exports/2026/11/abc.pdf",
        file_name="ST-2026-11-0001_2026-10-01_2026-10-31.pdf",
        file_size=1234,
        row_count=3,
        filters={
            "from": ["2026-10-01"],
            "to": ["2026-10-31"],
            "sender": [str(sender.pk)],
            "channel": ["alimtalk"],
            "appendix": ["no"],
        },
    )
    whole = job(
        kind="statement",
        file_format="pdf",
        state="failed",
        number="ST-2026-11-0002",
        verification_code="AAAABBBBCCCC",
        error="renderer crashed",
        filters={"from": ["2026-10-02"], "to": ["2026-10-30"]},
    )
    # Rows no form wrote: another organization's sender, an unknown channel, no period.
    odd = job(
        kind="statement",
        file_format="pdf",
        number="ST-2026-11-0003",
        verification_code="DDDDEEEEFFFF",
        figures={"period": ["2026-09-01", "2026-09-30"]},
        filters={"sender": [str(theirs.pk)], "channel": ["fax"]},
    )
    Export.objects.filter(pk__in=[narrow.pk, whole.pk, odd.pk]).update(created_at=asked)

    new = migrate_to(AFTER_STATEMENTS)
    Statement = new.get_model(APP, "Statement")
    Export = new.get_model(APP, "Export")
    assert list(Export.objects.values_list("pk", flat=True)) == [sheet.pk]
    moved = {s.pk: s for s in Statement.objects.all()}
    assert set(moved) == {narrow.pk, whole.pk, odd.pk}  # the same ids: links keep working
    n = moved[narrow.pk]
    assert (n.number, n.verification_code, n.state) == ("ST-2026-11-0001", "7K3F9QHW2M4X", "done")
    assert (n.period_from, n.period_to) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert (n.sender_id, n.channel, n.appendix) == (sender.pk, "alimtalk", False)
    assert n.figures == figures and n.fingerprint == "f" * 64
    assert (n.file.name, n.file_name, n.file_size, n.row_count) == (
        "exports/2026/11/abc.pdf",
        "ST-2026-11-0001_2026-10-01_2026-10-31.pdf",
        1234,
        3,
    )
    assert (n.created_at, n.expires_at, n.organization_id, n.created_by_id) == (
        asked,
        expires,
        organization.pk,
        user.pk,
    )
    w = moved[whole.pk]
    assert (w.sender_id, w.channel, w.appendix, w.state, w.error) == (
        None,
        "",
        True,
        "failed",
        "renderer crashed",
    )
    o = moved[odd.pk]
    assert (o.period_from, o.period_to) == (dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    assert (o.sender_id, o.channel) == (None, "")
    # The next statement takes an id after the moved ones (PostgreSQL's sequence too).
    later = Statement.objects.create(
        organization_id=organization.pk,
        created_by_id=user.pk,
        number="ST-2026-11-0004",
        verification_code="GGGGHHHHJJJJ",
        period_from=dt.date(2026, 10, 1),
        period_to=dt.date(2026, 10, 31),
        expires_at=expires,
    )
    assert later.pk > odd.pk

    back = migrate_to(BEFORE_STATEMENTS)  # and back, as exports of kind "statement"
    Export = back.get_model(APP, "Export")
    restored = {e.pk: e for e in Export.objects.filter(kind="statement")}
    assert {narrow.pk, whole.pk, odd.pk} <= set(restored) and len(restored) == 4
    r = restored[narrow.pk]
    assert r.filters == {
        "from": ["2026-10-01"],
        "to": ["2026-10-31"],
        "sender": [str(sender.pk)],
        "channel": ["alimtalk"],
        "appendix": ["no"],
    }
    assert (r.number, r.verification_code, r.file.name, r.file_format, r.created_at) == (
        "ST-2026-11-0001",
        "7K3F9QHW2M4X",
        "exports/2026/11/abc.pdf",
        "pdf",
        asked,
    )
    assert restored[whole.pk].filters == {"from": ["2026-10-02"], "to": ["2026-10-30"]}


def test_an_install_with_history_gets_its_tallies_counted(migrate_to):
    """0020 makes the tally tables empty; 0023 counts them from the sends already there,
    as the recount command does, days in Korea time."""
    old = migrate_to([(APP, "0022_confirmation")])
    Organization = old.get_model(APP, "Organization")
    SenderProfile = old.get_model(APP, "SenderProfile")
    SendRequest = old.get_model(APP, "SendRequest")
    Delivery = old.get_model(APP, "Delivery")
    organization = Organization.objects.create(name="before the tallies")
    sender = SenderProfile.objects.create(organization=organization, kind="phone", value="021")
    for number, (moment, outcomes) in enumerate(
        [
            (dt.datetime(2026, 11, 1, 14, 59, 59, tzinfo=dt.UTC), ["success", "failure"]),
            (dt.datetime(2026, 11, 1, 15, 0, tzinfo=dt.UTC), ["success"]),  # 11-02 in Korea
        ]
    ):
        send = SendRequest.objects.create(
            organization=organization,
            external_id=f"old-{number}",
            requested_at=moment,
            source="api",
            channel="sms",
            sender=sender,
            body="안내",
            status="completed",
            recipient_count=len(outcomes),
            success_count=outcomes.count("success"),
            failure_count=outcomes.count("failure"),
            points_charged=9 * len(outcomes),
        )
        for index, outcome in enumerate(outcomes):
            Delivery.objects.create(
                send_request=send,
                organization=organization,
                external_id=f"old-{number}-{index}",
                recipient="01012345678",
                status=outcome,
                result_code="3019" if outcome == "failure" else "1000",
                final_channel="sms",
                carrier="SKT",
                points_charged=9,
            )
    new = migrate_to([(APP, "0023_count_tallies")])
    SendTally = new.get_model(APP, "SendTally")
    DeliveryTally = new.get_model(APP, "DeliveryTally")
    assert sorted(SendTally.objects.values_list("day", "sends", "recipients", "failure")) == [
        (dt.date(2026, 11, 1), 1, 2, 1),
        (dt.date(2026, 11, 2), 1, 1, 0),
    ]
    assert sorted(
        DeliveryTally.objects.values_list("day", "status", "result_code", "deliveries")
    ) == [
        (dt.date(2026, 11, 1), "failure", "3019", 1),
        (dt.date(2026, 11, 1), "success", "1000", 1),
        (dt.date(2026, 11, 2), "success", "1000", 1),
    ]
    migrate_to([(APP, "0022_confirmation")])  # and back: the tables empty again
    assert not SendTally.objects.exists()


BEFORE_PARTITIONS = [(APP, "0023_count_tallies")]
AFTER_PARTITIONS = [(APP, "0024_monthly_partitions")]


def test_sends_of_three_months_keep_ids_rows_and_sequences_in_monthly_partitions(migrate_to):
    old = migrate_to(BEFORE_PARTITIONS)
    Organization = old.get_model(APP, "Organization")
    SenderProfile = old.get_model(APP, "SenderProfile")
    SendRequest = old.get_model(APP, "SendRequest")
    Delivery = old.get_model(APP, "Delivery")
    organization = Organization.objects.create(name="old")
    sender = SenderProfile.objects.create(organization=organization, kind="phone", value="021")
    # The last one at 00:00 on the 1st in Korea: a send of December, though UTC says November.
    moments = [
        dt.datetime(2026, 9, 15, 3, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 31, 14, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC),
    ]
    sends = {}
    for i, moment in enumerate(moments):
        send = SendRequest.objects.create(
            organization=organization,
            external_id=f"send-{i}",
            requested_at=moment,
            source="api",
            channel="sms",
            sender=sender,
            body="본문",
            status="completed",
            recipient_count=2,
            success_count=2,
        )
        for j in range(2):
            Delivery.objects.create(
                send_request=send,
                organization=organization,
                external_id=f"{send.external_id}-{j}",
                recipient=f"0101234000{j}",
                status="success",
                final_channel="sms",
            )
        sends[send.pk] = moment
    deliveries = dict(Delivery.objects.values_list("pk", "send_request_id"))

    new = migrate_to(AFTER_PARTITIONS)
    SendRequest = new.get_model(APP, "SendRequest")
    Delivery = new.get_model(APP, "Delivery")
    assert dict(SendRequest.objects.values_list("pk", "requested_at")) == sends
    assert dict(Delivery.objects.values_list("pk", "send_request_id")) == deliveries
    assert {d.pk: d.requested_at for d in Delivery.objects.all()} == {
        pk: sends[send] for pk, send in deliveries.items()
    }
    # New rows take the next ids, as before.
    later = SendRequest.objects.create(
        organization_id=organization.pk,
        external_id="later",
        requested_at=moments[-1],
        source="api",
        channel="sms",
        sender_id=sender.pk,
        body="본문",
        status="completed",
    )
    assert later.pk == max(sends) + 1
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT external_id, tableoid::regclass::text FROM sendon_results_sendrequest "
                "ORDER BY id"
            )
            assert cursor.fetchall() == [
                ("send-0", "sendon_results_sendrequest_p2026_09"),
                ("send-1", "sendon_results_sendrequest_p2026_10"),
                ("send-2", "sendon_results_sendrequest_p2026_12"),
                ("later", "sendon_results_sendrequest_p2026_12"),
            ]
            cursor.execute(
                "SELECT DISTINCT tableoid::regclass::text FROM sendon_results_delivery ORDER BY 1"
            )
            assert [table for (table,) in cursor.fetchall()] == [
                "sendon_results_delivery_p2026_09",
                "sendon_results_delivery_p2026_10",
                "sendon_results_delivery_p2026_12",
            ]

    back = migrate_to(BEFORE_PARTITIONS)  # and back: the same rows in plain tables
    assert dict(back.get_model(APP, "Delivery").objects.values_list("pk", "send_request_id")) == (
        deliveries
    )
    assert back.get_model(APP, "SendRequest").objects.count() == len(sends) + 1


def test_monthly_send_tallies_are_summed_from_the_daily_ones(migrate_to):
    """0025 fills the monthly tallies from the daily ones already counted: days of one
    month together, each month apart, per sender, channel, source and status."""
    old = migrate_to(AFTER_PARTITIONS)
    Organization = old.get_model(APP, "Organization")
    SenderProfile = old.get_model(APP, "SenderProfile")
    SendTally = old.get_model(APP, "SendTally")
    organization = Organization.objects.create(name="before the monthly tallies")
    sender = SenderProfile.objects.create(organization=organization, kind="phone", value="021")
    for day, status, sends in [
        (dt.date(2026, 10, 31), "completed", 2),
        (dt.date(2026, 11, 1), "completed", 3),
        (dt.date(2026, 11, 30), "completed", 4),
        (dt.date(2026, 11, 30), "failed", 1),
    ]:
        SendTally.objects.create(
            organization=organization,
            day=day,
            sender=sender,
            channel="sms",
            source="api",
            status=status,
            sends=sends,
            recipients=10 * sends,
            success=9 * sends,
            points_charged=Decimal("8.50") * sends,
        )
    new = migrate_to([(APP, "0025_month_tallies")])
    months = new.get_model(APP, "SendMonthTally").objects.order_by("month", "status")
    assert list(
        months.values_list("month", "status", "sends", "recipients", "success", "points_charged")
    ) == [
        (dt.date(2026, 10, 1), "completed", 2, 20, 18, Decimal("17.00")),
        (dt.date(2026, 11, 1), "completed", 7, 70, 63, Decimal("59.50")),
        (dt.date(2026, 11, 1), "failed", 1, 10, 9, Decimal("8.50")),
    ]
