from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.db import IntegrityError
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sendon_results import retention
from sendon_results.api import views as api_views
from sendon_results.api.keys import create_key
from sendon_results.models import ApiKey, Delivery, PendingResult, SendRequest
from tests.contract import ContractClient

# The dates below lie in a fixed week: the API refuses moments far from now.
NOW = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _in_that_week():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def platform(alice):
    """A client of the sending platform, with alice's organization's key; every answer of
    the API's operations is checked against openapi.json."""
    _, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
    return ContractClient(headers={"Authorization": f"Bearer {secret}"})


def post(client: ContractClient, url: str, data: object, **kwargs):
    return client.post(url, json.dumps(data), content_type="application/json", **kwargs)


def new_send(external_id: str = "S-1", recipients: int = 3, **fields) -> dict:
    return {
        "external_id": external_id,
        "requested_at": "2026-11-20T10:00:00+09:00",
        "source": "api",
        "channel": "sms",
        "sender": {"kind": "phone", "value": "02-1234-5678", "label": "대표"},
        "title": "",
        "body": "[API] 안내 메시지",
        "fallback": False,
        "points_per_message": "9",
        **fields,
        "recipients": [
            {"external_id": f"R-{i}", "phone": f"010-1111-{i:04d}", "name": "수신자"}
            for i in range(recipients)
        ],
    }


def result(recipient: str, outcome: str, at: str, send: str = "S-1", **fields) -> dict:
    return {
        "send_external_id": send,
        "recipient_external_id": recipient,
        "outcome": outcome,
        "completed_at": at,
        **fields,
    }


def test_round_trip_through_the_console(alice, platform):
    response = post(platform, "/api/v1/send-requests", new_send())
    assert response.status_code == 201, response.content
    assert response.json()["counts"] == {
        "recipients": 3,
        "success": 0,
        "failure": 0,
        "sending": 3,
        "waiting": 0,
        "cancelled": 0,
    }
    html = alice.client.get("/results/").content.decode()
    assert "[API] 안내 메시지" in html and "진행중" in html
    failed = result("R-1", "failure", "2026-11-20T10:00:06+09:00", result_code="3019")
    batch = [
        result("R-0", "success", "2026-11-20T10:00:05+09:00", result_code="1000"),
        {**failed, "points_refunded": "9"},
        result("R-2", "success", "2026-11-20T10:00:07+09:00"),
    ]
    response = post(platform, "/api/v1/results", {"results": batch})
    assert response.json() == {"applied": 3, "unchanged": 0, "pending": 0}
    send = SendRequest.objects.get(external_id="S-1")
    assert (send.success_count, send.failure_count, send.sending_count) == (2, 1, 0)
    assert send.status == "completed" and send.points_refunded == 9
    assert [
        s.external_id for s in alice.client.get("/results/?outcome=failure").context["page"].rows
    ] == ["S-1"]
    detail = platform.get("/api/v1/send-requests/S-1").json()
    assert detail["status"] == "completed" and len(detail["deliveries"]) == 3
    listed = platform.get("/api/v1/send-requests?outcome=failure").json()
    assert [s["external_id"] for s in listed["results"]] == ["S-1"]
    by_code = platform.get(f"/api/v1/send-requests?code={failed['result_code']}").json()
    assert [s["external_id"] for s in by_code["results"]] == ["S-1"]
    assert platform.get("/api/v1/send-requests?code=1999").json()["results"] == []
    refused = platform.get("/api/v1/send-requests?code=30%2019")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "code"


def counts(response) -> dict[str, int]:
    return {k: v for k, v in response.json()["counts"].items() if v and k != "recipients"}


def test_a_cancelled_reservation_through_the_api_and_the_console(alice, platform):
    reserved = post(
        platform, "/api/v1/send-requests", new_send(scheduled_at="2026-12-01T09:00:00+09:00")
    )
    assert reserved.json()["status"] == "reserved" and counts(reserved) == {"waiting": 3}
    listed = alice.client.get("/results/?outcome=sending").context["page"].rows
    assert listed == []  # waiting for its time is not sending
    assert len(alice.client.get("/results/?outcome=waiting").context["page"].rows) == 1
    url = "/api/v1/send-requests/S-1/status"
    assert post(platform, url, {"status": "cancelling"}).json()["status"] == "cancelling"
    cancelled = post(platform, url, {"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled" and counts(cancelled) == {"cancelled": 3}
    assert cancelled.json()["points_refunded"] == cancelled.json()["points_charged"] == "27.00"
    assert len(alice.client.get("/results/?outcome=cancelled").context["page"].rows) == 1
    assert alice.client.get("/results/?outcome=failure").context["page"].rows == []
    conflict = post(platform, url, {"status": "sending_now"})
    assert (
        conflict.status_code == 409
        and conflict.json()["errors"][0]["current_status"] == "cancelled"
    )
    # A late carrier answer for a message never sent changes nothing.
    late = {"results": [result("R-0", "success", "2026-11-21T10:00:00+09:00")]}
    assert post(platform, "/api/v1/results", late).json()["unchanged"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"requested_at": "9999-12-31T23:59:59Z"}, "requested_at"),
        ({"requested_at": "9999-12-31T23:59:59-14:00"}, "requested_at"),
        ({"requested_at": "0001-01-01T00:00:00+14:00"}, "requested_at"),
        ({"requested_at": "2099-01-01T00:00:00+09:00"}, "requested_at"),
        ({"requested_at": "2020-01-01T00:00:00+09:00"}, "requested_at"),
        ({"requested_at": "2026-11-22T03:00:01Z"}, "requested_at"),  # a day and a second ahead
        ({"scheduled_at": "9999-12-31T23:59:59-14:00"}, "scheduled_at"),
        ({"scheduled_at": "2026-11-20T09:59:59+09:00"}, "scheduled_at"),  # before the request
        ({"scheduled_at": "2027-11-20T10:00:01+09:00"}, "scheduled_at"),  # a year after it
    ],
)
def test_moments_outside_their_window_are_refused(alice, platform, change, field):
    response = post(platform, "/api/v1/send-requests", new_send(**change))
    assert response.status_code == 400, response.content
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert not SendRequest.objects.exists()
    assert alice.client.get("/results/").status_code == 200


def test_result_moments_and_refunds_are_checked(platform):
    post(platform, "/api/v1/send-requests", new_send())
    cases = [
        (result("R-0", "success", "9999-12-31T23:59:59-14:00"), "results[0].completed_at"),
        (result("R-0", "success", "0001-01-01T00:00:00+14:00"), "results[0].completed_at"),
        (result("R-0", "success", "2026-11-19T09:59:59+09:00"), "results[0].completed_at"),
        (
            result("R-0", "failure", "2026-11-20T10:00:05+09:00", points_refunded="9.01"),
            "results[0].points_refunded",
        ),
    ]
    for item, field in cases:
        response = post(platform, "/api/v1/results", {"results": [item]})
        assert response.status_code == 400, (item, response.content)
        assert [error["field"] for error in response.json()["errors"]] == [field]
    send = SendRequest.objects.get()
    assert (send.sending_count, send.points_refunded) == (3, 0)
    assert not PendingResult.objects.exists()


def test_a_value_repeated_in_a_batch_is_judged_the_same_each_time(platform):
    """A batch's moments and amounts are parsed once each: a repeat of a wrong one is
    named again, and an amount equal to a good one in another type is still judged by
    its own (true is no amount)."""
    post(platform, "/api/v1/send-requests", new_send())
    moment, too_fine = "2026-11-20T10:00:05+09:00", "0.001"
    batch = [
        result("R-0", "failure", moment, points_refunded=1),
        result("R-1", "failure", moment, points_refunded=True),
        result("R-2", "failure", moment, points_refunded=too_fine),
        result("R-0", "failure", "2026-11-25T00:00:00+09:00", points_refunded=too_fine),
        result("R-1", "failure", "2026-11-25T00:00:00+09:00", points_refunded=1),
    ]
    response = post(platform, "/api/v1/results", {"results": batch})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [
        "results[1].points_refunded",
        "results[2].points_refunded",
        "results[3].completed_at",
        "results[3].points_refunded",
        "results[4].completed_at",
    ]
    assert post(platform, "/api/v1/results", {"results": batch[:1]}).json()["applied"] == 1
    assert Delivery.objects.get(external_id="R-0").points_refunded == 1


def test_the_same_send_written_another_way_is_no_conflict(platform):
    assert post(platform, "/api/v1/send-requests", new_send()).status_code == 201
    same = new_send(requested_at="2026-11-20T01:00:00Z", points_per_message="9.00")
    for recipient in same["recipients"]:
        recipient["phone"] = recipient["phone"].replace("-", "")
    same["sender"]["value"] = "+82 2-1234-5678"
    assert post(platform, "/api/v1/send-requests", same).status_code == 200
    later = new_send(requested_at="2026-11-20T01:00:01Z")
    assert post(platform, "/api/v1/send-requests", later).status_code == 409


def test_what_ingest_refuses_is_answered_with_its_status_and_stores_nothing(platform, settings):
    """Each refusal of ingest (tests/test_ingest.py) as the platform gets it."""
    assert post(platform, "/api/v1/send-requests", new_send()).status_code == 201
    conflict = post(platform, "/api/v1/send-requests", new_send(body="다른 본문"))
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["field"] == "external_id"
    batch = [
        result("R-0", "success", "2026-11-20T10:00:05+09:00"),
        result("R-9", "success", "2026-11-20T10:00:05+09:00"),
    ]
    unknown = post(platform, "/api/v1/results", {"results": batch})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "results[1].recipient_external_id"
    assert SendRequest.objects.get().sending_count == 3
    settings.PENDING_RESULT_LIMIT = 1
    early = [result(f"R-{i}", "success", "2026-11-20T10:00:05+09:00", send="S-9") for i in (0, 1)]
    refused = post(platform, "/api/v1/results", {"results": early})
    assert refused.status_code == 429 and refused.json()["errors"][0]["field"] == "results"
    assert not PendingResult.objects.exists()


def test_results_whose_send_never_came_go_with_the_purge(platform):
    stale = {"results": [result("R-0", "success", "2026-11-20T10:00:05+09:00", send="S-9")]}
    post(platform, "/api/v1/results", stale)
    with time_machine.travel(NOW + dt.timedelta(days=7, hours=1)):
        fresh = {"results": [result("R-0", "success", "2026-11-28T10:00:05+09:00", send="S-8")]}
        post(platform, "/api/v1/results", fresh)
        assert retention.purge_expired(dry_run=True).pending_results == 1
        assert retention.purge_expired().pending_results == 1
    assert list(PendingResult.objects.values_list("send_external_id", flat=True)) == ["S-8"]


def test_every_api_address_answers_json(platform, monkeypatch):
    for url, status in [
        ("/api/v1/send-requests/abc%00def", 404),
        ("/api/v1/send-requests/abc%00def/status", 405),
        ("/api/v1/nothing-here", 404),
        ("/api/v2/send-requests", 404),
    ]:
        response = platform.get(url)
        assert (response.status_code, response["Content-Type"]) == (status, "application/json")
        assert response.json()["errors"]
    put = platform.put("/api/v1/send-requests/S-1", "{}", content_type="application/json")
    assert put.status_code == 405 and put.json()["errors"]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug after the send was written")

    monkeypatch.setattr(api_views, "_send_json", broken)
    response = post(platform, "/api/v1/send-requests", new_send())
    assert response.status_code == 500 and response.json()["errors"]
    assert not SendRequest.objects.exists() and not Delivery.objects.exists()

    def violated(*args, **kwargs):
        raise IntegrityError("a constraint, not an outage")

    monkeypatch.setattr(api_views, "_send_json", violated)
    response = post(platform, "/api/v1/send-requests", new_send())
    assert response.status_code == 500 and "Retry-After" not in response
    assert not SendRequest.objects.exists()


MOMENTS = st.one_of(
    st.builds(
        lambda moment, minutes: (
            moment.isoformat()
            + (f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
        ),
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
        st.integers(min_value=-14 * 60, max_value=14 * 60),
    ),
    st.datetimes(  # near now: mostly accepted, so rows get stored and rendered
        min_value=dt.datetime(2025, 10, 1), max_value=dt.datetime(2028, 1, 1)
    ).map(lambda moment: moment.isoformat() + "+09:00"),
    st.text(max_size=40),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2026-11-20"]),
)
NUMBERS = st.one_of(
    st.integers(), st.floats(), st.decimals().map(str), st.text(max_size=20), st.booleans()
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    requested_at=MOMENTS,
    scheduled_at=MOMENTS | st.none(),
    completed_at=MOMENTS,
    price=NUMBERS,
    refund=NUMBERS,
)
def test_no_moment_or_number_fails_the_api_or_a_page(
    alice, platform, requested_at, scheduled_at, completed_at, price, refund
):
    SendRequest.objects.all().delete()
    PendingResult.objects.all().delete()
    send = new_send(requested_at=requested_at, scheduled_at=scheduled_at, points_per_message=price)
    created = post(platform, "/api/v1/send-requests", send)
    assert created.status_code in (200, 201, 400), created.content
    item = result("R-0", "failure", completed_at, points_refunded=refund)
    answered = post(platform, "/api/v1/results", {"results": [item]})
    assert answered.status_code in (200, 400), answered.content
    assert platform.get("/api/v1/send-requests").status_code == 200
    assert alice.client.get("/results/").status_code == 200
    assert alice.client.get("/results/?order=oldest").status_code == 200
    for stored in SendRequest.objects.all():
        assert alice.client.get(f"/results/{stored.pk}/").status_code == 200
        assert platform.get(f"/api/v1/send-requests/{stored.external_id}").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"requested_at": "2026-11-20T10:00:00"}, "requested_at"),
        ({"body": ""}, "body"),
        ({"body": "가" * 4001}, "body"),
        ({"sender": {"kind": "phone", "value": "call me"}}, "sender.value"),
        ({"sender": {"kind": "kakao", "value": "key"}}, "sender.kind"),
        ({"points_per_message": "-1"}, "points_per_message"),
    ],
)
def test_bad_send_fields_are_named_and_nothing_is_stored(platform, change, field):
    response = post(platform, "/api/v1/send-requests", {**new_send(), **change})
    assert response.status_code == 400
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not SendRequest.objects.exists() and not Delivery.objects.exists()


def test_bad_recipients(platform):
    send = new_send()
    send["recipients"][3 - 1]["phone"] = "12345"
    response = post(platform, "/api/v1/send-requests", send)
    assert response.json()["errors"] == [
        {
            "field": "recipients[2].phone",
            "message": "Must be a Korean phone number, e.g. 010-1234-5678.",
        }
    ]
    too_many = new_send(recipients=10_001)
    response = post(platform, "/api/v1/send-requests", too_many)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "recipients"
    assert not SendRequest.objects.exists()


def test_bad_requests(alice, platform):
    assert (
        platform.post("/api/v1/send-requests", "{", content_type="application/json").status_code
        == 400
    )
    wrong_type = platform.post("/api/v1/send-requests", "a=b", content_type="text/plain")
    assert wrong_type.status_code == 415
    huge = platform.post(
        "/api/v1/send-requests", "x" * (17 * 2**20), content_type="application/json"
    )
    assert huge.status_code == 413
    five_mb_body = post(platform, "/api/v1/send-requests", new_send(body="가" * (5 * 2**20 // 3)))
    assert five_mb_body.status_code == 400
    assert five_mb_body.json()["errors"][0]["field"] == "body"
    assert post(ContractClient(), "/api/v1/send-requests", new_send()).status_code == 401
    ApiKey.objects.update(revoked_at="2026-11-20T00:00:00Z")
    revoked = post(platform, "/api/v1/send-requests", new_send())
    assert revoked.status_code == 401 and revoked.json()["errors"][0]["field"] == "Authorization"
    assert not SendRequest.objects.exists()


def test_another_organizations_send_is_404(platform, bob):
    _, secret = create_key(organization=bob.organization, name="b", user=bob.user)
    other = ContractClient(headers={"Authorization": f"Bearer {secret}"})
    post(platform, "/api/v1/send-requests", new_send())
    assert other.get("/api/v1/send-requests/S-1").status_code == 404
    assert (
        post(
            other, "/api/v1/send-requests/S-1/status", {"status": "failed", "reason": "x"}
        ).status_code
        == 404
    )
    assert other.get("/api/v1/send-requests").json()["results"] == []
    # A result for alice's send, posted with bob's key, waits for a send bob never has.
    post(
        other,
        "/api/v1/results",
        {"results": [result("R-0", "success", "2026-11-20T10:00:05+09:00")]},
    )
    assert SendRequest.objects.get(external_id="S-1").success_count == 0


def test_keys_are_made_and_revoked_by_owners(alice, bob):
    response = alice.client.post("/settings/api-keys/", {"name": "발송 서버"}, follow=True)
    html = response.content.decode()
    key = ApiKey.objects.get()
    assert f"sr_{key.prefix}_" in html and key.secret_hash not in html
    assert (
        f"sr_{key.prefix}_"
        not in alice.client.get("/settings/api-keys/").content.decode().split("…")[-1]
    )
    assert bob.client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 404
    alice.client.post(f"/settings/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_bad_results_are_named_and_nothing_is_applied(platform):
    post(platform, "/api/v1/send-requests", new_send())
    batch = {
        "results": [
            result("R-0", "success", "2026-11-20T10:00:05+09:00"),
            result("R-1", "delivered", "2026-11-20T10:00:05+09:00"),
            result("R-2", "failure", "2026-11-20T10:00:05"),
        ]
    }
    response = post(platform, "/api/v1/results", batch)
    assert response.status_code == 400
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["results[1].outcome", "results[2].completed_at"]
    assert SendRequest.objects.get().sending_count == 3
    too_many = {"results": [batch["results"][0]] * 10_001}
    assert post(platform, "/api/v1/results", too_many).json()["errors"][0]["field"] == "results"
