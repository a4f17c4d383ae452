from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from sendon_results.settings import BASE_DIR, database_from_url
from tests.factories import make_send


def test_database_url_forms():
    assert database_from_url("sqlite:///db.sqlite3")["NAME"] == BASE_DIR / "db.sqlite3"
    assert str(database_from_url("sqlite:////tmp/x.sqlite3")["NAME"]) == "/tmp/x.sqlite3"
    pg = database_from_url("postgres://app:p%40ss@db.internal:6543/results")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "app",
        "p@ss",
        "db.internal",
        "6543",
        "results",
    )
    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://x@y/z")


@pytest.mark.subprocess
def test_secret_key_is_required_when_debug_is_off():
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "-c", "import sendon_results.settings"],
        env=env,
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_admin_pages_answer_for_staff(admin_client, alice):
    send = make_send(alice.organization, sender=alice.phone)
    for url in (
        "/admin/sendon_results/sendrequest/",
        f"/admin/sendon_results/sendrequest/{send.pk}/change/",
        "/admin/sendon_results/delivery/?q=01090000000",
        "/admin/sendon_results/organization/",
        "/admin/sendon_results/senderprofile/",
        "/admin/sendon_results/export/",
        "/admin/sendon_results/statement/",
    ):
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.subprocess
def test_production_settings_pass_the_deploy_check():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-Vq8#x2!LmZ0pR7sT4uW9yB3dF6hJ1nC",
        "ALLOWED_HOSTS": "console.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
        # Sign-in attempts must be counted where every web process sees them.
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_log_line_per_request(alice, caplog):
    with caplog.at_level("INFO", logger="sendon_results.requests"):
        alice.client.get("/results/?status=failed")
    lines = [r.getMessage() for r in caplog.records if r.name == "sendon_results.requests"]
    assert len(lines) == 1
    assert lines[0].startswith("method=GET path=/results/ status=200 ms=")
    assert lines[0].endswith(f"user={alice.user.pk}")
