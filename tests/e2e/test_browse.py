from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.conftest import Account
from tests.factories import make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, base_url: str, account: Account) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("아이디").fill(account.user.username)
    page.get_by_label("비밀번호").fill("password-123")
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    page.goto(f"{base_url}/results/")


def test_sign_in_filter_open_a_send_and_come_back(page: Page, live_server, tmp_path):
    alice = Account("브라우저상사")
    now = timezone.now()
    for i in range(5):
        make_send(
            alice.organization,
            sender=alice.phone,
            body=f"[안내] 정상 발송 {i}",
            requested_at=now - dt.timedelta(hours=i + 1),
            outcomes=["success", "success"],
        )
    failed = make_send(
        alice.organization,
        sender=alice.kakao,
        channel="alimtalk",
        status="failed",
        body="[알림] 포인트 부족으로 실패한 발송",
        requested_at=now - dt.timedelta(hours=9),
        outcomes=["failure"],
        failure_reason="대체문자 발송 포인트가 부족합니다.",
    )
    make_send(
        alice.organization,
        sender=alice.phone,
        status="failed",
        body="[안내] 번호로 실패",
        requested_at=now - dt.timedelta(hours=10),
        outcomes=["failure"],
    )

    sign_in(page, live_server.url, alice)
    rows = page.locator("table.results-table tbody tr")
    expect(rows).to_have_count(7)

    # Filters apply without a full reload and land in the URL.
    page.get_by_role("checkbox", name="처리실패").check()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(rows).to_have_count(2)
    page.get_by_role("checkbox", name=str(alice.kakao)).check()
    expect(page).to_have_url(re.compile(rf"sender={alice.kakao.pk}"))
    expect(rows).to_have_count(1)
    expect(page.locator(".count")).to_have_text("1건")
    expect(page.locator(".active-filters")).to_contain_text("처리실패")

    page.get_by_role("link", name=re.compile("포인트 부족으로 실패한 발송")).click()
    expect(page).to_have_url(re.compile(rf"/results/{failed.pk}/$"))
    expect(page.locator(".failure-reason")).to_have_text("대체문자 발송 포인트가 부족합니다.")
    page.screenshot(path=tmp_path / "detail.png", full_page=True)

    page.go_back()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.get_by_role("checkbox", name="처리실패")).to_be_checked()
    expect(rows).to_have_count(1)
    shot = tmp_path / "list.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 20_000


def test_bad_filter_shows_a_message_in_the_page(page: Page, live_server):
    alice = Account("잘못된입력")
    make_send(alice.organization, sender=alice.phone)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/?requested_from=2026-11-20&requested_to=2026-11-01")
    expect(page.get_by_role("alert")).to_contain_text("끝 날짜가 시작 날짜(2026-11-20)보다")


def test_export_the_filtered_list_and_download_it(page: Page, live_server, tmp_path):
    alice = Account("내보내기상사")
    now = timezone.now()
    for i in range(4):
        make_send(
            alice.organization,
            sender=alice.phone,
            body=f"[안내] 발송 {i}",
            requested_at=now - dt.timedelta(hours=i + 1),
            outcomes=["success", "failure"],
        )
    make_send(alice.organization, sender=alice.kakao, channel="alimtalk", outcomes=["success"])
    sign_in(page, live_server.url, alice)
    page.get_by_role("checkbox", name="실패", exact=True).check()
    expect(page).to_have_url(re.compile(r"outcome=failure"))
    page.get_by_label("형식", exact=True).select_option("deliveries")
    page.get_by_role("button", name="Excel 다운로드").click()
    notice = page.locator("#export-notice")
    expect(notice).to_contain_text("내보낼 파일이 준비되었습니다")
    expect(notice).to_contain_text("4행")
    page.screenshot(path=tmp_path / "export-ready.png")
    with page.expect_download() as download:
        notice.get_by_role("link", name="다운로드").click()
    assert download.value.suggested_filename.startswith("수신자별_발송결과_")
    saved = tmp_path / "export.xlsx"
    download.value.save_as(saved)
    sheet = load_workbook(saved).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 5  # the header and the four failed recipients
    assert {row[rows[0].index("발송 현황")] for row in rows[1:]} == {"실패"}

    page.get_by_role("link", name="내보내기", exact=True).click()
    expect(page.locator("table.exports-table tbody tr")).to_have_count(1)
    expect(page.locator("table.exports-table")).to_contain_text("완료")


def test_issue_a_statement_and_download_it(page: Page, live_server, tmp_path):
    alice = Account("내역서상사")
    make_send(
        alice.organization,
        sender=alice.phone,
        outcomes=["success", "failure"],
        requested_at=timezone.now() - dt.timedelta(days=2),
    )
    sign_in(page, live_server.url, alice)
    page.get_by_role("link", name="발송내역서").click()
    today = timezone.localdate()
    page.get_by_label("시작일").fill((today - dt.timedelta(days=6)).isoformat())
    page.get_by_label("종료일").fill(today.isoformat())
    page.get_by_role("button", name="내역서 발행").click()
    row = page.locator("table.statements-table tbody tr").first
    expect(row).to_contain_text("완료", timeout=30_000)
    number = row.locator("td").first.inner_text()
    assert re.fullmatch(r"ST-\d{4}-\d{2}-\d{4}", number)
    with page.expect_download() as download:
        row.get_by_role("link", name="PDF 다운로드").click()
    saved = tmp_path / "statement.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    assert download.value.suggested_filename.startswith(number)
    text = subprocess.run(["pdftotext", str(saved), "-"], capture_output=True, text=True).stdout
    assert number in text and "발송내역서" in text
    page.screenshot(path=tmp_path / "statements.png", full_page=True)
