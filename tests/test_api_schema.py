"""The ingest API against its own OpenAPI document (Schemathesis): generated requests,
every answer checked against the document; then each operation's real answers, success
and every documented error, one by one."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pytest
import schemathesis
import time_machine
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections
from django.http import HttpResponse
from django.urls import get_resolver
from hypothesis import HealthCheck, settings

from sendon_results.api import views as api_views
from sendon_results.api.keys import create_key
from sendon_results.wsgi import application
from tests.contract import SCHEMA, ContractClient, assert_documented

# Every built-in check, documented statuses, content types, headers and response schemas
# included, but one: a request the document allows may still be refused, because some
# rules depend on now ("within the records kept") or on stored data (a recipient of the
# send), which JSON Schema cannot say. And, as most HTTP APIs do, this one ignores query
# parameters it does not know: no request with unknown ones is expected to be refused.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "generation": {"allow-extra-parameters": False},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)
NOW = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calls go straight to the WSGI app, whose request_finished signal would close the
    test's database connection; Django's own test client switches that off the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def key(alice) -> str:
    return create_key(organization=alice.organization, name="fuzz", user=alice.user)[1]


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_generated_call_is_answered_as_documented(case, key):
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"})


# Each operation's answers, one by one ----------------------------------------------------


@pytest.fixture
def platform(alice, key) -> Iterator[ContractClient]:
    with time_machine.travel(NOW, tick=True):
        yield ContractClient(headers={"Authorization": f"Bearer {key}"})


class Answers:
    """The answers of one operation, each checked against the document as it comes, and
    the statuses seen, to compare with the statuses the operation documents."""

    def __init__(self, path: str, method: str) -> None:
        self.documented = set(SCHEMA.raw_schema["paths"][path][method]["responses"])
        self.seen: set[str] = set()

    def __call__(self, response: HttpResponse, status: int) -> HttpResponse:
        assert response.status_code == status, response.content[:500]
        assert_documented(response)
        self.seen.add(str(status))
        return response


def post(client: ContractClient, url: str, data: object) -> HttpResponse:
    return client.post(url, json.dumps(data), content_type="application/json")


def new_send(external_id: str = "S-1", **fields: object) -> dict:
    return {
        "external_id": external_id,
        "requested_at": "2026-11-20T10:00:00+09:00",
        "source": "api",
        "channel": "sms",
        "sender": {"kind": "phone", "value": "02-1234-5678", "label": "대표"},
        "body": "[API] 안내 메시지",
        "points_per_message": "9",
        "recipients": [
            {"external_id": f"R-{i}", "phone": f"010-1111-{i:04d}", "name": "수신자"}
            for i in range(3)
        ],
        **fields,
    }


def result(recipient: str, outcome: str = "success", send: str = "S-1", **fields: object) -> dict:
    return {
        "send_external_id": send,
        "recipient_external_id": recipient,
        "outcome": outcome,
        "completed_at": "2026-11-20T10:00:05+09:00",
        **fields,
    }


def failing_calls(
    monkeypatch: pytest.MonkeyPatch, answers: Answers, call: Callable[[], HttpResponse]
) -> None:
    """The two faults every operation answers: a bug (500) and a database that cannot be
    reached (503, with Retry-After)."""
    for fault, status in [(RuntimeError("a bug"), 500), (OperationalError("gone"), 503)]:

        def broken(*args: object, fault: Exception = fault) -> None:
            raise fault

        with monkeypatch.context() as patch:
            patch.setattr(api_views, "authenticate", broken)
            answers(call(), status)


def test_create_send_request_answers(platform, monkeypatch, settings):
    answers = Answers("/api/v1/send-requests", "post")
    url = "/api/v1/send-requests"
    post(platform, "/api/v1/results", {"results": [result("R-0"), result("R-9")]})
    created = answers(post(platform, url, new_send()), 201)
    assert created.json()["early_results"] == {"applied": 1, "unchanged": 0, "dropped": 1}
    answers(post(platform, url, new_send()), 200)
    answers(post(platform, url, new_send(body="다른 본문")), 409)
    reserved = new_send("S-2", scheduled_at="2026-12-01T09:00:00+09:00", title=None)
    assert answers(post(platform, url, reserved), 201).json()["scheduled_at"]
    answers(post(platform, url, {**new_send(), "channel": "fax"}), 400)
    answers(ContractClient().post(url, "{}", content_type="application/json"), 401)
    answers(platform.post(url, "a=b", content_type="text/plain"), 415)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    answers(post(platform, url, new_send("S-3")), 413)
    failing_calls(monkeypatch, answers, lambda: post(platform, url, new_send("S-4")))
    assert answers.seen == answers.documented


def test_list_send_requests_answers(platform, monkeypatch):
    answers = Answers("/api/v1/send-requests", "get")
    url = "/api/v1/send-requests"
    answers(platform.get(url), 200)
    post(platform, url, new_send("S-1"))
    post(platform, url, new_send("S-2", scheduled_at="2026-12-01T09:00:00+09:00"))
    monkeypatch.setattr(api_views, "PAGE_SIZE", 1)
    first = answers(platform.get(url, {"status": ["in_progress", "reserved"]}), 200).json()
    assert [send["external_id"] for send in first["results"]] == ["S-2"]
    cursor = first["next_cursor"]
    assert answers(platform.get(url, {"cursor": cursor}), 200).json()["next_cursor"] is None
    answers(platform.get(url, {"status": "delivered"}), 400)
    answers(ContractClient().get(url), 401)
    failing_calls(monkeypatch, answers, lambda: platform.get(url))
    assert answers.seen == answers.documented


def test_get_send_request_answers(platform, monkeypatch):
    answers = Answers("/api/v1/send-requests/{external_id}", "get")
    url = "/api/v1/send-requests/S-1"
    post(platform, "/api/v1/send-requests", new_send(title="제목"))
    post(
        platform,
        "/api/v1/results",
        {"results": [result("R-0", "failure", result_code="3019", carrier="KT")]},
    )
    monkeypatch.setattr(api_views, "DELIVERY_PAGE_SIZE", 2)
    first = answers(platform.get(url), 200).json()
    assert [d["completed_at"] is None for d in first["deliveries"]] == [False, True]
    last = answers(platform.get(url, {"cursor": first["next_cursor"]}), 200).json()
    assert [d["external_id"] for d in last["deliveries"]] == ["R-2"]
    answers(platform.get(url, {"cursor": "not-a-cursor"}), 400)
    answers(platform.get("/api/v1/send-requests/S-9"), 404)
    answers(ContractClient().get(url), 401)
    failing_calls(monkeypatch, answers, lambda: platform.get(url))
    assert answers.seen == answers.documented


def test_change_status_answers(platform, monkeypatch, settings):
    answers = Answers("/api/v1/send-requests/{external_id}/status", "post")
    url = "/api/v1/send-requests/S-1/status"
    post(platform, "/api/v1/send-requests", new_send(scheduled_at="2026-12-01T09:00:00+09:00"))
    answers(post(platform, url, {"status": "cancelled"}), 200)
    conflict = answers(post(platform, url, {"status": "sending_now"}), 409).json()
    assert conflict["errors"][0]["current_status"] == "cancelled"
    answers(post(platform, url, {"status": "failed"}), 400)  # no reason
    answers(post(platform, "/api/v1/send-requests/S-9/status", {"status": "cancelled"}), 404)
    answers(ContractClient().post(url, "{}", content_type="application/json"), 401)
    answers(platform.post(url, "status=failed", content_type="text/plain"), 415)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    answers(post(platform, url, {"status": "failed", "reason": "발신번호 인증 만료"}), 413)
    failing_calls(monkeypatch, answers, lambda: post(platform, url, {"status": "cancelled"}))
    assert answers.seen == answers.documented


def test_post_results_answers(platform, monkeypatch, settings):
    answers = Answers("/api/v1/results", "post")
    url = "/api/v1/results"
    post(platform, "/api/v1/send-requests", new_send())
    applied = answers(
        post(platform, url, {"results": [result("R-0"), result("R-1", send="S-8")]}), 200
    )
    assert applied.json() == {"applied": 1, "unchanged": 0, "pending": 1}
    answers(post(platform, url, {"results": [result("R-1", points_refunded="9.01")]}), 400)
    answers(post(platform, url, {"results": [result("R-9")]}), 422)
    settings.PENDING_RESULT_LIMIT = 1
    answers(post(platform, url, {"results": [result("R-1", send="S-9")]}), 429)
    answers(ContractClient().post(url, "{}", content_type="application/json"), 401)
    answers(platform.post(url, "results=", content_type="text/plain"), 415)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    answers(post(platform, url, {"results": [result("R-2")]}), 413)
    failing_calls(monkeypatch, answers, lambda: post(platform, url, {"results": [result("R-2")]}))
    assert answers.seen == answers.documented


def test_the_document_answers(client):
    answers = Answers("/api/v1/openapi.json", "get")
    document = answers(client.get("/api/v1/openapi.json"), 200).json()
    assert document == SCHEMA.raw_schema
    assert answers.seen == answers.documented


def _api_routes() -> set[str]:
    """Each address Django routes to an API view, written as the document writes paths."""
    return {
        "/" + str(pattern.pattern).replace("<str:", "{").replace(">", "}")
        for pattern in get_resolver().url_patterns
        if str(pattern.pattern).startswith("api/v1/")
    }


def test_every_address_and_method_of_the_api_is_documented(platform):
    """An operation added to the code and not to the document (or the other way round)
    fails here; so does a method a view takes that the document does not list, because a
    405 lists the methods the view takes in Allow."""
    documented = SCHEMA.raw_schema["paths"]
    assert _api_routes() == set(documented)
    for path, operations in documented.items():
        if path == "/api/v1/openapi.json":
            continue  # a static document: any method reads it
        url = path.replace("{external_id}", "S-1")
        refused = platform.generic("PATCH", url)
        assert refused.status_code == 405 and refused.json()["errors"]
        assert set(refused["Allow"].lower().split(", ")) == set(operations)
