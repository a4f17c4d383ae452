"""The desktop details of the results list, a send's page and the statement form, as a
browser lays them out: figures right-aligned, a header that stays in sight, a row that
opens its send, sender chips with a search box, an export button naming its file."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from sendon_results.models import SendRequest
from tests.conftest import Account
from tests.e2e.conftest import wait_until
from tests.factories import SenderProfileFactory, make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, base_url: str, account: Account) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("아이디").fill(account.user.username)
    page.get_by_label("비밀번호").fill("password-123")
    page.get_by_label("비밀번호").press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def many_sends(account: Account, count: int) -> list[SendRequest]:
    now = timezone.now()
    return [
        make_send(
            account.organization,
            sender=account.phone,
            body=f"[안내] 발송 {i}",
            requested_at=now - dt.timedelta(minutes=i + 1),
            outcomes=["success"] * (1 + i % 3),
        )
        for i in range(count)
    ]


def test_figures_sit_right_under_right_aligned_headers(page: Page, live_server):
    alice = Account("정렬상사")
    many_sends(alice, 3)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/")
    table = page.locator("table.results-table")
    for cell in (table.locator("th.num").first, table.locator("td.num").first):
        assert cell.evaluate("el => getComputedStyle(el).textAlign") == "right"
    assert table.locator("td").first.evaluate("el => getComputedStyle(el).textAlign") == "left"
    # The figure's right edge lines up with its header's.
    header, figure = table.locator("th.num").first, table.locator("td.num").first
    head_box, cell_box = header.bounding_box(), figure.bounding_box()
    assert (
        head_box
        and cell_box
        and abs((head_box["x"] + head_box["width"]) - (cell_box["x"] + cell_box["width"])) < 1
    )


def test_the_header_stays_in_sight_and_a_row_opens_its_send(page: Page, live_server):
    alice = Account("머리행상사")
    sends = many_sends(alice, 30)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/")
    expect(page.locator(".table-wrap")).to_have_class(re.compile(r"\bfits\b"))
    page.mouse.wheel(0, 1500)
    wait_until(page, "window.scrollY > 1000")
    header = page.locator("table.results-table thead th").first
    box = header.bounding_box()
    assert box is not None and -1 <= box["y"] <= 1, box

    # A click anywhere on the row but its link opens the send: here its time cell.
    row = page.locator(f"#send-{sends[20].pk}")
    row.locator("td").first.click()
    expect(page).to_have_url(re.compile(rf"/results/{sends[20].pk}/$"))
    page.go_back()
    # The keyboard's way in is still a real link.
    link = page.locator(f"#send-link-{sends[0].pk}")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/results/{sends[0].pk}/$"))


def test_selecting_text_in_a_row_does_not_open_the_send(page: Page, live_server):
    alice = Account("선택상사")
    sends = many_sends(alice, 2)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/")
    cell = page.locator(f"#send-{sends[0].pk} td").nth(3)  # the sender cell
    box = cell.bounding_box()
    assert box
    # Dragging across the sender's number to copy it selects it and leaves the page alone.
    page.mouse.move(box["x"] + 4, box["y"] + 14)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 4, box["y"] + 14, steps=5)
    page.mouse.up()
    assert page.evaluate("String(window.getSelection())") != ""
    page.wait_for_timeout(300)
    assert re.search(r"/results/(\?.*)?$", page.url)


def test_sender_chips_are_narrowed_by_their_search_box_and_filter_the_list(page: Page, live_server):
    alice = Account("발신상사")
    center = SenderProfileFactory(
        organization=alice.organization, value="0212345678", label="고객센터"
    )
    others = [
        SenderProfileFactory(
            organization=alice.organization, value=f"03198765{i:02d}", label=f"지점{i}"
        )
        for i in range(7)
    ]
    by_center = make_send(alice.organization, sender=center, body="[안내] 고객센터 발송")
    by_kakao = make_send(
        alice.organization, sender=alice.kakao, channel="alimtalk", body="[알림] 카카오"
    )
    make_send(alice.organization, sender=others[0], body="[안내] 지점 발송")
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/")

    senders = page.locator("fieldset:has(legend:text-is('발신정보'))")
    search = senders.get_by_role("searchbox", name="발신정보 찾기")
    expect(search).to_be_visible()  # ten senders: app.js offers the search box
    search.fill("1234")  # digits find a number written with hyphens
    expect(senders.locator(".choice:visible")).to_have_count(1)
    expect(senders.locator(".choice:visible")).to_have_text("02-1234-5678 (고객센터)")
    rows = page.locator("table.results-table tbody tr")
    expect(rows).to_have_count(3)  # typing in the box filtered nothing
    senders.get_by_role("checkbox", name="02-1234-5678 (고객센터)").check()
    expect(page).to_have_url(re.compile(rf"sender={center.pk}"))
    search.fill("@발신")
    expect(senders.locator(".choice:visible")).to_have_count(2)  # the ticked one stays
    senders.get_by_role("checkbox", name="@발신상사").check()
    expect(page).to_have_url(
        re.compile(rf"sender={alice.kakao.pk}&sender={center.pk}")
    )  # in the chips' order
    expect(rows).to_have_count(2)
    shown = {int(pk) for pk in rows.evaluate_all("rows => rows.map(r => r.id.slice(5))")}
    assert shown == {by_center.pk, by_kakao.pk}
    search.fill("없는 이름")
    expect(senders.locator(".choice:visible")).to_have_count(2)
    expect(senders.locator(".choice-none")).to_be_hidden()
    senders.get_by_role("checkbox", name="@발신상사").uncheck()
    senders.get_by_role("checkbox", name="02-1234-5678 (고객센터)").uncheck()
    # An unticked chip stays until the search changes, so a slip can be undone in place.
    expect(senders.locator(".choice:visible")).to_have_count(2)
    search.fill("없는 이름 ")
    expect(senders.locator(".choice:visible")).to_have_count(0)
    expect(senders.locator(".choice-none")).to_be_visible()
    search.fill("")
    expect(senders.locator(".choice:visible")).to_have_count(10)


def test_the_export_button_follows_the_chosen_format(page: Page, live_server):
    alice = Account("형식상사")
    many_sends(alice, 1)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/results/")
    button = page.locator(".export-form button[type=submit]")
    expect(button).to_have_text("Excel 다운로드")
    page.locator("#export-format").select_option("csv")
    expect(button).to_have_text("CSV 다운로드")
    page.locator("#export-format").select_option("xlsx")
    expect(button).to_have_text("Excel 다운로드")


def test_the_statement_forms_error_leaves_its_fields_in_place(page: Page, live_server):
    alice = Account("내역서배치")
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/statements/")
    fields = ["#id_period_from", "#id_period_to", "#id_sender", "#id_channel"]
    before = [page.locator(f).bounding_box() for f in fields]
    page.locator("#id_period_from").fill("2020-01-01")
    page.locator("#id_period_to").fill("2020-01-31")
    page.locator(".statement-form button[type=submit]").click()
    expect(page.get_by_role("alert")).to_contain_text("보관됩니다")
    after = [page.locator(f).bounding_box() for f in fields]
    for old, new in zip(before, after, strict=True):
        assert old and new and abs(old["x"] - new["x"]) < 1  # not pushed sideways
    alert = page.get_by_role("alert").bounding_box()
    first = after[0]
    assert alert and first and alert["y"] + alert["height"] <= first["y"]  # above them
