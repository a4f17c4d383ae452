from __future__ import annotations

from django.core.management import call_command
from django.db.models import Count, F, Q

from sendon_results.models import Delivery, Organization, SendRequest


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

    # The denormalised counts agree with the deliveries.
    mismatched = SendRequest.objects.annotate(
        ok=Count("deliveries", filter=Q(deliveries__status="success")),
        bad=Count("deliveries", filter=Q(deliveries__status="failure")),
    ).exclude(success_count=F("ok"), failure_count=F("bad"))
    assert not mismatched.exists()

    # Idempotent: a second run adds nothing; a larger size only tops up.
    call_command("seed_demo", sends=150, max_recipients=5)
    assert (SendRequest.objects.count(), Delivery.objects.count()) == (sends, deliveries)
    call_command("seed_demo", sends=170, max_recipients=5)
    assert SendRequest.objects.count() > sends
