"""The console on a phone (390 x 844): the results as cards with 처리상태 and 발송 현황 in
sight, filters folded behind "필터 n", a send's recipients as cards, and every action of
the exports, statements and API keys within the screen. Nothing scrolls sideways."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from sendon_results.models import Export, SendRequest, Statement
from tests.conftest import Account
from tests.e2e.test_details import sign_in
from tests.factories import make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def assert_no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def assert_within_screen(locator: Locator) -> None:
    """Shown, and inside the screen's width: reachable without scrolling sideways."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


def some_sends(account: Account) -> list[SendRequest]:
    now = timezone.now()
    return [
        make_send(
            account.organization,
            sender=account.phone,
            channel="lms",
            title="정기 점검 안내",
            body="[안내] 시스템 정기 점검으로 아래 시간 동안 서비스 이용이 어렵습니다. " * 4,
            scheduled_at=now + dt.timedelta(days=1),
            status="reserved",
            requested_at=now - dt.timedelta(minutes=5),
            outcomes=["waiting"] * 3,
        ),
        make_send(
            account.organization,
            sender=account.kakao,
            channel="alimtalk",
            body="[알림] 주문이 접수되었습니다.",
            requested_at=now - dt.timedelta(minutes=30),
            outcomes=["success", "success", "failure", "sending"],
        ),
        make_send(
            account.organization,
            sender=account.phone,
            status="failed",
            body="[안내] 번호 오류로 실패",
            requested_at=now - dt.timedelta(hours=2),
            outcomes=["failure", "failure"],
        ),
    ]


def test_the_results_are_cards_with_their_status_and_outcomes_in_sight(phone: Page, live_server):
    alice = Account("휴대폰상사")
    sends = some_sends(alice)
    sign_in(phone, live_server.url, alice)
    phone.goto(f"{live_server.url}/results/")

    rows = phone.locator("table.results-table tbody tr")
    expect(rows).to_have_count(3)
    # No table header across the top: each card says what it holds.
    expect(phone.locator("table.results-table thead th").first).not_to_be_in_viewport()
    for send in sends:
        card = phone.locator(f"#send-{send.pk}")
        assert_within_screen(card)
        assert_within_screen(card.locator(".badge"))  # 처리상태
        assert_within_screen(card.locator(".outcomes"))  # 발송 현황
        assert_within_screen(card.locator("a[data-row-link]"))
    # Cards stand one under another, not side by side as table rows would be wide.
    first, second = (rows.nth(i).bounding_box() for i in range(2))
    assert first and second and second["y"] >= first["y"] + first["height"]
    # A long body takes two lines at most, ending in an ellipsis.
    body = phone.locator(f"#send-link-{sends[0].pk}")
    line = float(body.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)"))
    body_box = body.bounding_box()
    assert body_box and body_box["height"] <= 2 * line + 1, (body_box, line)
    assert body.evaluate("el => el.scrollHeight > el.clientHeight")
    expect(phone.locator(f"#send-{sends[1].pk}")).to_contain_text("실패 1")
    assert_no_sideways_scroll(phone)

    # The whole card opens the send; its link stays the keyboard's way in.
    phone.locator(f"#send-{sends[1].pk} .outcomes").click()
    expect(phone).to_have_url(re.compile(rf"/results/{sends[1].pk}/$"))
    phone.go_back()
    phone.locator(f"#send-link-{sends[2].pk}").focus()
    phone.keyboard.press("Enter")
    expect(phone).to_have_url(re.compile(rf"/results/{sends[2].pk}/$"))


def test_the_filters_fold_behind_a_button_showing_how_many_apply(phone: Page, live_server):
    alice = Account("필터상사")
    some_sends(alice)
    sign_in(phone, live_server.url, alice)
    phone.goto(f"{live_server.url}/results/?status=failed&channel=sms")

    toggle = phone.get_by_role("button", name=re.compile("^필터"))
    filters = phone.locator("#filters")
    expect(toggle).to_have_accessible_name("필터 2")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", "filters")
    expect(filters).to_be_hidden()
    # Folded, the first send is on the first screen.
    expect(phone.locator("table.results-table tbody tr").first).to_be_in_viewport()

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(filters).to_be_visible()
    assert_within_screen(filters)
    assert_no_sideways_scroll(phone)

    # A filter changed (htmx swaps the list): the count follows, the filters stay open.
    phone.get_by_role("checkbox", name="실패", exact=True).check()
    expect(phone).to_have_url(re.compile(r"outcome=failure"))
    expect(toggle).to_have_accessible_name("필터 3")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(filters).to_be_visible()

    toggle.click()
    expect(filters).to_be_hidden()
    # A filter dropped from its chip: the count follows and the fold stays shut.
    phone.get_by_role("link", name="채널 조건 지우기").click()
    expect(phone).not_to_have_url(re.compile(r"channel="))
    expect(toggle).to_have_accessible_name("필터 2")
    expect(filters).to_be_hidden()

    # No filter at all: the button shows no number.
    phone.goto(f"{live_server.url}/results/")
    expect(toggle).to_have_accessible_name("필터")


def test_a_wide_screen_shows_the_filters_and_no_fold_button(page: Page, live_server):
    alice = Account("넓은화면상사")
    some_sends(alice)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/?status=failed")
    expect(page.locator("#filters")).to_be_visible()
    expect(page.locator("[data-filter-toggle]")).to_be_hidden()
    expect(page.locator("table.results-table thead th").first).to_be_visible()


def test_a_sends_recipients_are_cards(phone: Page, live_server):
    alice = Account("수신자카드상사")
    send = some_sends(alice)[1]
    sign_in(phone, live_server.url, alice)
    phone.goto(f"{live_server.url}/results/{send.pk}/")

    rows = phone.locator("table.deliveries-table tbody tr")
    expect(rows).to_have_count(4)
    expect(phone.locator("table.deliveries-table thead th").first).not_to_be_in_viewport()
    for i in range(4):
        assert_within_screen(rows.nth(i))
        assert_within_screen(rows.nth(i).locator(".badge"))
    # Values that do not say what they are carry their header.
    labels = rows.first.locator("td").evaluate_all(
        "cells => cells.map(cell => getComputedStyle(cell, '::before').content)"
    )
    assert '"통신사 "' in labels, labels
    assert_no_sideways_scroll(phone)


def test_exports_statements_and_api_keys_keep_their_actions_in_sight(phone: Page, live_server):
    alice = Account("동작상사")
    now = timezone.now()
    for state, error in ((Export.State.DONE, ""), (Export.State.FAILED, "저장 공간이 부족합니다.")):
        export = Export.objects.create(
            organization=alice.organization,
            created_by=alice.user,
            kind=Export.Kind.SENDS,
            file_format=Export.Format.CSV,
            state=state,
            error=error,
            file_name="발송결과.csv",
            row_count=1,
            expires_at=now + dt.timedelta(days=7),
        )
        if state == Export.State.DONE:
            export.file.save("exported.csv", ContentFile(b"a,b\n"))
    today = timezone.localdate()
    statement = Statement.objects.create(
        organization=alice.organization,
        created_by=alice.user,
        period_from=today - dt.timedelta(days=30),
        period_to=today - dt.timedelta(days=1),
        number=f"ST-{today:%Y-%m}-0001",
        verification_code="7K3F9QHW0001",
        state=Statement.State.DONE,
        row_count=2,
        file_name=f"ST-{today:%Y-%m}-0001.pdf",
        figures={"organization": alice.organization.name, "total": {"messages": 2}},
        fingerprint="0" * 64,
        expires_at=now + dt.timedelta(days=365),
    )
    statement.file.save("statement.pdf", ContentFile(b"%PDF-1.7\n"))
    sign_in(phone, live_server.url, alice)

    phone.goto(f"{live_server.url}/exports/")
    assert_within_screen(phone.get_by_role("link", name="다운로드"))
    assert_within_screen(phone.get_by_role("button", name="다시 시도"))
    assert_no_sideways_scroll(phone)

    phone.goto(f"{live_server.url}/statements/")
    assert_within_screen(phone.get_by_role("link", name="PDF 다운로드"))
    assert_no_sideways_scroll(phone)

    phone.goto(f"{live_server.url}/settings/api-keys/")
    phone.get_by_label("이름").fill("주문 시스템 (운영 서버)")
    phone.get_by_role("button", name="키 만들기").click()
    expect(phone.locator(".new-key")).to_be_visible()
    assert_within_screen(phone.locator(".new-key"))
    assert_within_screen(phone.get_by_role("link", name="폐기"))
    assert_within_screen(phone.get_by_role("cell", name="주문 시스템 (운영 서버)"))
    assert_no_sideways_scroll(phone)


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/failures/",
        "/recipients/",
        "/recipients/lookup/",
        "/audit/",
        "/settings/members/",
    ],
)
def test_the_other_pages_do_not_scroll_sideways(phone: Page, live_server, path: str):
    alice = Account("다른화면상사")
    some_sends(alice)
    sign_in(phone, live_server.url, alice)
    phone.goto(f"{live_server.url}{path}")
    phone.wait_for_load_state("networkidle")
    assert_no_sideways_scroll(phone)
