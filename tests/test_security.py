"""Headers, caches and what may be fetched or logged: the Content-Security-Policy and no
inline code, no-store, the API key shown once, the proxy set-up, Retry-After, the
statement's URL fetcher and logs without personal data."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
import time_machine
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from sendon_results.accounts.addresses import client_address
from sendon_results.accounts.views import NEW_KEY_SESSION_KEY
from sendon_results.api.keys import create_key
from sendon_results.middleware import PrivacyHeadersMiddleware
from sendon_results.models import ApiKey, Export, Membership, SendRequest, Statement
from sendon_results.settings import BASE_DIR
from sendon_results.statements import render
from sendon_results.statements.forms import last_month
from tests.contract import ContractClient
from tests.factories import MembershipFactory, SenderProfileFactory, make_send

KST = ZoneInfo("Asia/Seoul")
TEMPLATES = BASE_DIR / "templates"
# Rendered by WeasyPrint into a PDF, never served to a browser.
PRINT_TEMPLATES = {
    "statements/statement.html",
    "statements/_line.html",
    "confirmations/confirmation.html",
}


# --- The Content-Security-Policy, and nothing inline for it to block ---------------------


class InlineCode(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if re.fullmatch(r"on[a-z]+", name)]
        if "style" in names:
            self.found.append(f"{tag} style=")
        self.found += [
            f"{tag} {name}=javascript:"
            for name, value in attrs
            if value and value.strip().lower().startswith("javascript:")
        ]


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def console(alice, bob, django_capture_on_commit_callbacks) -> list[str]:
    """Every page of the console with something on it: alice in two organizations (the
    switcher), sends with every bar, an export being made, a statement, an API key."""
    MembershipFactory(user=alice.user, organization=bob.organization)
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success", "failure", "sending", "waiting", "cancelled"],
    )
    start, end = last_month(timezone.localdate())
    with django_capture_on_commit_callbacks(execute=True):
        alice.client.post("/statements/", {"period_from": start, "period_to": end})
    export = Export.objects.create(
        organization=alice.organization,
        created_by=alice.user,
        kind=Export.Kind.SENDS,
        state=Export.State.RUNNING,
        progress=37,
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    key, _secret = create_key(organization=alice.organization, name="발송 서버", user=alice.user)
    return [
        "/results/",
        "/results/?status=failed&recipient=010-1234-5678",
        f"/results/{send.pk}/",
        f"/results/{send.pk}/?outcome=failure",
        "/exports/",
        f"/exports/{export.pk}/row/",
        "/statements/",
        "/statements/verify/",
        "/statements/verify/AAAA-BBBB-CCCC/",
        "/settings/api-keys/",
        f"/settings/api-keys/{key.pk}/revoke/",
    ]


def test_every_page_has_the_policy_and_no_inline_code(alice, console, client):
    pages = [(alice.client, url) for url in console] + [(client, "/login/")]
    for browser, url in pages:
        for headers in ({}, {"HX-Request": "true"}):
            response = browser.get(url, headers=headers)
            assert response.status_code in (200, 404), url
            policy = response["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
            assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
            assert inline_code(response.content.decode()) == [], url


def test_the_templates_have_no_inline_code():
    """Every page template, including the ones no test above renders, and the branches
    they did not take."""
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name in PRINT_TEMPLATES:
            continue
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), name
        assert not re.search(r"\son[a-z]+\s*=", text), name
        assert not re.search(r"\sstyle\s*=", text), name
        assert "<style" not in text and "javascript:" not in text, name


def test_htmx_may_not_evaluate_code_nor_inject_styles(alice):
    html = alice.client.get("/results/").content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)[1])
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
    # No copy of a page (phone numbers) in sessionStorage; back asks the server again.
    assert config["historyCacheSize"] == 0 and config["refreshOnHistoryMiss"] is True


def test_the_outcome_bar_is_drawn_with_classes_that_add_up(alice):
    make_send(alice.organization, sender=alice.phone, outcomes=["success"] * 2 + ["failure"])
    html = alice.client.get("/results/").content.decode()
    widths = [int(n) for n in re.findall(r'class="seg (?:success|failure) pct-(\d+)"', html)]
    assert widths == [67, 33]
    css = (BASE_DIR / "static" / "css" / "app.css").read_text()
    assert all(f".pct-{n} {{ width: {n}%; }}" in css for n in range(101))


def test_permissions_policy_turns_the_browser_features_off(alice, client):
    for response in (alice.client.get("/results/"), client.get("/login/"), client.get("/healthz")):
        policy = response["Permissions-Policy"]
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in policy


# --- Nothing kept by caches ------------------------------------------------------------


def test_signed_in_pages_and_downloads_are_not_stored(
    alice, console, django_capture_on_commit_callbacks
):
    for url in console:
        assert "no-store" in alice.client.get(url)["Cache-Control"], url
    statement = Statement.objects.get(created_by=alice.user)
    assert statement.state == Statement.State.DONE, statement.error
    Export.objects.update(state=Export.State.FAILED)  # the one "being made" makes room
    with django_capture_on_commit_callbacks(execute=True):
        alice.client.post(
            "/exports/new/",
            {"kind": "deliveries", "file_format": "csv", "split": "", "query": ""},
        )
    export = Export.objects.filter(created_by=alice.user, state=Export.State.DONE).get()
    for url in (f"/statements/{statement.pk}/download/", f"/exports/{export.pk}/download/"):
        response = alice.client.get(url)
        assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
        assert "no-store" in response["Cache-Control"], url


def test_a_signed_in_user_gets_no_store_even_where_a_view_set_its_own_caching(alice):
    def cached_view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("x")
        response["Cache-Control"] = "max-age=600"
        return response

    request = RequestFactory().get("/x/")
    request.user = alice.user
    response = PrivacyHeadersMiddleware(cached_view)(request)
    assert "no-store" in response["Cache-Control"]
    # A visitor who is not signed in (a static file, say) keeps the view's caching.
    request = RequestFactory().get("/x/")
    assert PrivacyHeadersMiddleware(cached_view)(request)["Cache-Control"] == "max-age=600"


# --- The API key: shown once, after a redirect ------------------------------------------


def test_a_new_key_is_post_redirect_get_and_shown_once(alice):
    response = alice.client.post("/settings/api-keys/", {"name": "발송 서버"})
    assert response.status_code == 302 and response["Location"] == "/settings/api-keys/"
    key = ApiKey.objects.get()
    # The secret waits in the session for exactly one GET.
    secret = alice.client.session[NEW_KEY_SESSION_KEY][1]
    assert secret.startswith(f"sr_{key.prefix}_")

    shown = alice.client.get("/settings/api-keys/")
    assert secret in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    assert NEW_KEY_SESSION_KEY not in alice.client.session

    refreshed = alice.client.get("/settings/api-keys/")
    assert secret not in refreshed.content.decode()
    assert f"sr_{key.prefix}_" in refreshed.content.decode()  # the list's prefix only
    assert ApiKey.objects.count() == 1


def test_a_key_made_in_one_organization_is_not_shown_in_another(alice, bob):
    MembershipFactory(user=alice.user, organization=bob.organization, role=Membership.Role.OWNER)
    alice.client.post("/settings/api-keys/", {"name": "발송 서버"})
    secret = alice.client.session[NEW_KEY_SESSION_KEY][1]
    alice.client.post("/organizations/switch/", {"organization": bob.organization.pk})
    assert secret not in alice.client.get("/settings/api-keys/").content.decode()


def test_revoking_asks_first_and_works_without_javascript(alice, bob):
    key, _secret = create_key(organization=alice.organization, name="발송 서버", user=alice.user)
    page = alice.client.get("/settings/api-keys/").content.decode()
    # The list links to a confirmation; it has no button that revokes at once.
    assert f'href="/settings/api-keys/{key.pk}/revoke/"' in page
    assert f'action="/settings/api-keys/{key.pk}/revoke/"' not in page

    confirm = alice.client.get(f"/settings/api-keys/{key.pk}/revoke/")
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "발송 서버" in html
    assert re.search(rf'<form method="post" action="/settings/api-keys/{key.pk}/revoke/"', html)
    key.refresh_from_db()
    assert key.revoked_at is None  # asking is not revoking

    assert bob.client.get(f"/settings/api-keys/{key.pk}/revoke/").status_code == 404
    assert alice.client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    # Nothing left to confirm.
    again = alice.client.get(f"/settings/api-keys/{key.pk}/revoke/")
    assert again.status_code == 302 and again["Location"] == "/settings/api-keys/"


# --- HTTPS and the proxy: said explicitly -------------------------------------------------


def production_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """The settings as a production process reads them, printed as JSON."""
    names = ("SECURE_HSTS_PRELOAD", "SECURE_HSTS_SECONDS", "TRUSTED_PROXY_HOPS")
    code = (
        "import json, sendon_results.settings as s; print(json.dumps({"
        + ", ".join(f"{name!r}: s.{name}" for name in names)
        + ", 'proxy_ssl': getattr(s, 'SECURE_PROXY_SSL_HEADER', None)}))"
    )
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECURE_HSTS_PRELOAD", "TRUSTED_PROXY_HOPS", "BEHIND_PROXY")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DEBUG": "false", "SECRET_KEY": "s" * 50, **env},
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
    )


@pytest.mark.subprocess
def test_hsts_preload_is_off_unless_asked_for():
    default = json.loads(production_settings().stdout)
    assert default["SECURE_HSTS_PRELOAD"] is False and default["SECURE_HSTS_SECONDS"] > 0
    asked = json.loads(production_settings(SECURE_HSTS_PRELOAD="true").stdout)
    assert asked["SECURE_HSTS_PRELOAD"] is True


@pytest.mark.subprocess
def test_the_proxy_is_trusted_only_when_said():
    alone = json.loads(production_settings().stdout)
    assert alone["TRUSTED_PROXY_HOPS"] == 0 and alone["proxy_ssl"] is None
    behind = json.loads(production_settings(TRUSTED_PROXY_HOPS="1").stdout)
    assert behind["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    # The old switch guessed; it now stops the start with what to set instead.
    old = production_settings(BEHIND_PROXY="true")
    assert old.returncode != 0 and "TRUSTED_PROXY_HOPS" in old.stderr


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "", "10.0.0.2"),
        (0, "203.0.113.7", "10.0.0.2"),  # nothing in front: the header is the visitor's
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # what the visitor sent is ignored
        (2, "6.6.6.6, 203.0.113.7, 198.51.100.1", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.2"),  # too short for the set-up: the nearest proxy
        (1, "", "10.0.0.2"),
        (1, "not-an-address", "10.0.0.2"),
        (1, "1.1.1.1, 2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_follows_trusted_proxy_hops(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", **headers)
    assert client_address(request) == expected


def test_without_a_proxy_a_forged_header_buys_no_new_attempts(db, client, settings):
    settings.VERIFY_RATE_LIMIT, settings.TRUSTED_PROXY_HOPS = 1, 0
    url = "/statements/verify/AAAA-BBBB-CCCC/"
    assert client.get(url, headers={"X-Forwarded-For": "9.9.9.9"}).status_code == 404
    assert client.get(url, headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 429


# --- Retry-After on every 429 ------------------------------------------------------------


def test_the_verification_limit_says_how_long_to_wait(db, client, settings):
    settings.VERIFY_RATE_LIMIT = 1
    url = "/statements/verify/AAAA-BBBB-CCCC/"
    # 14:03:20 Korea time: the ten-minute window ends at 14:10:00, 400 s later.
    with time_machine.travel(dt.datetime(2026, 11, 27, 14, 3, 20, tzinfo=KST), tick=False):
        assert client.get(url).status_code == 404
        limited = client.get(url)
    assert limited.status_code == 429 and limited["Retry-After"] == "400"
    assert "7분 뒤" in limited.content.decode()
    # The next window counts afresh.
    with time_machine.travel(dt.datetime(2026, 11, 27, 14, 10, 0, tzinfo=KST), tick=False):
        assert client.get(url).status_code == 404


def test_the_api_says_when_to_retry_too_many_waiting_results(alice, settings):
    settings.PENDING_RESULT_LIMIT = 0
    _key, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
    platform = ContractClient(headers={"Authorization": f"Bearer {secret}"})
    now = dt.datetime.now(dt.UTC).isoformat()
    result = {
        "send_external_id": "S-9",
        "recipient_external_id": "R-1",
        "outcome": "success",
        "completed_at": now,
    }
    response = platform.post(
        "/api/v1/results", json.dumps({"results": [result]}), content_type="application/json"
    )
    assert response.status_code == 429 and response["Retry-After"].isdigit()


def test_any_429_without_retry_after_gets_one():
    def limited(request: HttpRequest) -> HttpResponse:
        return HttpResponse("slow down", status=429)

    response = PrivacyHeadersMiddleware(limited)(RequestFactory().get("/"))
    assert response["Retry-After"].isdigit()


# --- The statement fetches only its own files ------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets."""
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    # The recorder records (else "no request" would prove nothing).
    urllib.request.urlopen(f"{base}/probe", timeout=5).read()
    assert seen == ["/probe"]
    seen.clear()
    yield base, seen
    server.shutdown()
    server.server_close()


def test_a_statement_with_markup_in_every_text_fetches_nothing(
    alice, listener, tmp_path, django_capture_on_commit_callbacks
):
    base, seen = listener
    alice.organization.name = (
        f'<img src="file:///etc/passwd"><link rel="stylesheet" href="{base}/org.css">'
    )
    alice.organization.save()
    alice.user.first_name = f'<img src="{base}/user.png">'
    alice.user.save()
    sender = SenderProfileFactory(
        organization=alice.organization, label=f'<img src="{base}/label.png">'
    )
    body = (
        f'<style>@import url("{base}/body.css");</style><img src="file:///etc/passwd">'
        f'<object data="{base}/object"></object><iframe src="{base}/frame"></iframe>'
        f" background: url({base}/css-url)"
    )
    at = dt.datetime(2026, 10, 5, 10, 0, tzinfo=KST)
    with time_machine.travel(dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST), tick=False):
        make_send(alice.organization, sender=sender, requested_at=at, body=body)
        data = {
            "period_from": "2026-10-01",
            "period_to": "2026-10-31",
            "sender": sender.pk,
            "channel": "",
            "appendix": "on",
        }
        with django_capture_on_commit_callbacks(execute=True):
            alice.client.post("/statements/", data)
    statement = Statement.objects.get(created_by=alice.user)
    assert statement.state == Statement.State.DONE, statement.error
    assert seen == []
    path = tmp_path / "statement.pdf"
    path.write_bytes(statement.file.open("rb").read())
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    # Printed as the text it is; /etc/passwd itself is nowhere.
    assert "etc/passwd" in text and "root:" not in text


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file://localhost/etc/passwd",
        "file://other-host/" + str(BASE_DIR / "static" / "fonts" / "OFL.txt"),
        (BASE_DIR / "static" / "fonts").as_uri() + "/../../pyproject.toml",
        (BASE_DIR / "static" / "fonts").as_uri() + "/%2e%2e/%2e%2e/pyproject.toml",
        (BASE_DIR / "static" / "fonts").as_uri() + "/",  # a folder, not a file
        (BASE_DIR / "media").as_uri() + "/exports/x.xlsx",
        "https://example.com/font.ttf",
        "ftp://127.0.0.1/x",
        "data:text/css,body{color:red}",
        "fonts/NanumGothic-Regular.ttf",  # not absolute: WeasyPrint resolves these first
        (BASE_DIR / "static" / "fonts").as_uri() + "/OFL.txt%00.ttf",
    ],
)
def test_the_fetcher_refuses_anything_but_our_own_files(url):
    with pytest.raises(render.RefusedURL):
        render.OwnFilesOnly().fetch(url)


def test_the_fetcher_refuses_http_to_the_machine_itself(listener):
    base, seen = listener
    for url in (f"{base}/x.css", f"{base.replace('127.0.0.1', 'localhost')}/x.png"):
        with pytest.raises(render.RefusedURL):
            render.OwnFilesOnly().fetch(url)
    assert seen == []


def test_the_fetcher_refuses_a_link_out_of_static(tmp_path, monkeypatch):
    static = tmp_path / "static"
    static.mkdir()
    (static / "passwd").symlink_to("/etc/passwd")
    monkeypatch.setattr(render, "STATIC_DIR", static)
    with pytest.raises(render.RefusedURL):
        render.OwnFilesOnly().fetch((static / "passwd").as_uri())


def test_the_fetcher_serves_the_bundled_fonts():
    font = BASE_DIR / "static" / "fonts" / "NanumGothic-Regular.ttf"
    response = render.OwnFilesOnly().fetch(font.as_uri())
    try:
        assert response.read(4) == b"\x00\x01\x00\x00"  # TrueType
    finally:
        response.close()


def test_markup_that_escaped_escaping_still_fetches_nothing(listener, tmp_path):
    """The barrier does not rest on escaping: raw markup given to WeasyPrint with the
    statement's fetcher loads nothing from the network or the disk."""
    from weasyprint import HTML

    base, seen = listener
    html = (
        f'<link rel="stylesheet" href="{base}/raw.css"><img src="{base}/raw.png">'
        f'<img src="file:///etc/passwd"><style>@import url("{base}/import.css");'
        f' body {{ background: url("{base}/background.png") }}</style>가'
    )
    HTML(string=html, base_url=str(render.STATIC_DIR), url_fetcher=render.OwnFilesOnly()).write_pdf(
        tmp_path / "raw.pdf"
    )
    assert seen == []


# --- Logs without personal data ------------------------------------------------------------

NUMBER_FORMS = [
    "01012345678",
    "1012345678",
    "010-1234-5678",
    "10-1234-5678",
    "010 1234 5678",
    "1234-5678",
    "12345678",
]
NAME = "홍길동"
BODY = "비밀스러운 본문 문구"
SEARCHED = "보안점검어"


@contextlib.contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every record any logger writes meanwhile, at DEBUG, formatted as the console writes
    them (exceptions included): also from loggers that do not propagate."""
    lines: list[str] = []
    formatter = logging.Formatter(django_settings.LOGGING["formatters"]["line"]["format"])

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Keep(logging.DEBUG)
    names = ["", "django", "django.request", "django.server", "django.template", "celery"]
    loggers = {logging.getLogger(name) for name in names} | {
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    }
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        logger.addHandler(handler)
    try:
        yield lines
    finally:
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(handler)


def test_a_walk_through_the_console_logs_no_numbers_names_or_texts(
    alice, django_capture_on_commit_callbacks
):
    send = make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success", "failure"],
        recipients=["01012345678", "01099998888"],
        body=f"{BODY} {SEARCHED}",
    )
    _key, secret = create_key(organization=alice.organization, name="platform", user=alice.user)
    platform = ContractClient(headers={"Authorization": f"Bearer {secret}"})
    with every_log_line() as lines:
        browse(alice.client, send.pk, django_capture_on_commit_callbacks)
        call_the_api(platform)
    export = Export.objects.get(created_by=alice.user)
    assert export.state == Export.State.DONE and export.row_count == 1, export.error
    assert SendRequest.objects.filter(external_id="S-LOG").exists()

    assert any("path=/results/" in line for line in lines)  # the walk was logged
    assert any("django.request" in line for line in lines)  # Django's own warnings too
    assert any("task=sendon_results.tasks.run_export" in line for line in lines)
    texts = [*NUMBER_FORMS, NAME, BODY, SEARCHED, "+82"]
    forbidden = texts + [quote(text) for text in texts] + ["recipient=", "?q=", "&q="]
    leaks = [(text, line) for line in lines for text in forbidden if text in line]
    assert leaks == []


def browse(client: Client, send_id: int, capture: Any) -> None:
    """Lists filtered by number and text, a send's page, an export of a number's messages
    (its task included), each with the page it came from as Referer."""
    recipient = quote("+82 10-1234-5678")
    urls = [
        "/results/?recipient=010-1234-5678",
        "/results/?recipient=01012345678&q=" + quote(SEARCHED),
        f"/results/?recipient={recipient}&status=completed",
        "/results/?q=" + quote(BODY),
        "/results/?recipient=010-1234-5678%00",  # bad input: a 400, logged by Django
        f"/results/{send_id}/?recipient=010-1234-5678",
        f"/results/{send_id}/?recipient=010-1234-567",
        "/statements/verify/?code=" + quote("010-1234-5678"),
        "/login/?next=" + quote("/results/?recipient=010-1234-5678"),
    ]
    for url in urls:
        for headers in ({}, {"HX-Request": "true"}):
            client.get(url, headers={**headers, "Referer": f"http://testserver{url}"})
    with capture(execute=True):
        client.post(
            "/exports/new/",
            {
                "kind": "deliveries",
                "file_format": "csv",
                "split": "",
                "query": "recipient=010-1234-5678&q=" + quote(SEARCHED),
            },
        )
    for export in Export.objects.all():
        client.get(f"/exports/{export.pk}/download/")


def call_the_api(platform: Client) -> None:
    """The platform records a send with numbers and names, tries a conflicting and a bad
    one, posts a result and reads the send back."""
    now = dt.datetime.now(dt.UTC)
    new_send = {
        "external_id": "S-LOG",
        "requested_at": now.isoformat(),
        "source": "api",
        "channel": "sms",
        "sender": {"kind": "phone", "value": "02-1234-5678", "label": NAME},
        "title": "",
        "body": BODY,
        "fallback": False,
        "points_per_message": "9",
        "recipients": [
            {"external_id": "R-1", "phone": "010-1234-5678", "name": NAME},
            {"external_id": "R-2", "phone": "+82 10-1234-5678", "name": NAME},
        ],
    }
    created = platform.post("/api/v1/send-requests", json.dumps(new_send), "application/json")
    assert created.status_code == 201, created.content
    # The same send again with another number: a conflict, refused with a reason.
    conflict = {**new_send, "recipients": [{"external_id": "R-1", "phone": "010-1234-5679"}]}
    platform.post("/api/v1/send-requests", json.dumps(conflict), "application/json")
    bad = {
        **new_send,
        "external_id": "S-BAD",
        "recipients": [{"external_id": "R", "phone": "010-1234-567X"}],
    }
    platform.post("/api/v1/send-requests", json.dumps(bad), "application/json")
    results = {
        "results": [
            {
                "send_external_id": "S-LOG",
                "recipient_external_id": "R-1",
                "outcome": "failure",
                "completed_at": now.isoformat(),
                "result_code": "3019",
                "result_message": f"{BODY} 010-1234-5678",
            }
        ]
    }
    platform.post("/api/v1/results", json.dumps(results), "application/json")
    platform.get("/api/v1/send-requests/S-LOG")
    platform.get("/api/v1/send-requests/S-LOG/status")


def test_runserver_logs_the_path_without_the_query():
    """runserver writes the request line as the browser sent it (django.server)."""
    with every_log_line() as lines:
        logging.getLogger("django.server").info(
            '"%s" %s %s', "GET /results/?recipient=010-1234-5678&q=x HTTP/1.1", "200", "512"
        )
    line = lines[-1]
    assert '"GET /results/ HTTP/1.1" 200 512' in line and "010" not in line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.subprocess
def test_gunicorn_with_its_access_log_on_writes_paths_only(tmp_path):
    """gunicorn keeps no access log (Dockerfile, docker-compose.yml, scripts/); should one
    be turned on, gunicorn.conf.py's format leaves out the query string and the Referer."""
    for name in ("Dockerfile", "docker-compose.yml", "scripts/stack.py", "scripts/loadtest.py"):
        assert "access-log" not in (BASE_DIR / name).read_text(), name
    port = free_port()
    access = tmp_path / "access.log"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
    }
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "sendon_results.wsgi",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access),
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        referer = f"{base}/results/?recipient=010-1234-5678"
        requests.get(
            f"{base}/login/?next=/results/%3Frecipient%3D010-1234-5678&q={quote(NAME)}",
            headers={"Referer": referer, "User-Agent": "probe-agent"},
            timeout=5,
        )
        deadline = time.monotonic() + 10
        while "/login/" not in (access.read_text() if access.exists() else ""):
            assert time.monotonic() < deadline, "no access log line"
            time.sleep(0.1)
    finally:
        web.terminate()
        web.wait(10)
    log = access.read_text()
    assert '"GET /login/ HTTP/1.1" 200' in log
    for text in ("010", "1234", "5678", "recipient", "next=", quote(NAME), "probe-agent", "?"):
        assert text not in log, text
