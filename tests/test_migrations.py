"""Migrations that rewrite stored rows, run over rows as an earlier version stored them."""

from __future__ import annotations

import datetime as dt

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
            organization=organization, external_id=name, requested_at=now, source="api",
            channel="sms", sender=sender, body="본문", status=status,
            recipient_count=len(outcomes), success_count=outcomes.count("success"),
            failure_count=outcomes.count("failure"), sending_count=outcomes.count("sending"),
            **fields,
        )  # fmt: skip
        return row

    def delivery(row, i, status, **fields):
        return Delivery.objects.create(
            send_request=row, organization=organization, external_id=f"{row.external_id}-{i}",
            recipient="01012345678", status=status, final_channel="sms", **fields,
        )  # fmt: skip

    reserved = send("reserved", "reserved", ["sending"])
    delivery(reserved, 0, "sending", carrier="SKT", result_code="3005", result_message="대기")
    cancelled = send("cancelled", "cancelled", ["failure", "failure"])
    for i in range(2):
        delivery(cancelled, i, "failure", carrier="KT", result_message="예약 취소",
                 completed_at=now, points_charged=9, points_refunded=9)  # fmt: skip
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
            "WHERE id = %s", [far_moment, far_moment, far.pk],
        )  # fmt: skip
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
        counts = {o: getattr(row, f"{o}_count") for o in
                  ("success", "failure", "sending", "waiting", "cancelled")}  # fmt: skip
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
        "success", "failure", "sending"
    }  # fmt: skip
