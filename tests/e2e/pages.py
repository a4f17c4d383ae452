"""Every page of the console, once, with the data that fills it: the accessibility check
and the screenshot gallery (`make screenshots`) walk this one list.

The data is the demo's (believable Korean companies, bodies and names, no real person's)
with one of everything a page can show: sends of each status and channel, failures,
reservations, a finished export and one still waiting, a statement and a delivery
confirmation, members and an invitation, API keys and access-record entries.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from sendon_results.accounts import invitations
from sendon_results.api.keys import create_key
from sendon_results.audit import events
from sendon_results.confirmations.render import run_confirmation
from sendon_results.confirmations.requests import request_confirmation
from sendon_results.demo import (
    DEMO_NUMBER,
    DEMO_ORGANIZATIONS,
    MANAGER,
    VIEWER,
    ensure_demo_accounts,
    seed_history,
)
from sendon_results.exports.requests import request_export, run_export
from sendon_results.handoff import actions, delivery, signing
from sendon_results.models import (
    AccessEvent,
    Confirmation,
    Membership,
    Organization,
    PlatformEndpoint,
    SendRequest,
    Statement,
)
from sendon_results.statements.render import run_statement
from sendon_results.statements.requests import request_statement

VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
DEMO_SENDS = 60  # the first organization's; enough for every status on the first page
OWNER = (DEMO_ORGANIZATIONS[0].username, DEMO_ORGANIZATIONS[0].password)


@dataclass
class Demo:
    """What the pages need to find: ids, codes and links of the data made."""

    failed_send: int = 0
    other_organization_send: int = 0
    statement_code: str = ""
    confirmation_code: str = ""
    invitation_path: str = ""
    numbers: list[str] = field(default_factory=list)
    reservation: int = 0
    completed_with_failures: int = 0
    cancelling: int = 0


def build_demo() -> Demo:
    """The demo organizations with a short history, and one of every kind of record."""
    ensure_demo_accounts()
    seed_history(sends=DEMO_SENDS, max_recipients=6)
    organization = Organization.objects.get(name=DEMO_ORGANIZATIONS[0].name)
    owner = Membership.objects.get(organization=organization, role=Membership.Role.OWNER).user
    today = timezone.localdate()
    month_ago = today - dt.timedelta(days=30)

    done, _ = request_export(
        user=owner,
        organization=organization,
        kind="deliveries",
        file_format="xlsx",
        filters={"status": ["failed"]},
        description=[{"label": "발송 상태", "value": "처리실패"}],
    )
    run_export(done.pk)
    request_export(
        user=owner, organization=organization, kind="sends", file_format="csv", filters={}
    )

    statement, _ = request_statement(
        user=owner, organization=organization, period_from=month_ago, period_to=today
    )
    run_statement(statement.pk)
    confirmation, _ = request_confirmation(
        user=owner,
        organization=organization,
        recipient=DEMO_NUMBER,
        period_from=month_ago,
        period_to=today,
        unmasked=False,
    )
    run_confirmation(confirmation.pk)

    key, _ = create_key(organization=organization, name="쇼핑몰 주문 서버", user=owner)
    create_key(organization=organization, name="예약 알림 배치", user=owner)
    sent = invitations.invite(
        organization=organization,
        email="new.member@example.com",
        role=Membership.Role.OPERATOR,
        invited_by=owner,
    )
    newest = SendRequest.objects.order_by("-requested_at")
    failed = newest.filter(organization=organization, failure_count__gt=0).first()
    for action, obj in (
        (AccessEvent.Action.EXPORT_REQUESTED, done),
        (AccessEvent.Action.EXPORT_DOWNLOADED, done),
        (AccessEvent.Action.STATEMENT_ISSUED, statement),
        (AccessEvent.Action.API_KEY_CREATED, key),
        (AccessEvent.Action.MEMBER_INVITED, sent.invitation),
        (AccessEvent.Action.SEND_VIEWED, failed),
    ):
        events.new_event(None, action, user=owner, organization=organization, obj=obj).save()

    reservation, cancelling = _platform_requests(organization, owner)

    statement.refresh_from_db()
    confirmation.refresh_from_db()
    assert statement.state == Statement.State.DONE, statement.error
    assert confirmation.state == Confirmation.State.DONE, confirmation.error
    return Demo(
        failed_send=failed.pk if failed else 0,
        # The manager works in 푸른치과의원 (first by name) and follows a link to 한빛커머스's.
        other_organization_send=newest.filter(organization=organization).first().pk,  # type: ignore[union-attr]
        statement_code=statement.verification_code,
        confirmation_code=confirmation.verification_code,
        invitation_path=invitations.link_for(sent.invitation).split("://", 1)[-1].split("/", 1)[-1],
        numbers=[DEMO_NUMBER, "01098765432"],
        reservation=reservation,
        completed_with_failures=newest.filter(
            organization=organization, status="completed", failure_count__gt=1
        )
        .values_list("pk", flat=True)
        .first()
        or 0,
        cancelling=cancelling,
    )


def _platform_requests(organization: Organization, owner: User) -> tuple[int, int]:
    """A connected platform with requests in each state: a release it refused, a
    cancellation it has not answered yet (two tries), a test it accepted. Returns the
    send whose release was refused (a reservation again) and the one being cancelled."""
    PlatformEndpoint.objects.create(
        organization=organization,
        url="https://platform.hanbit.example/console-requests",
        secret=signing.new_secret(),
    )
    reserved = SendRequest.objects.filter(organization=organization, status="reserved")
    refused, unanswered = reserved.order_by("-requested_at")[:2]
    asked = actions.ask(refused, "send_now", user=owner, queue=lambda pk: None)
    reason = '{"reason": "예약 시각이 지나 이미 발송을 시작했습니다."}'
    delivery.record_try(asked.pk, delivery.Try(409, 48, text=reason))
    asked = actions.ask(unanswered, "cancel", user=owner, queue=lambda pk: None)
    delivery.record_try(asked.pk, delivery.Try(503, 131))
    delivery.record_try(asked.pk, delivery.Try(None, 5003, error="5초 안에 응답이 없었습니다."))
    test = actions.test_message(PlatformEndpoint.objects.get(organization=organization), user=owner)
    delivery.record_try(test.pk, delivery.Try(200, 87))
    return refused.pk, unanswered.pk  # refused, the first is a reservation again


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("아이디").fill(username)
    page.get_by_label("비밀번호").fill(password)
    page.get_by_role("button", name="로그인").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


# What to do once on the page's address before it is checked: fill in a form, etc.
Action = Callable[[Page, Demo], None]


def _statement_with_an_error(page: Page, demo: Demo) -> None:
    page.get_by_label("시작일").fill("2026-11-20")
    page.get_by_label("종료일").fill("2026-11-01")
    page.get_by_role("button", name="내역서 발행").click()
    expect(page.locator(".field-error, .form-errors").first).to_be_visible()


def _lookup_a_list(page: Page, demo: Demo) -> None:
    content = ("전화번호\n" + "\n".join(demo.numbers) + "\n").encode()
    page.locator('input[type="file"]').set_input_files(
        {"name": "numbers.csv", "mimeType": "text/csv", "buffer": content}
    )
    page.get_by_role("button", name="조회", exact=True).click()
    expect(page.locator(".lookup-results")).to_be_visible()


def _cross_site_sign_in(page: Page, demo: Demo) -> None:
    # A sign-in form left open while its cookie went: the CSRF refusal page.
    page.context.clear_cookies()
    page.get_by_label("아이디").fill("someone")
    page.get_by_label("비밀번호").fill("whatever-123")
    page.get_by_role("button", name="로그인").click()
    expect(page.locator("h1")).to_be_visible()


def _too_many_failures(page: Page, demo: Demo) -> None:
    # The wait doubles with each failure after the free ones: fail until one is refused.
    for _ in range(12):
        page.get_by_label("아이디").fill(OWNER[0])
        page.get_by_label("비밀번호").fill("not-the-password")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="로그인").click()
        if answer.value.status == 429:
            return
    raise AssertionError("the sign-in was never throttled")


@dataclass(frozen=True)
class ConsolePage:
    name: str  # the screenshot's file name and the test's id
    path: Callable[[Demo], str]
    caption: str  # what the gallery says under it
    user: tuple[str, str] | None = OWNER  # signed in as, or None: signed out
    action: Action | None = None


PAGES = [
    ConsolePage("dashboard", lambda d: "/dashboard/", "대시보드: 기간별 발송·성공률·포인트"),
    ConsolePage("results", lambda d: "/results/", "발송 결과 목록과 요약"),
    ConsolePage(
        "results-filtered",
        lambda d: "/results/?status=failed&status=completed&channel=alimtalk&channel=sms",
        "필터를 건 발송 결과 (상태·채널 칩)",
    ),
    ConsolePage(
        "result-detail", lambda d: f"/results/{d.failed_send}/", "발송 상세: 수신자별 결과"
    ),
    ConsolePage("failures", lambda d: "/failures/", "실패 분석: 코드별 사유와 조치"),
    ConsolePage(
        "recipient-history",
        lambda d: f"/recipients/?number={DEMO_NUMBER}",
        "수신번호 이력과 발송확인서",
    ),
    ConsolePage("lookup", lambda d: "/recipients/lookup/", "번호 목록 조회: 파일 올리기"),
    ConsolePage(
        "lookup-result",
        lambda d: "/recipients/lookup/",
        "번호 목록 조회 결과",
        action=_lookup_a_list,
    ),
    ConsolePage("exports", lambda d: "/exports/", "내보내기 목록"),
    ConsolePage("statements", lambda d: "/statements/", "발송내역서 목록과 발행"),
    ConsolePage(
        "statement-error",
        lambda d: "/statements/",
        "발송내역서 발행: 잘못된 기간",
        action=_statement_with_an_error,
    ),
    ConsolePage("access-record", lambda d: "/audit/", "접근 기록"),
    ConsolePage("members", lambda d: "/settings/members/", "멤버와 초대"),
    ConsolePage("api-keys", lambda d: "/settings/api-keys/", "API 키"),
    ConsolePage("platform", lambda d: "/settings/platform/", "발송 플랫폼 연결과 요청 기록"),
    ConsolePage(
        "send-cancel",
        lambda d: f"/results/{d.reservation}/cancel/",
        "예약 취소: 확인 화면",
    ),
    ConsolePage(
        "send-resend",
        lambda d: f"/results/{d.completed_with_failures}/resend/",
        "실패 건 재발송: 결과 코드 고르기",
    ),
    ConsolePage(
        "result-detail-cancelling",
        lambda d: f"/results/{d.cancelling}/",
        "예약 취소중: 플랫폼 응답 대기와 시도 기록",
    ),
    ConsolePage(
        "organization-switch",
        lambda d: f"/results/{d.other_organization_send}/",
        "다른 조직의 발송: 조직 전환",
        user=MANAGER,
    ),
    ConsolePage(
        "forbidden", lambda d: "/settings/members/", "권한 없음 (조회 전용 멤버)", user=VIEWER
    ),
    ConsolePage("not-found", lambda d: "/results/999999999/", "찾을 수 없는 페이지 (404)"),
    ConsolePage("sign-in", lambda d: "/login/", "로그인", user=None),
    ConsolePage(
        "csrf-failure",
        lambda d: "/login/",
        "오래된 로그인 양식 (CSRF)",
        user=None,
        action=_cross_site_sign_in,
    ),
    ConsolePage(
        "throttled", lambda d: "/login/", "로그인 시도 제한", user=None, action=_too_many_failures
    ),
    ConsolePage("not-found-signed-out", lambda d: "/없는-주소/", "404 (로그아웃 상태)", user=None),
    ConsolePage(
        "statement-verify",
        lambda d: f"/statements/verify/{d.statement_code}/",
        "발송내역서 진위 확인",
        user=None,
    ),
    ConsolePage(
        "statement-verify-form", lambda d: "/statements/verify/", "진위 확인 코드 입력", user=None
    ),
    ConsolePage(
        "confirmation-verify",
        lambda d: f"/confirmations/verify/{d.confirmation_code}/",
        "발송확인서 진위 확인",
        user=None,
    ),
    ConsolePage("invitation", lambda d: "/" + d.invitation_path, "초대 수락", user=None),
]


def open_page(context: BrowserContext, base_url: str, spec: ConsolePage, demo: Demo) -> Page:
    """The page in a new tab of `context`, signed in as its user, its action done, and
    quiet (htmx fragments loaded)."""
    page = context.new_page()
    page.set_default_timeout(15_000)
    if spec.user is not None:
        sign_in(page, base_url, *spec.user)
    page.goto(base_url + spec.path(demo))
    if spec.action is not None:
        spec.action(page, demo)
    page.wait_for_load_state("networkidle")
    return page
