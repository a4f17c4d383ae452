from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import threading
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from sendon_results import tasks
from sendon_results.exports.requests import request_export
from sendon_results.models import Delivery, Statement
from sendon_results.statements import codes, figures, render
from sendon_results.statements.render import run_statement
from sendon_results.statements.requests import request_statement
from tests.factories import (
    MembershipFactory,
    SenderProfileFactory,
    UserFactory,
    make_send,
)

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
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at,
        outcomes=["success", "success", "failure"],
    )
    make_send(
        alice.organization,
        sender=alice.phone,
        channel="lms",
        requested_at=at,
        outcomes=["success", "failure"],
        body="=SUM(A1) 광고",
    )
    make_send(
        alice.organization, sender=alice.phone, channel="mms", requested_at=at, outcomes=["sending"]
    )
    kakao = make_send(
        alice.organization,
        sender=alice.kakao,
        channel="alimtalk",
        requested_at=dt.datetime(2026, 10, 31, 23, 59, tzinfo=KST),
        outcomes=["success", "success", "failure"],
    )
    fallback = kakao.deliveries.filter(status="success").first()
    fallback.final_channel, fallback.points_charged = "sms", Decimal("9.50")
    fallback.save()
    make_send(
        alice.organization,
        sender=alice.kakao,
        channel="friendtalk",
        requested_at=at,
        outcomes=["failure"],
    )
    # A reservation not yet sent, and a cancelled one: neither a success nor a failure.
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at,
        status="reserved",
        outcomes=["waiting"] * 2,
        body="[예약] 내일 오전 발송",
    )
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at,
        status="cancelled",
        outcomes=["cancelled"] * 3,
        body="[예약] 취소된 안내",
    )
    # Outside: the day after, and another organization's in the period.
    november = dt.datetime(2026, 11, 1, 0, 0, tzinfo=KST)
    make_send(
        alice.organization, sender=alice.phone, requested_at=november, outcomes=["success"] * 7
    )
    make_send(bob.organization, sender=bob.phone, requested_at=at, outcomes=["success"] * 11)


def issue(account, capture, **fields) -> Statement:
    data = {
        "period_from": "2026-10-01",
        "period_to": "2026-10-31",
        "sender": "",
        "channel": "",
        "appendix": "on",
        **fields,
    }
    with capture(execute=True):
        response = account.client.post("/statements/", data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    export = Statement.objects.filter(created_by=account.user).latest("id")
    assert export.state == Statement.State.DONE, export.error
    return export


def pdf_text(export: Statement, tmp_path: Path) -> str:
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
        messages=Count("id"),
        **{outcome: Count("id", filter=Q(status=outcome)) for outcome in figures.OUTCOMES},
        charged=Sum("points_charged"),
        refunded=Sum("points_refunded"),
    )
    assert db["messages"] == 15 and db["waiting"] == 2 and db["cancelled"] == 3
    # Messages, then one column per outcome in Delivery.Status order, then points.
    assert figures.OUTCOMES == ("success", "failure", "sending", "waiting", "cancelled")
    total_line = next(line for line in text.splitlines() if line.strip().startswith("합계"))
    assert total_line.split()[1:] == [
        str(db["messages"]),
        *(str(db[outcome]) for outcome in figures.OUTCOMES),
        "135.50",
        "63.00",
        "72.50",
    ]
    assert db["charged"] == Decimal("135.50") and db["refunded"] == Decimal("63")
    header = next(line for line in text.splitlines() if "발송중" in line and "대기" in line)
    outcomes = ["성공", "실패", "발송중", "대기", "취소"]
    points = ["차감", "포인트", "환급", "포인트", "실차감", "포인트"]
    assert header.split()[1:] == ["메시지", *outcomes, *points]
    cancelled = next(line for line in text.splitlines() if "취소된 안내" in line)
    assert cancelled.split()[-6:] == ["3", "0", "0", "0", "0", "3"]  # in the list of sends
    assert "발송내역서" in text and export.number in text and "한빛" not in text
    assert alice.organization.name in text
    assert "대체문자 (SMS)" in text  # the fallback message, counted apart
    assert "2026-10-31" in text  # 23:59 in Korea belongs to October 31st
    assert "=SUM(A1) 광고" in text  # a body is data, in the appendix as written
    assert export.row_count == 15
    assert export.figures["total"]["messages"] == 15
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
    subprocess.run(
        ["pdftoppm", "-r", "50", "-gray", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
        check=True,
    )
    image = next(tmp_path.glob("page*.pgm")).read_bytes()
    pixels = image.split(b"\n", 3)[3]
    dark = sum(1 for value in pixels if value < 128)
    assert dark > 2_000


def test_a_redownload_is_byte_identical(alice, october, django_capture_on_commit_callbacks):
    export = issue(alice, django_capture_on_commit_callbacks)
    first = b"".join(alice.client.get(f"/statements/{export.pk}/download/").streaming_content)
    second = b"".join(alice.client.get(f"/statements/{export.pk}/download/").streaming_content)
    assert first == second and first.startswith(b"%PDF")


def test_verification_shows_the_figures_and_nothing_else(
    alice, october, client, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    code = codes.format_code(export.verification_code)
    page = client.get(f"/statements/verify/{code}/")  # not signed in
    assert page.status_code == 200
    html = page.content.decode()
    assert export.number in html and alice.organization.name in html
    assert "2026-10-01 ~ 2026-10-31" in html and export.fingerprint in html
    assert "135.50" in html and "63.00" in html and "72.50" in html
    # No bodies, no numbers (the fingerprint's hex taken out: it may hold "010" by chance).
    shown = html.replace(export.fingerprint, "")
    for secret in ("=SUM(A1)", "[테스트]", "010"):
        assert secret not in shown
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
    assert figures.fingerprint(export.figures) == export.fingerprint
    changed = {**export.figures, "total": {**export.figures["total"], "net": "54.51"}}
    assert figures.fingerprint(changed) != export.fingerprint


def test_verification_is_rate_limited(db, client, settings):
    cache.clear()
    settings.VERIFY_RATE_LIMIT = 3
    codes = [client.get("/statements/verify/AAAA-BBBB-CCCC/").status_code for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]


def test_behind_the_proxy_each_visitor_has_a_limit_of_their_own(db, client, settings):
    settings.VERIFY_RATE_LIMIT, settings.TRUSTED_PROXY_HOPS = 1, 1
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
    export = issue(
        alice, django_capture_on_commit_callbacks, sender=alice.kakao.pk, channel="alimtalk"
    )
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
    assert not Statement.objects.exists()


def test_another_organizations_statement_is_404(
    alice, bob, october, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    Statement.objects.filter(pk=export.pk).update(state=Statement.State.FAILED)
    for url in (
        f"/statements/{export.pk}/download/",
        f"/statements/{export.pk}/row/",
        f"/exports/{export.pk}/download/",
    ):
        assert bob.client.get(url).status_code == 404, url
    assert bob.client.post(f"/statements/{export.pk}/retry/").status_code == 404
    assert Statement.objects.get(pk=export.pk).state == Statement.State.FAILED
    assert export.number not in bob.client.get("/statements/").content.decode()
    data = {"period_from": "2026-10-01", "period_to": "2026-10-31", "sender": alice.phone.pk}
    response = bob.client.post("/statements/", data)
    assert response.status_code == 400  # alice's sender is not a choice for bob


def test_a_failed_render_ends_failed_without_a_file(
    alice, october, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(render, "HTML", broken)
    data = {"period_from": "2026-10-01", "period_to": "2026-10-31"}
    with django_capture_on_commit_callbacks(execute=True):
        alice.client.post("/statements/", data)
    export = Statement.objects.get()
    assert export.state == Statement.State.FAILED and not export.file
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
    export = Statement.objects.get()
    text = pdf_text(export, tmp_path)
    assert export.figures["appendix"] == [] and "=SUM(A1)" not in text
    assert "발송을 하나씩 싣지 않았습니다" in text


# Printing: emoji, points, senders, the daily total, the requester.

BUNDLED_FONTS = {
    "Nanum-Gothic-Statement",
    "Nanum-Gothic-Statement-Bold",
    "Noto-Emoji-Statement",
    "Noto-Symbols-Statement",
}


def pdf_fonts(export: Statement, tmp_path: Path) -> list[tuple[str, str]]:
    """(font name without its subset tag, "emb sub uni" flags) of each font in the PDF."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(export.file.open("rb").read())
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True)
    rows = [line.split() for line in out.stdout.splitlines()[2:]]
    return [(row[0].split("+", 1)[-1], " ".join(row[-5:-2])) for row in rows]


def test_emoji_and_symbols_print_from_the_bundled_fonts(
    alice, tmp_path, caplog, django_capture_on_commit_callbacks
):
    body = "🎉 가을 세일 😀 최대 50% ❤️ ✓ ➜ 👍🏻\u200b ไทย 끝\n둘째 줄"
    make_send(
        alice.organization,
        sender=alice.phone,
        body=body,
        requested_at=dt.datetime(2026, 10, 7, 9, 30, tzinfo=KST),
    )
    with caplog.at_level("WARNING", logger="weasyprint"):
        export = issue(alice, django_capture_on_commit_callbacks)
    assert not [r for r in caplog.records if "notdef" in r.getMessage()]  # no empty boxes
    fonts = pdf_fonts(export, tmp_path)
    # Emoji come from the bundled Noto Emoji, never from a font the machine happens to have.
    assert {name for name, _ in fonts} <= BUNDLED_FONTS
    assert "Noto-Emoji-Statement" in {name for name, _ in fonts}
    assert all(flags == "yes yes yes" for _, flags in fonts)  # embedded, subset, unicode
    text = pdf_text(export, tmp_path)
    assert "🎉 가을 세일 😀 최대 50% ❤" in text and "✓ ➜ 👍🏻" in text
    # What no bundled font can draw prints as a visible mark; the zero-width space goes.
    assert export.figures["appendix"][0]["first_line"] == (
        "🎉 가을 세일 😀 최대 50% ❤️ ✓ ➜ 👍🏻 \ufffd\ufffd\ufffd 끝"
    )
    assert "\ufffd\ufffd\ufffd 끝" in text and "둘째 줄" not in text  # the first line only


def test_points_print_with_two_decimals_and_their_unit(
    alice, client, tmp_path, django_capture_on_commit_callbacks
):
    at = dt.datetime(2026, 10, 7, 9, 30, tzinfo=KST)
    make_send(alice.organization, sender=alice.phone, requested_at=at).deliveries.update(
        points_charged=Decimal("9840")
    )
    make_send(
        alice.organization, sender=alice.phone, channel="lms", requested_at=at, outcomes=["failure"]
    ).deliveries.update(points_charged=Decimal("8890.77"), points_refunded=Decimal("8890.77"))
    export = issue(alice, django_capture_on_commit_callbacks)
    lines = pdf_text(export, tmp_path).splitlines()
    sms = next(line for line in lines if line.strip().startswith("SMS "))
    lms = next(line for line in lines if line.strip().startswith("LMS "))
    assert sms.split()[-3:] == ["9,840.00", "0.00", "9,840.00"]
    assert lms.split()[-3:] == ["8,890.77", "8,890.77", "0.00"]
    header = next(line for line in lines if "차감 포인트" in line)
    assert "환급 포인트" in header and "실차감 포인트" in header
    code = codes.format_code(export.verification_code)
    html = client.get(f"/statements/verify/{code}/").content.decode()
    assert "18,730.77" in html and "8,890.77" in html and "9,840.00" in html
    assert "차감 포인트" in html


def test_a_sender_is_printed_on_one_line(alice, tmp_path, django_capture_on_commit_callbacks):
    center = SenderProfileFactory(
        organization=alice.organization, value="0212345678", label="고객센터"
    )
    make_send(
        alice.organization,
        sender=center,
        body="[한빛커머스] 상품이 발송되었습니다.",
        requested_at=dt.datetime(2026, 10, 7, 9, 30, tzinfo=KST),
    )
    night = SenderProfileFactory(
        organization=alice.organization,
        value="0317654321",
        label="병원 대표번호 야간 응급 상담 전용 회선",
    )
    make_send(
        alice.organization,
        sender=night,
        body="[푸른치과] 내일 예약 안내",
        requested_at=dt.datetime(2026, 10, 7, 9, 31, tzinfo=KST),
    )
    text = pdf_text(issue(alice, django_capture_on_commit_callbacks), tmp_path)
    assert "02-1234-5678 (고객센터)" in text
    assert not [line for line in text.splitlines() if line.strip() in ("터)", "(고객센터)")]
    # A label too long for the column wraps between its words: none is cut or left out.
    words = re.findall(r"031-765-4321|\(병원|대표번호|야간|응급|상담|전용|회선\)", text)
    assert words == ["031-765-4321", "(병원", "대표번호", "야간", "응급", "상담", "전용", "회선)"]


def test_the_daily_table_ends_with_the_total(
    alice, october, tmp_path, django_capture_on_commit_callbacks
):
    text = pdf_text(issue(alice, django_capture_on_commit_callbacks), tmp_path)
    daily = text[text.index("일별 내역") :]
    days = [line for line in daily.splitlines() if line.strip().startswith("2026-10-")][:2]
    assert [line.split()[0] for line in days] == ["2026-10-05", "2026-10-31"]
    total = next(line for line in daily.splitlines() if line.strip().startswith("합계"))
    summary_total = next(line for line in text.splitlines() if line.strip().startswith("합계"))
    assert total.split() == summary_total.split()
    assert total.split()[1] == "15" == str(sum(int(line.split()[1]) for line in days))


def test_the_requester_is_printed_by_name(alice, tmp_path, django_capture_on_commit_callbacks):
    alice.user.first_name, alice.user.last_name = "민준", "김"
    alice.user.save()
    text = pdf_text(issue(alice, django_capture_on_commit_callbacks), tmp_path)
    requester = next(line for line in text.splitlines() if "요청자" in line)
    assert requester.split() == ["요청자", "김민준"]


def test_a_name_is_written_as_its_language_writes_it(db):
    user = UserFactory(username="jdoe", first_name="Jane", last_name="Doe")
    assert figures.person_name(user) == "Jane Doe"
    assert figures.person_name(UserFactory(first_name="서연", last_name="이")) == "이서연"
    assert figures.person_name(UserFactory(username="hanbit")) == "hanbit"


# Verification: scope, the form, codes as typed.


def test_verification_shows_the_scope(alice, october, client, django_capture_on_commit_callbacks):
    narrow = issue(
        alice,
        django_capture_on_commit_callbacks,
        sender=alice.kakao.pk,
        channel="alimtalk",
        appendix="",
    )
    html = client.get(f"/statements/verify/{narrow.verification_code}/").content.decode()
    scope = html[html.index("범위") : html.index("SHA-256")]
    assert "@alice-org" in scope and "알림톡" in scope and "싣지 않음" in scope
    assert "모든 발신정보" not in scope and "모든 채널" not in scope
    whole = issue(alice, django_capture_on_commit_callbacks, period_from="2026-10-02")
    html = client.get(f"/statements/verify/{whole.verification_code}/").content.decode()
    assert "모든 발신정보" in html and "모든 채널" in html
    assert f"발송 {whole.figures['sends']}건을 모두 실음" in html
    # Every outcome has its line: a cancelled message is neither a success nor a failure.
    totals = html[html.index("합계") :]
    for label, count in [("성공", 5), ("실패", 4), ("발송중", 1), ("대기", 2), ("취소", 3)]:
        assert f"<dt>{label}</dt><dd>{count}</dd>" in totals


def test_a_code_can_be_typed_into_a_form(
    alice, october, client, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    page = client.get("/statements/verify/")
    assert page.status_code == 200 and 'name="code"' in page.content.decode()
    printed = codes.format_code(export.verification_code)
    response = client.get("/statements/verify/", {"code": f" {printed.lower()} "})
    assert response.status_code == 302
    assert response["Location"] == f"/statements/verify/{printed}/"
    assert export.number in client.get(response["Location"]).content.decode()
    for wrong in ("abc", "", "AAAA\x00BBBBCCCC", "7K3F-9QHW-2M4U"):
        response = client.get("/statements/verify/", {"code": wrong})
        assert response.status_code == 400
        assert 'name="code"' in response.content.decode()


def test_crockford_look_alikes_are_read_as_the_digits(
    alice, october, client, django_capture_on_commit_callbacks
):
    export = issue(alice, django_capture_on_commit_callbacks)
    Statement.objects.filter(pk=export.pk).update(verification_code="7K3F0QHW1M4X")
    for typed in ("7k3f-oqhw-lm4x", "7K3F OQHW IM4X", "7k3f0qhw1m4x", "7K3F-0QHW-1M4X"):
        response = client.get(f"/statements/verify/{typed}/")
        assert response.status_code == 200, typed
        assert export.number in response.content.decode()


@pytest.mark.parametrize("path", ["AAAAA%00BBBBBB", "AAAA-%00BBB-CCCC", "%00" * 12])
def test_a_nul_byte_in_the_code_is_an_unknown_code(db, client, path):
    response = client.get(f"/statements/verify/{path}/")
    assert response.status_code == 404
    assert "찾을 수 없습니다" in response.content.decode()


# Numbers: per organization and month, without gaps.


def test_statements_are_numbered_per_organization_and_month(
    alice, bob, october, django_capture_on_commit_callbacks
):
    first = issue(alice, django_capture_on_commit_callbacks)
    # An Excel export in between takes no statement number.
    request_export(
        user=alice.user,
        organization=alice.organization,
        kind="sends",
        file_format="xlsx",
        filters={},
    )
    second = issue(alice, django_capture_on_commit_callbacks, period_from="2026-10-02")
    theirs = issue(bob, django_capture_on_commit_callbacks)
    assert [first.number, second.number, theirs.number] == [
        "ST-2026-11-0001",
        "ST-2026-11-0002",
        "ST-2026-11-0001",
    ]
    assert first.file_name == "ST-2026-11-0001_2026-10-01_2026-10-31.pdf"
    with time_machine.travel(dt.datetime(2026, 12, 1, 0, 5, tzinfo=KST), tick=False):
        alice.client.force_login(alice.user)  # days later: the last sign-in has ended
        december = issue(alice, django_capture_on_commit_callbacks)
    assert december.number == "ST-2026-12-0001"


def test_a_retried_statement_keeps_its_number(
    alice, october, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    with monkeypatch.context() as patched:
        patched.setattr(render, "HTML", broken)
        with django_capture_on_commit_callbacks(execute=True):
            alice.client.post(
                "/statements/", {"period_from": "2026-10-01", "period_to": "2026-10-31"}
            )
    failed = Statement.objects.get()
    assert failed.state == Statement.State.FAILED and failed.number == "ST-2026-11-0001"
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.client.post(f"/statements/{failed.pk}/retry/")
    assert response.status_code == 302 and response["Location"] == "/statements/"
    failed.refresh_from_db()
    assert failed.state == Statement.State.DONE and failed.number == "ST-2026-11-0001"
    assert issue(alice, django_capture_on_commit_callbacks, period_from="2026-10-02").number == (
        "ST-2026-11-0002"
    )


def test_numbers_of_the_older_form_are_followed_not_repeated(alice):
    Statement.objects.create(
        organization=alice.organization,
        created_by=alice.user,
        period_from=dt.date(2026, 10, 1),
        period_to=dt.date(2026, 10, 31),
        number="ST-2026-11-000004",
        verification_code="A" * 12,
        expires_at=NOW,
    )
    with transaction.atomic():
        assert codes.next_statement_number(alice.organization, NOW) == "ST-2026-11-0005"


@pytest.mark.django_db(transaction=True)
def test_two_statements_asked_at_once_get_consecutive_numbers(alice):
    """The second waits for the first's transaction to end, then takes the next number,
    instead of taking the same one and failing on the unique constraint."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    carol = MembershipFactory(organization=alice.organization).user
    period = {"period_from": dt.date(2026, 10, 1), "period_to": dt.date(2026, 10, 31)}
    numbers: dict[str, str] = {}

    def ask(user, name: str) -> None:
        try:
            export, _ = request_statement(user=user, organization=alice.organization, **period)
            numbers[name] = export.number
        except Exception as error:  # reported by the assertion below
            numbers[name] = repr(error)
        finally:
            connection.close()

    with transaction.atomic():
        first, _ = request_statement(user=alice.user, organization=alice.organization, **period)
        other = threading.Thread(target=ask, args=(carol, "carol"))
        other.start()
        other.join(timeout=1)
        assert other.is_alive()  # waiting for the organization's row
    other.join(timeout=30)
    assert [first.number, numbers["carol"]] == ["ST-2026-11-0001", "ST-2026-11-0002"]


# The list, its rows and links.


def waiting_statement(account, **scope) -> Statement:
    """A statement asked for and not made yet (run it with run_statement)."""
    period = {"period_from": dt.date(2026, 10, 1), "period_to": dt.date(2026, 10, 31)}
    statement, _ = request_statement(
        user=account.user, organization=account.organization, **{**period, **scope}
    )
    return statement


def test_the_statements_page_query_count_does_not_grow_with_rows(
    alice, october, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """Each row names its sender and channel without a query of its own, and a GET writes
    nothing."""
    settings.EXPORT_ACTIVE_PER_USER = settings.EXPORT_ACTIVE_PER_ORGANIZATION = 30  # 21 rows
    issue(alice, django_capture_on_commit_callbacks, sender=alice.kakao.pk, channel="alimtalk")
    # session, user, membership with its organization, the statements with their senders,
    # the form's sender choices
    with django_assert_num_queries(5):
        alice.client.get("/statements/")
    for day in range(2, 22):
        sender = (alice.phone, alice.kakao, None)[day % 3]
        waiting_statement(alice, period_from=dt.date(2026, 10, day), sender=sender)
    with django_assert_num_queries(5) as captured:
        html = alice.client.get("/statements/").content.decode()
    writes = ("INSERT", "UPDATE", "DELETE")
    assert not [query for query in captured.captured_queries if query["sql"].startswith(writes)]
    assert html.count('<tr id="statement-') == 21
    assert f'<div class="sub">{alice.kakao} · 알림톡</div>' in html
    assert f'<div class="sub">{alice.phone}</div>' in html


def test_a_statement_being_made_polls_its_own_row_less_often_as_it_goes(alice, october):
    statement = waiting_statement(alice)
    row = f"/statements/{statement.pk}/row/"
    html = alice.client.get("/statements/").content.decode()
    assert f'hx-get="{row}" hx-trigger="every 1s"' in html
    assert 'hx-get="/statements/"' not in html  # not the whole page, every second
    with time_machine.travel(NOW + dt.timedelta(seconds=30), tick=False):
        assert 'hx-trigger="every 2s"' in alice.client.get(row).content.decode()
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
        fragment = alice.client.get(row).content.decode()
    assert fragment.lstrip().startswith(f'<tr id="statement-{statement.pk}"')
    assert 'hx-trigger="every 5s"' in fragment and "<html" not in fragment
    run_statement(statement.pk)
    fragment = alice.client.get(row).content.decode()
    assert "hx-get" not in fragment and f"/statements/{statement.pk}/download/" in fragment


def test_a_double_click_issues_one_statement(alice, october, django_capture_on_commit_callbacks):
    first = issue(alice, django_capture_on_commit_callbacks)
    second = issue(alice, django_capture_on_commit_callbacks)
    assert first.pk == second.pk and Statement.objects.count() == 1
    other = issue(alice, django_capture_on_commit_callbacks, channel="sms")
    assert other.number == "ST-2026-11-0002"


def test_a_download_link_from_when_statements_were_exports_still_works(
    alice, october, django_capture_on_commit_callbacks
):
    statement = issue(alice, django_capture_on_commit_callbacks)
    response = alice.client.get(f"/exports/{statement.pk}/download/")
    assert response.status_code == 302
    assert response["Location"] == f"/statements/{statement.pk}/download/"


def test_an_expired_statement_says_so(alice, october, django_capture_on_commit_callbacks):
    statement = issue(alice, django_capture_on_commit_callbacks)
    Statement.objects.filter(pk=statement.pk).update(expires_at=NOW - dt.timedelta(minutes=1))
    response = alice.client.get(f"/statements/{statement.pk}/download/")
    assert response.status_code == 410
    html = response.content.decode()
    assert "이 파일은 만료되었습니다" in html and statement.number in html


def test_a_dead_workers_statements_are_queued_again_and_stuck_ones_fail(alice, october, settings):
    held, stuck = waiting_statement(alice), waiting_statement(alice, channel="sms")
    Statement.objects.filter(pk=held.pk).update(state="running", worker="celery@a")
    long_ago = NOW - dt.timedelta(seconds=settings.EXPORT_TIME_LIMIT + 601)
    Statement.objects.filter(pk=stuck.pk).update(state="running", started_at=long_ago)
    assert tasks.requeue_orphans("celery@a") == 1  # the task runs eagerly here
    held.refresh_from_db()
    assert held.state == Statement.State.DONE and held.file
    assert tasks.fail_stuck_jobs.delay().get() == 1
    stuck.refresh_from_db()
    assert stuck.state == Statement.State.FAILED and stuck.error


@pytest.mark.parametrize(
    ("period_from", "period_to"),
    [("20261001", "20261031"), ("2026.10.01", "2026. 10. 31."), ("2026/10/1", "2026-10-31")],
)
def test_the_period_is_typed_as_yyyy_mm_dd_or_without_dashes(
    alice, october, period_from, period_to, django_capture_on_commit_callbacks
):
    statement = issue(
        alice,
        django_capture_on_commit_callbacks,
        period_from=period_from,
        period_to=period_to,
    )
    assert (statement.period_from, statement.period_to) == (
        dt.date(2026, 10, 1),
        dt.date(2026, 10, 31),
    )


def test_the_period_boxes_are_text_boxes_that_say_how_to_type_a_day(alice):
    html = alice.client.get("/statements/").content.decode()
    assert 'type="date"' not in html
    assert html.count('placeholder="yyyy-mm-dd"') == 2
    response = alice.client.post(
        "/statements/", {"period_from": "2026-1101", "period_to": "2026.11.31"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count("올바른 날짜를 입력하세요(yyyy-mm-dd, 예: 2026-12-06).") == 2
    assert 'value="2026-1101"' in page  # a wrong day stays in its box, to correct
    assert not Statement.objects.exists()


def test_a_confirmations_period_is_read_as_the_history_pages_boxes_read_it(db):
    from sendon_results.confirmations.forms import ConfirmationForm

    typed = {"number": "010-1234-5678", "period_from": "20261101", "period_to": "2026.11.27"}
    form = ConfirmationForm(typed)
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["period_from"], form.cleaned_data["period_to"]) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 27),
    )
    wrong = ConfirmationForm({**typed, "period_to": "2026-11-31"})
    assert not wrong.is_valid()
    assert wrong.errors["period_to"] == ["올바른 날짜를 입력하세요(yyyy-mm-dd, 예: 2026-12-06)."]
