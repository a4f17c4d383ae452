"""The error pages a user meets (400, 403, 404, 429, 500, 503, a refused form): in Korean
by default and in English when chosen, with the right status, and never Django's technical
pages — not even with DEBUG on, as the embedded demo runs. Under /api/ they stay JSON."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client

from sendon_results.models import Membership
from tests.factories import MembershipFactory, UserFactory

# What only Django's developer pages say: the URL list, a traceback, the settings.
TECHNICAL = ("URLconf", "Using the URLconf", "Traceback", "technical", "settings.py", "DEBUG")

KOREAN = "ko"
ENGLISH = "en"
TITLES = {
    404: {KOREAN: "페이지를 찾을 수 없습니다", ENGLISH: "We could not find this page"},
    400: {KOREAN: "요청을 처리할 수 없습니다", ENGLISH: "We could not process this request"},
    403: {
        KOREAN: "이 페이지에 접근할 권한이 없습니다",
        ENGLISH: "You do not have access to this page",
    },
    500: {KOREAN: "일시적인 오류가 발생했습니다", ENGLISH: "Something went wrong on our side"},
    "csrf": {KOREAN: "요청을 처리하지 못했습니다", ENGLISH: "This form could not be sent"},
    503: {
        KOREAN: "데이터베이스에 연결할 수 없습니다",
        ENGLISH: "The console cannot reach its database right now",
    },
}

both_languages = pytest.mark.parametrize("language", [KOREAN, ENGLISH])
both_modes = pytest.mark.parametrize("debug", [False, True], ids=["production", "demo"])


def speaking(client: Client, language: str) -> Client:
    """The language switch's choice (its cookie); no cookie is Korean, the default."""
    if language != KOREAN:
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


def assert_friendly(response, status: int, title: str, language: str) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert title in page
    assert f'<html lang="{language}">' in page
    for word in TECHNICAL:
        assert word not in page, word
    return page


@both_modes
@both_languages
def test_a_mistyped_address_is_the_friendly_404(alice, settings, debug, language):
    settings.DEBUG = debug
    response = speaking(alice.client, language).get("/resluts/")
    page = assert_friendly(response, 404, TITLES[404][language], language)
    assert "/resluts/" in page  # the address they typed, to see the typo
    assert 'href="/results/"' in page and 'href="/dashboard/"' in page
    # Not Django's list of every address the console has.
    assert "api/v1/send-requests" not in page and "admin/" not in page


@both_modes
@both_languages
def test_a_missing_send_is_the_friendly_404(alice, settings, debug, language):
    settings.DEBUG = debug
    response = speaking(alice.client, language).get("/results/999999999/")
    page = assert_friendly(response, 404, TITLES[404][language], language)
    assert "SendRequest" not in page  # the query Django's page would show


def test_the_404_page_does_not_need_a_signed_in_user(db, settings):
    settings.DEBUG = True
    response = Client().get("/static/css/nothing-here.css")
    assert_friendly(response, 404, TITLES[404][KOREAN], KOREAN)


@both_modes
@both_languages
def test_a_request_the_console_cannot_make_sense_of_is_the_friendly_400(
    alice, settings, debug, language
):
    settings.DEBUG = debug
    # A Host header the console does not serve: Django refuses it (SuspiciousOperation).
    response = speaking(alice.client, language).get("/results/", HTTP_HOST="evil.example")
    page = assert_friendly(response, 400, TITLES[400][language], language)
    assert "evil.example" not in page and "ALLOWED_HOSTS" not in page


@both_modes
def test_a_forms_own_400_stays_as_the_view_made_it(db, settings, debug):
    settings.DEBUG = debug
    response = Client().get("/statements/verify/", {"code": "not-a-code"})
    assert response.status_code == 400
    assert TITLES[400][KOREAN] not in response.content.decode()
    assert 'name="code"' in response.content.decode()  # the form, with its error


@both_modes
@both_languages
def test_a_page_nobody_may_open_is_the_friendly_403(db, settings, debug, language):
    settings.DEBUG = debug
    # The access record is append-only: even a superuser may not add to it in the admin.
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = speaking(client, language).get("/admin/sendon_results/accessevent/add/")
    page = assert_friendly(response, 403, TITLES[403][language], language)
    assert 'href="/login/"' in page


@both_languages
def test_a_role_refusal_says_which_roles_may(alice, language):
    viewer = Client()
    viewer.force_login(
        MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER).user
    )
    response = speaking(viewer, language).get("/exports/")
    expected = {KOREAN: "역할", ENGLISH: "Only these roles may"}[language]
    assert response.status_code == 403 and expected in response.content.decode()


@both_modes
@both_languages
def test_a_refused_form_is_the_friendly_csrf_page(alice, settings, debug, language):
    settings.DEBUG = debug
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    response = speaking(client, language).post("/language/", {"language": "en", "next": "/"})
    page = assert_friendly(response, 403, TITLES["csrf"][language], language)
    assert "CSRF" not in page and 'href="/login/"' in page


@both_languages
def test_too_many_sign_ins_is_a_429_saying_how_long_to_wait(alice, language):
    client = speaking(Client(), language)
    with time_machine.travel(dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC), tick=False):
        answers = [
            client.post("/login/", {"username": alice.user.username, "password": f"no-{n}"})
            for n in range(5)
        ]
    refused = answers[-1]
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    expected = {KOREAN: "로그인 시도가 너무 많습니다", ENGLISH: "Too many failed sign-in"}[language]
    page = refused.content.decode()
    assert expected in page and "Traceback" not in page


@both_modes
@both_languages
def test_an_error_of_the_console_is_the_friendly_500(alice, settings, monkeypatch, debug, language):
    settings.DEBUG = debug

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the page")

    monkeypatch.setattr("sendon_results.results.views.paginate", bug)
    client = speaking(alice.client, language)
    client.raise_request_exception = False
    response = client.get("/results/?status=failed")
    page = assert_friendly(response, 500, TITLES[500][language], language)
    assert "a bug in the page" not in page and "RuntimeError" not in page
    assert 'href="/results/?status=failed"' in page  # try again: the same page


@both_modes
@both_languages
def test_a_database_that_does_not_answer_is_the_503_without_a_query(
    alice, settings, monkeypatch, debug, language
):
    from django.db import OperationalError, connection

    settings.DEBUG = debug

    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    client = speaking(alice.client, language)
    client.raise_request_exception = False
    with monkeypatch.context() as down:
        # Every query fails: the page can only render if it asks none.
        down.setattr(connection, "cursor", refused)
        response = client.get("/results/")
    assert_friendly(response, 503, TITLES[503][language], language)
    assert response["Retry-After"] == "30"


@both_modes
def test_api_errors_stay_json(db, settings, debug):
    settings.DEBUG = debug
    client = Client()
    for path in ("/api/v1/nothing", "/api/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path
        assert response.json()["errors"][0]["field"] == ""
    refused = client.get("/api/v1/results", HTTP_HOST="evil.example")
    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"


def test_the_pages_keep_the_consoles_headers_in_the_demo(alice, settings):
    settings.DEBUG = True
    response = alice.client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Content-Security-Policy" in response.headers
    assert response["Cache-Control"] == "no-store"
    assert int(response["Content-Length"]) == len(response.content)
