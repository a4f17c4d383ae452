"""Site-wide views: the health check and the pages for a server that cannot answer."""

from __future__ import annotations

from django.test import Client


def test_health_check_answers_without_signing_in(db, settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"database": "ok"}

    def down() -> None:
        raise ConnectionRefusedError

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr("sendon_results.views._ping_broker", down)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "error: ConnectionRefusedError"}


def test_a_database_outage_is_a_friendly_503(alice, monkeypatch):
    """The database stops answering at the driver: every query raises what psycopg raises
    for a refused or dropped connection. (tests/test_faults.py stops a real PostgreSQL.)"""
    from django.db import OperationalError, connection

    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    alice.client.raise_request_exception = False
    with monkeypatch.context() as down:
        down.setattr(connection, "cursor", refused)
        response = alice.client.get("/results/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "데이터베이스에 연결할 수 없습니다" in response.content.decode()


def test_other_errors_stay_a_plain_500(alice, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the page")

    monkeypatch.setattr("sendon_results.results.views.paginate", bug)
    alice.client.raise_request_exception = False
    response = alice.client.get("/results/")
    assert response.status_code == 500 and "데이터베이스" not in response.content.decode()
