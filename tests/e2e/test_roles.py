"""A viewer, an operator and an owner each sign in and walk the console: what the menu
offers, what each page lets them do, and what it refuses (with the roles that may).
Screenshots of every stop, wide (1400×900) and on a phone (390×844), land in the test's
tmp_path."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from sendon_results.models import Membership
from tests.conftest import Account
from tests.factories import MembershipFactory, make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"wide": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
MENU = ("발송결과", "내보내기", "발송내역서", "구성원", "API 키")


def shoot(page: Page, folder: Path, name: str) -> None:
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=folder / f"{name}-{size}.png", full_page=True)
    page.set_viewport_size(SIZES["wide"])


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("아이디").fill(username)
    page.get_by_label("비밀번호").fill("password-123")
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    page.goto(f"{base_url}/results/")


def expect_menu(page: Page, *offered: str) -> None:
    nav = page.get_by_role("navigation", name="주 메뉴")
    for item in MENU:
        link = nav.get_by_role("link", name=item, exact=True)
        if item in offered:
            expect(link).to_be_visible()
        else:
            expect(link).to_have_count(0)


def person(membership: Membership, last: str, first: str, email: str) -> Membership:
    membership.user.last_name, membership.user.first_name = last, first
    membership.user.email = email
    membership.user.save()
    return membership


@pytest.fixture
def team(db):
    owner = Account("한빛상사")
    person(Membership.objects.get(user=owner.user), "김", "하늘", "haneul@example.com")
    operator = person(
        MembershipFactory(organization=owner.organization, role=Membership.Role.OPERATOR),
        "정",
        "우성",
        "woosung@example.com",
    )
    viewer = person(
        MembershipFactory(organization=owner.organization, role=Membership.Role.VIEWER),
        "최",
        "민지",
        "minji@example.com",
    )
    now = timezone.now()
    for i in range(4):
        make_send(
            owner.organization,
            sender=owner.phone,
            body=f"[한빛상사] 주문 안내 {i}",
            requested_at=now - dt.timedelta(days=1, hours=i),
            outcomes=["success", "failure"],
            recipients=["01012345678", f"0109876{i:04d}"],
        )
    return owner, operator, viewer


def open_first_send(page: Page) -> None:
    page.locator("table.results-table tbody tr").first.locator("td.body-cell a").click()
    expect(page).to_have_url(re.compile(r"/results/\d+/$"))


def test_a_viewer_an_operator_and_an_owner_each_see_what_their_role_allows(
    browser: Browser, page: Page, live_server, tmp_path: Path, team
):
    owner, operator, viewer = team
    base = live_server.url

    # The operator: browses, may reveal numbers, exports, issues a statement.
    sign_in(page, base, operator.user.username)
    expect_menu(page, "발송결과", "내보내기", "발송내역서")
    expect(page.get_by_role("button", name="Excel 다운로드")).to_be_visible()
    shoot(page, tmp_path, "operator-results")
    open_first_send(page)
    expect(page.locator("table").filter(has_text="010-****-5678").first).to_be_visible()
    expect(page.locator('form[action$="/reveal/"]')).to_have_count(1)
    page.get_by_role("link", name="발송내역서", exact=True).click()
    today = timezone.localdate()
    page.get_by_label("시작일").fill((today - dt.timedelta(days=6)).isoformat())
    page.get_by_label("종료일").fill(today.isoformat())
    page.get_by_role("button", name="내역서 발행").click()
    row = page.locator("table.statements-table tbody tr").first
    expect(row).to_contain_text("완료", timeout=30_000)
    expect(row).to_contain_text("정우성")
    shoot(page, tmp_path, "operator-statements")
    page.goto(f"{base}/settings/members/")
    expect(page.locator("main")).to_contain_text("구성원 관리 권한이 있는 역할: 소유자")
    shoot(page, tmp_path, "operator-forbidden-members")
    page.get_by_role("button", name="로그아웃").click()

    # The viewer: browses with numbers masked, downloads the statement the operator issued,
    # and is offered nothing else.
    sign_in(page, base, viewer.user.username)
    expect_menu(page, "발송결과", "발송내역서")
    expect(page.get_by_role("button", name="Excel 다운로드")).to_have_count(0)
    shoot(page, tmp_path, "viewer-results")
    open_first_send(page)
    expect(page.locator("table").filter(has_text="010-****-5678").first).to_be_visible()
    expect(page.locator('form[action$="/reveal/"]')).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("010-1234-5678")
    shoot(page, tmp_path, "viewer-detail")
    page.get_by_role("link", name="발송내역서", exact=True).click()
    expect(page.get_by_role("button", name="내역서 발행")).to_have_count(0)
    expect(page.locator(".notice")).to_contain_text("발행은 운영자와 소유자가 합니다")
    row = page.locator("table.statements-table tbody tr").first
    expect(row).to_contain_text("정우성")
    with page.expect_download() as download:
        row.get_by_role("link", name="PDF 다운로드").click()
    saved = tmp_path / "statement.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    shoot(page, tmp_path, "viewer-statements")
    page.goto(f"{base}/exports/")
    expect(page.locator("main")).to_contain_text(
        "발송결과 내보내기 권한이 있는 역할: 운영자, 소유자."
    )
    shoot(page, tmp_path, "viewer-forbidden-exports")
    page.get_by_role("button", name="로그아웃").click()

    # The owner: everything, and the members page.
    sign_in(page, base, owner.user.username)
    expect_menu(page, *MENU)
    page.get_by_role("link", name="구성원", exact=True).click()
    members = page.locator("table.members-table tbody tr")
    expect(members).to_have_count(3)
    expect(members.filter(has_text="김하늘")).to_contain_text("유일한 소유자")
    expect(members.filter(has_text="정우성").get_by_role("combobox")).to_have_value("operator")
    expect(members.filter(has_text="최민지").get_by_role("combobox")).to_have_value("viewer")
    page.get_by_label("이메일", exact=True).fill("new.hire@example.com")
    page.get_by_label("역할", exact=True).select_option("operator")
    page.get_by_role("button", name="초대 메일 보내기").click()
    expect(page.locator(".messages")).to_contain_text("new.hire@example.com 주소로 초대 메일을")
    expect(page.locator("table.invitations-table")).to_contain_text("new.hire@example.com")
    shoot(page, tmp_path, "owner-members")
    # The viewer becomes an operator.
    viewer_row = members.filter(has_text="최민지")
    viewer_row.get_by_role("combobox").select_option("operator")
    viewer_row.get_by_role("button", name="변경").click()
    expect(page.locator(".messages")).to_contain_text("최민지님의 역할을 운영자(으)로 바꿨습니다")
    # Removing asks first; cancelling keeps the member.
    members.filter(has_text="정우성").get_by_role("link", name="제외").click()
    expect(page.locator("main")).to_contain_text("정우성")
    shoot(page, tmp_path, "owner-remove-confirmation")
    page.get_by_role("link", name="취소").click()
    expect(members).to_have_count(3)

    # The invitation, opened by the person invited, with no account yet.
    (message,) = mail.outbox
    link = next(line for line in message.body.splitlines() if "/invitations/" in line)
    path = link.strip().split("/invitations/", 1)[1]
    stranger = browser.new_context(viewport=SIZES["wide"], locale="ko-KR")
    invited = stranger.new_page()
    invited.goto(f"{base}/invitations/{path}")
    expect(invited.locator("main")).to_contain_text("new.hire@example.com")
    invited.get_by_label("아이디").fill("newhire")
    invited.get_by_label("성", exact=True).fill("한")
    invited.get_by_label("이름", exact=True).fill("지우")
    invited.get_by_label("비밀번호", exact=True).fill("violet-harbor-42")
    invited.get_by_label("비밀번호 확인").fill("violet-harbor-42")
    shoot(invited, tmp_path, "invitation-join")
    invited.get_by_role("button", name="계정 만들고 참여하기").click()
    expect(invited).to_have_url(re.compile(r"/results/$"))
    expect(invited.locator(".messages")).to_contain_text("한빛상사에 참여했습니다")
    expect_menu(invited, "발송결과", "내보내기", "발송내역서")
    stranger.close()
    assert User.objects.get(username="newhire").email == "new.hire@example.com"
    page.reload()
    expect(members).to_have_count(4)
    shoot(page, tmp_path, "owner-members-after")

    # The access record shows the owner what each of them did.
    page.get_by_role("link", name="접속기록", exact=True).click()
    events = page.locator("#events table tbody tr")
    for username, action in (
        (operator.user.username, "발송 상세 조회"),
        (operator.user.username, "발송내역서 발행"),
        (viewer.user.username, "발송 상세 조회"),
        (viewer.user.username, "발송내역서 다운로드"),
        (owner.user.username, "역할 변경"),
    ):
        expect(events.filter(has_text=username).filter(has_text=action).first).to_be_visible()
    shoot(page, tmp_path, "owner-access-record")
