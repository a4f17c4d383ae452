from __future__ import annotations

import datetime as dt
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.db.models import Count, Q, Sum

from sendon_results import statements
from sendon_results.models import Delivery, Export
from tests.factories import make_send

KST = ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def october(alice, bob):
    """Every channel and outcome, a fallback, refunds; and sends outside the period."""
    at = dt.datetime(2026, 10, 5, 10, 0, tzinfo=KST)
    make_send(alice.organization, sender=alice.phone, requested_at=at,
              outcomes=["success", "success", "failure"])  # fmt: skip
    make_send(alice.organization, sender=alice.phone, channel="lms", requested_at=at,
              outcomes=["success", "failure"], body="=SUM(A1) 광고")  # fmt: skip
    make_send(alice.organization, sender=alice.phone, channel="mms", requested_at=at,
              outcomes=["sending"])  # fmt: skip
    kakao = make_send(alice.organization, sender=alice.kakao, channel="alimtalk",
                      requested_at=dt.datetime(2026, 10, 31, 23, 59, tzinfo=KST),
                      outcomes=["success", "success", "failure"])  # fmt: skip
    fallback = kakao.deliveries.filter(status="success").first()
    fallback.final_channel, fallback.points_charged = "sms", Decimal("9.50")
    fallback.save()
    make_send(alice.organization, sender=alice.kakao, channel="friendtalk", requested_at=at,
              outcomes=["failure"])  # fmt: skip
    # Outside: the day after, and another organization's in the period.
    november = dt.datetime(2026, 11, 1, 0, 0, tzinfo=KST)
    make_send(
        alice.organization, sender=alice.phone, requested_at=november, outcomes=["success"] * 7
    )
    make_send(bob.organization, sender=bob.phone, requested_at=at, outcomes=["success"] * 11)


def issue(account, capture, **fields) -> Export:
    data = {"period_from": "2026-10-01", "period_to": "2026-10-31", "sender": "", "channel": "",
            "appendix": "on", **fields}  # fmt: skip
    with capture(execute=True):
        response = account.client.post("/statements/", data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    export = Export.objects.filter(created_by=account.user, kind="statement").latest("id")
    assert export.state == Export.State.DONE, export.error
    return export


def pdf_text(export: Export, tmp_path: Path) -> str:
    path = tmp_path / "statement.pdf"
    path.write_bytes(export.file.open("rb").read())
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_totals_on_the_pdf_equal_the_database(
    alice, october, tmp_path, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    text = pdf_text(export, tmp_path)
    period = Delivery.objects.filter(
        organization=alice.organization,
        send_request__requested_at__gte=dt.datetime(2026, 10, 1, tzinfo=KST),
        send_request__requested_at__lt=dt.datetime(2026, 11, 1, tzinfo=KST),
    )
    db = period.aggregate(
        messages=Count("id"), success=Count("id", filter=Q(status="success")),
        failure=Count("id", filter=Q(status="failure")),
        sending=Count("id", filter=Q(status="sending")),
        charged=Sum("points_charged"), refunded=Sum("points_refunded"),
    )  # fmt: skip
    assert db["messages"] == 10
    total_line = next(line for line in text.splitlines() if line.strip().startswith("합계"))
    assert total_line.split()[1:] == [
        str(db["messages"]), str(db["success"]), str(db["failure"]), str(db["sending"]),
        "90.50", "36", "54.50",
    ]  # fmt: skip
    assert db["charged"] == Decimal("90.50") and db["refunded"] == Decimal("36")
    assert "발송내역서" in text and export.number in text and "한빛" not in text
    assert alice.organization.name in text
    assert "대체문자 (SMS)" in text  # the fallback message, counted apart
    assert "2026-10-31" in text  # 23:59 in Korea belongs to October 31st
    assert "=SUM(A1) 광고" in text  # a body is data, in the appendix as written
    assert export.row_count == 10
    assert export.figures["total"]["messages"] == 10
    assert export.file_name == f"{export.number}_2026-10-01_2026-10-31.pdf"


def test_the_bundled_font_is_embedded_and_page_one_has_korean_glyphs(
    alice, october, tmp_path, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    path = tmp_path / "statement.pdf"
    path.write_bytes(export.file.open("rb").read())
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True)
    lines = [line for line in fonts.stdout.splitlines() if "Nanum-Gothic-Statement" in line]
    assert len(lines) == 2 and all(" yes yes yes " in line for line in lines)  # emb sub uni
    # Page 1 as an image: the title 발송내역서 must be drawn with ink, not left blank.
    subprocess.run(["pdftoppm", "-r", "50", "-gray", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    image = next(tmp_path.glob("page*.pgm")).read_bytes()
    pixels = image.split(b"\n", 3)[3]
    dark = sum(1 for value in pixels if value < 128)
    assert dark > 2_000


def test_a_redownload_is_byte_identical(alice, october, django_capture_on_commit_callbacks):
    export = issue(alice, django_capture_on_commit_callbacks)
    first = b"".join(alice.client.get(f"/exports/{export.pk}/download/").streaming_content)
    second = b"".join(alice.client.get(f"/exports/{export.pk}/download/").streaming_content)
    assert first == second and first.startswith(b"%PDF")


def test_verification_shows_the_figures_and_nothing_else(
    alice, october, client, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    code = statements.format_code(export.verification_code)
    page = client.get(f"/statements/verify/{code}/")  # not signed in
    assert page.status_code == 200
    html = page.content.decode()
    assert export.number in html and alice.organization.name in html
    assert "2026-10-01 ~ 2026-10-31" in html and export.fingerprint in html
    assert "90.50" in html and "54.50" in html
    for secret in ("=SUM(A1)", "[테스트]", "010"):  # no bodies, no numbers
        assert secret not in html
    # Lowercase, without dashes: still the same statement.
    assert client.get(f"/statements/verify/{export.verification_code.lower()}/").status_code == 200
    tampered = ("X" if code[0] != "X" else "Y") + code[1:]
    response = client.get(f"/statements/verify/{tampered}/")
    assert response.status_code == 404
    assert "찾을 수 없습니다" in response.content.decode()
    assert export.number not in response.content.decode()


def test_the_fingerprint_changes_with_any_figure(
    alice, october, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    assert statements.fingerprint(export.figures) == export.fingerprint
    changed = {**export.figures, "total": {**export.figures["total"], "net": "54.51"}}
    assert statements.fingerprint(changed) != export.fingerprint


def test_verification_is_rate_limited(db, client, settings):
    cache.clear()
    settings.VERIFY_RATE_LIMIT = 3
    codes = [client.get("/statements/verify/AAAA-BBBB-CCCC/").status_code for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]


def test_behind_the_proxy_each_visitor_has_a_limit_of_their_own(db, client, settings):
    settings.VERIFY_RATE_LIMIT, settings.BEHIND_PROXY = 1, True
    url = "/statements/verify/AAAA-BBBB-CCCC/"
    # The proxy appends the address it saw; what the visitor sent before it is ignored.
    assert client.get(url, headers={"X-Forwarded-For": "9.9.9.9, 203.0.113.7"}).status_code == 404
    assert client.get(url, headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.7"}).status_code == 429
    assert client.get(url, headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 404


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "redis-down"])
def test_the_limit_counts_in_redis_and_the_page_stays_open_without_it(db, client, settings, shared):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if shared and not broker:
        pytest.skip("needs Redis: runs in the PostgreSQL pass of .ci/run, which starts it")
    location = broker if shared else "redis://127.0.0.1:9/0"  # nothing listens on port 9
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_timeout": 1},
        }
    }
    settings.VERIFY_RATE_LIMIT = 2
    if shared:
        cache.clear()
    codes = [client.get("/statements/verify/AAAA-BBBB-CCCC/").status_code for _ in range(3)]
    assert codes == ([404, 404, 429] if shared else [404, 404, 404])


def test_an_empty_period_is_still_a_statement(alice, tmp_path, django_capture_on_commit_callbacks):
    export = issue(alice, django_capture_on_commit_callbacks)
    text = pdf_text(export, tmp_path)
    assert "이 기간에는 메시지가 0건입니다" in text
    assert export.row_count == 0


def test_sender_and_channel_narrow_the_statement(
    alice, october, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks, sender=alice.kakao.pk,
                   channel="alimtalk")  # fmt: skip
    assert export.figures["total"]["messages"] == 3
    assert export.figures["channels"] == ["알림톡"]


@pytest.mark.parametrize(
    ("period_from", "period_to", "message"),
    [
        ("2026-11-20", "2026-12-31", "미래 기간은 발행할 수 없습니다"),
        ("2026-10-31", "2026-10-01", "기간의 끝이 시작보다 앞섭니다"),
        ("2025-11-01", "2026-11-20", "최대 1년"),
        ("2025-11-26", "2025-11-30", "2025-11-27 이후로 시작하세요"),
        ("2026-13-45", "2026-10-01", "올바른 날짜를 입력하세요"),
    ],
)
def test_bad_periods_are_refused_on_the_form(alice, period_from, period_to, message):
    response = alice.client.post(
        "/statements/", {"period_from": period_from, "period_to": period_to}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Export.objects.exists()


def test_another_organizations_statement_is_404(
    alice, bob, october, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    assert bob.client.get(f"/exports/{export.pk}/download/").status_code == 404
    assert export.number not in bob.client.get("/statements/").content.decode()
    data = {"period_from": "2026-10-01", "period_to": "2026-10-31", "sender": alice.phone.pk}
    response = bob.client.post("/statements/", data)
    assert response.status_code == 400  # alice's sender is not a choice for bob


def test_a_failed_render_ends_failed_without_a_file(
    alice, october, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(statements, "HTML", broken)
    data = {"period_from": "2026-10-01", "period_to": "2026-10-31"}
    with django_capture_on_commit_callbacks(execute=True):
        alice.client.post("/statements/", data)
    export = Export.objects.get(kind="statement")
    assert export.state == Export.State.FAILED and not export.file
    assert "예상하지 못한 오류" in export.error
    assert "다시 시도" in alice.client.get("/statements/").content.decode()


def test_the_form_offers_last_month(alice):
    html = alice.client.get("/statements/").content.decode()
    assert 'value="2026-10-01"' in html and 'value="2026-10-31"' in html


def test_a_summary_only_statement_lists_no_sends(
    alice, october, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alice.client.post("/statements/", {"period_from": "2026-10-01", "period_to": "2026-10-31"})
    export = Export.objects.get(kind="statement")
    text = pdf_text(export, tmp_path)
    assert export.figures["appendix"] == [] and "=SUM(A1)" not in text
    assert "발송을 하나씩 싣지 않았습니다" in text
