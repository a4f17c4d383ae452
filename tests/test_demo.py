from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.test import Client
from django.utils import timezone

from sendon_results.models import Delivery, Organization, SendRequest
from sendon_results.result_codes import REQUEST_FAILED

PENDING = ["reserved", "cancelling"]  # reservations whose time has not come
LIVE = {"in_progress", "reserved", "sending_now", "cancelling"}
NEVER_SENT = {"cancelled", "failed"}

# Each send's counts and points against its deliveries, counted again in SQL.
MISMATCHED_SQL = """
SELECT s.id
FROM sendon_results_sendrequest s
LEFT JOIN (
    SELECT send_request_id, COUNT(*) AS recipients,
        SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS success,
        SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END) AS failure,
        SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END) AS sending,
        SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END) AS waiting,
        SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
        SUM(points_charged) AS charged, SUM(points_refunded) AS refunded
    FROM sendon_results_delivery
    GROUP BY send_request_id
) d ON d.send_request_id = s.id
WHERE d.send_request_id IS NULL OR s.recipient_count <> d.recipients
   OR s.success_count <> d.success OR s.failure_count <> d.failure
   OR s.sending_count <> d.sending OR s.waiting_count <> d.waiting
   OR s.cancelled_count <> d.cancelled
   OR s.points_charged <> d.charged OR s.points_refunded <> d.refunded
"""


def untrue_sends(now: dt.datetime) -> dict[str, list[int]]:
    """The rules of what really happens to a send, each with the ids of the sends that
    break it; written from the rules, not from the seeders."""
    sends = SendRequest.objects.all()
    deliveries = Delivery.objects.all()
    never_sent = Q(status__in=["waiting", "cancelled"])
    requested = F("send_request__requested_at")
    a_minute_later = ExpressionWrapper(
        requested + dt.timedelta(minutes=1), output_field=DateTimeField()
    )
    send_rules: dict[str, QuerySet] = {
        "requested in the future": sends.filter(requested_at__gt=now),
        "reservation not due after now": sends.filter(status__in=PENDING).exclude(
            scheduled_at__gt=now
        ),
        "released reservation without its time": sends.filter(
            status="sending_now", scheduled_at=None
        ),
        "cancelled reservation without a time after its request": sends.filter(
            status="cancelled"
        ).exclude(scheduled_at__gt=F("requested_at")),
        "cancelled send not refunded in full": sends.filter(status="cancelled").exclude(
            points_refunded=F("points_charged")
        ),
        "failed send without a reason": sends.filter(status="failed", failure_reason=""),
        "failed send not refunded in full": sends.filter(status="failed").exclude(
            points_refunded=F("points_charged")
        ),
        "reservation refunded": sends.filter(status__in=PENDING, points_refunded__gt=0),
        "in progress with nobody sending": sends.filter(status="in_progress").exclude(
            id__in=deliveries.filter(status="sending").values("send_request_id")
        ),
    }
    delivery_rules: dict[str, QuerySet] = {
        "reservation's recipient not waiting": deliveries.filter(
            send_request__status__in=PENDING
        ).exclude(status="waiting"),
        "waiting outside a pending reservation": deliveries.filter(status="waiting").exclude(
            send_request__status__in=PENDING
        ),
        "cancelled send's recipient not cancelled": deliveries.filter(
            send_request__status="cancelled"
        ).exclude(status="cancelled"),
        "cancelled outside a cancelled send": deliveries.filter(status="cancelled").exclude(
            send_request__status="cancelled"
        ),
        "never sent, yet with a carrier, a time or a result": deliveries.filter(never_sent).filter(
            ~Q(carrier="")
            | Q(sent_at__isnull=False)
            | Q(completed_at__isnull=False)
            | ~Q(result_code="")
            | ~Q(result_message="")
        ),
        "waiting without a charge": deliveries.filter(status="waiting", points_charged__lte=0),
        "failed request's recipient not failed with its reason": deliveries.filter(
            send_request__status="failed"
        ).exclude(
            status="failure",
            result_code=REQUEST_FAILED,
            result_message=F("send_request__failure_reason"),
            carrier="",
            sent_at=None,
        ),
        "failed request's recipient not completed when it failed": deliveries.filter(
            send_request__status="failed"
        ).exclude(completed_at__gte=requested, completed_at__lte=a_minute_later),
        "request failure code on a send that did not fail": deliveries.filter(
            result_code=REQUEST_FAILED
        ).exclude(send_request__status="failed"),
        "released reservation's recipient not sending": deliveries.filter(
            send_request__status="sending_now"
        ).exclude(status="sending"),
        "sending outside a send in progress": deliveries.filter(status="sending").exclude(
            send_request__status__in=["in_progress", "sending_now"]
        ),
        "sending yet completed": deliveries.filter(status="sending", completed_at__isnull=False),
        "sending in progress without a carrier": deliveries.filter(
            status="sending", send_request__status="in_progress", carrier=""
        ),
        "completed send's recipient not final": deliveries.filter(
            send_request__status="completed"
        ).exclude(status__in=["success", "failure"]),
        "final without a completion time": deliveries.filter(
            status__in=["success", "failure"], completed_at=None
        ),
        "failure or cancellation not refunded in full": deliveries.filter(
            status__in=["failure", "cancelled"]
        ).exclude(points_refunded=F("points_charged")),
        "refund of a message that was or may be delivered": deliveries.filter(
            status__in=["success", "sending", "waiting"]
        ).exclude(points_refunded=0),
        "a time in the future": deliveries.filter(Q(sent_at__gt=now) | Q(completed_at__gt=now)),
        "sent before it was requested": deliveries.filter(sent_at__lt=requested),
        "completed before it was sent": deliveries.filter(completed_at__lt=F("sent_at")),
    }
    broken = {name: sorted(rule.values_list("id", flat=True)) for name, rule in send_rules.items()}
    for name, rule in delivery_rules.items():
        broken[name] = sorted(set(rule.values_list("send_request_id", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute(MISMATCHED_SQL)
        broken["counts or points differ from the deliveries"] = [row[0] for row in cursor]
    return {name: ids for name, ids in broken.items() if ids}


def statuses_of_first_page(username: str, password: str) -> list[str]:
    client = Client()
    assert client.login(username=username, password=password)
    response = client.get("/results/")
    assert response.status_code == 200
    return [send.status for send in response.context["page"].rows]


def test_seed_demo_builds_a_believable_history_once(db, capsys):
    call_command("seed_demo", sends=150, max_recipients=5)
    out = capsys.readouterr().out
    assert "hanbit / hanbit-demo-2026" in out and "manager / manager-demo-2026" in out
    sends, deliveries = SendRequest.objects.count(), Delivery.objects.count()
    assert Organization.objects.count() == 2

    assert set(SendRequest.objects.values_list("status", flat=True)) == set(SendRequest.Status)
    assert set(Delivery.objects.values_list("status", flat=True)) == set(Delivery.Status)
    assert set(SendRequest.objects.values_list("channel", flat=True)) >= {"sms", "alimtalk"}
    # Some KakaoTalk messages fell back to SMS/LMS.
    assert Delivery.objects.filter(
        send_request__channel="alimtalk", final_channel__in=["sms", "lms"]
    ).exists()
    oldest = SendRequest.objects.order_by("requested_at").first().requested_at
    newest = SendRequest.objects.order_by("requested_at").last().requested_at
    assert (newest - oldest).days >= 390  # 13 months: the one-year limit is visible
    assert untrue_sends(timezone.now()) == {}

    # Idempotent: a second run adds nothing; a larger size only tops up.
    call_command("seed_demo", sends=150, max_recipients=5)
    assert (SendRequest.objects.count(), Delivery.objects.count()) == (sends, deliveries)
    call_command("seed_demo", sends=170, max_recipients=5)
    assert SendRequest.objects.count() > sends
    assert untrue_sends(timezone.now()) == {}


def test_seed_demo_tells_every_case_as_it_happened(db):
    # The default number of sends; fewer recipients keep it quick, and the status of a
    # send does not depend on them.
    call_command("seed_demo", max_recipients=3)
    now = timezone.now()
    assert untrue_sends(now) == {}

    for organization in Organization.objects.all():
        statuses = set(
            SendRequest.objects.filter(organization=organization).values_list("status", flat=True)
        )
        assert statuses >= LIVE | NEVER_SENT, organization
    # Operators open the console on its newest page: the live sends are there, beside a
    # cancelled reservation and a failed request.
    assert set(statuses_of_first_page("hanbit", "hanbit-demo-2026")) >= LIVE | NEVER_SENT
    assert set(statuses_of_first_page("pureun", "pureun-demo-2026")) >= LIVE | NEVER_SENT

    # What each case looks like, spelled out on one send of each.
    reserved = SendRequest.objects.filter(status="reserved").first()
    assert reserved.scheduled_at > now > reserved.requested_at
    assert reserved.waiting_count == reserved.recipient_count
    assert reserved.points_refunded == 0 < reserved.points_charged
    cancelled = SendRequest.objects.filter(status="cancelled").first()
    assert cancelled.scheduled_at > cancelled.requested_at
    assert cancelled.cancelled_count == cancelled.recipient_count
    assert cancelled.failure_count == 0 and cancelled.points_refunded == cancelled.points_charged
    assert set(cancelled.deliveries.values_list("carrier", "sent_at", "completed_at")) == {
        ("", None, None)
    }
    failed = SendRequest.objects.filter(status="failed").first()
    assert failed.failure_reason
    assert failed.failure_count == failed.recipient_count
    assert set(failed.deliveries.values_list("result_code", "result_message")) == {
        (REQUEST_FAILED, failed.failure_reason)
    }


@pytest.mark.django_db(transaction=True)  # seed_scale ends with VACUUM, outside a transaction
def test_seed_scale_tells_every_case_as_it_happened():
    if connection.vendor != "postgresql":
        pytest.skip("seed_scale generates its rows inside PostgreSQL")
    call_command("seed_scale", sends=400, verbosity=0)
    assert untrue_sends(timezone.now()) == {}
    statuses = set(SendRequest.objects.values_list("status", flat=True))
    assert statuses >= LIVE | NEVER_SENT | {"completed"}
    assert set(statuses_of_first_page("hanbit", "hanbit-demo-2026")) >= LIVE | NEVER_SENT
