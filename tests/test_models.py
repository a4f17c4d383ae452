from __future__ import annotations

import pytest
from django.db import IntegrityError

from sendon_results.models import SendRequest, format_phone
from tests.factories import SendRequestFactory, make_send


@pytest.mark.parametrize(
    ("digits", "shown"),
    [
        ("01012345678", "010-1234-5678"),
        ("0212345678", "02-1234-5678"),
        ("021234567", "02-123-4567"),
        ("0317654321", "031-765-4321"),
        ("15881234", "1588-1234"),
        ("12", "12"),
    ],
)
def test_format_phone(digits, shown):
    assert format_phone(digits) == shown


def test_outcome_counts_must_add_up(alice):
    with pytest.raises(IntegrityError):
        SendRequestFactory(
            organization=alice.organization,
            sender=alice.phone,
            recipient_count=3,
            success_count=1,
            failure_count=1,
            sending_count=0,
        )


def test_with_outcome_reads_the_counts(alice):
    ok = make_send(alice.organization, sender=alice.phone, outcomes=["success"])
    mixed = make_send(alice.organization, sender=alice.phone, outcomes=["success", "failure"])
    qs = SendRequest.objects.for_org(alice.organization)
    assert set(qs.with_outcome(["failure"])) == {mixed}
    assert set(qs.with_outcome(["success"])) == {ok, mixed}
    assert set(qs.with_outcome(["sending"])) == set()


def test_first_line_and_outcome_shares(alice):
    send = make_send(
        alice.organization,
        sender=alice.phone,
        body="\n  첫 줄\n둘째 줄",
        outcomes=["success", "success", "success", "failure"],
    )
    assert send.first_line == "첫 줄"
    assert send.outcome_shares() == {"success": 75.0, "failure": 25.0, "sending": 0.0}
