"""A believable send history for the demo and for benchmarks.

Deterministic: send number i of an organization is always built from the same random
seed, so seeding is idempotent and a larger size only adds the sends that are missing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from .models import (
    Channel,
    Delivery,
    Membership,
    Organization,
    SenderProfile,
    SendRequest,
    Source,
)
from .result_codes import REQUEST_FAILED
from .tallies import TallyChanges

HISTORY_DAYS = 395  # 13 months, so the one-year limit is visible
CHUNK = 500  # sends per transaction
DEMO_NUMBER = "01012345678"  # appears in some sends, to try the recipient filter
PRICES: dict[str, Decimal] = {
    Channel.SMS: Decimal("9"),
    Channel.LMS: Decimal("30"),
    Channel.MMS: Decimal("60"),
    Channel.ALIMTALK: Decimal("7"),
    Channel.FRIENDTALK: Decimal("15"),
}
CARRIERS = ["SKT", "KT", "LG U+"]
CARRIER_FAILURES = ["2003", "2005", "3001", "3003", "3004", "3006", "3012", "3017", "3019", "E915"]
CARRIER_FAILURE_TEXT = {
    "2003": "단말기 전원 꺼짐",
    "2005": "음영 지역",
    "3001": "결번",
    "3003": "없는 번호",
    "3004": "이용 정지",
    "3006": "수신 거부",
    "3012": "스팸 처리",
    "3017": "번호도용 차단",
    "3019": "미등록 발신번호",
    "E915": "중복 메시지",
}
KAKAO_FAILURES = ["3008", "3018", "3019", "3020", "3016", "3022"]
KAKAO_FAILURE_TEXT = {
    "3008": "전화번호 오류",
    "3018": "메시지를 전송할 수 없음",
    "3019": "톡 유저가 아님",
    "3020": "알림톡 수신 차단",
    "3016": "메시지 내용이 템플릿과 일치하지 않음",
    "3022": "메시지 발송 가능한 시간이 아님",
}


@dataclass(frozen=True)
class DemoOrganization:
    name: str
    username: str
    password: str
    phone_senders: tuple[tuple[str, str], ...]
    kakao_senders: tuple[tuple[str, str], ...]
    brand: str
    share: float  # of the requested number of sends


DEMO_ORGANIZATIONS = (
    DemoOrganization(
        name="한빛커머스",
        username="hanbit",
        password="hanbit-demo-2026",
        phone_senders=(("15881234", "대표번호"), ("0212345678", "고객센터")),
        kakao_senders=(("hanbit-profile-key-01", "@한빛커머스"),),
        brand="한빛커머스",
        share=1.0,
    ),
    DemoOrganization(
        name="푸른치과의원",
        username="pureun",
        password="pureun-demo-2026",
        phone_senders=(("0317654321", "병원 대표"),),
        kakao_senders=(("pureun-dental-key", "@푸른치과"),),
        brand="푸른치과",
        share=0.25,
    ),
)
# The newest sends, newest first: every live status is on the first page of the demo,
# with a cancelled reservation and a failed request beside them, so each case shows
# whatever the size.
LIVE_STATUSES = (
    SendRequest.Status.IN_PROGRESS,
    SendRequest.Status.RESERVED,
    SendRequest.Status.SENDING_NOW,
    SendRequest.Status.IN_PROGRESS,
    SendRequest.Status.CANCELLING,
    SendRequest.Status.RESERVED,
    SendRequest.Status.CANCELLED,
    SendRequest.Status.IN_PROGRESS,
    SendRequest.Status.FAILED,
)
# Reservations still waiting for their time: nothing handed to a carrier yet.
PENDING_RESERVATIONS = (SendRequest.Status.RESERVED, SendRequest.Status.CANCELLING)
FAILURE_REASONS = ("대체문자 발송 포인트가 부족합니다.", "발신번호 인증이 만료되었습니다.")
MANAGER = ("manager", "manager-demo-2026")  # a member of both, to show the switcher
# A viewer of the first organization: browses with numbers masked, downloads statements.
VIEWER = ("viewer", "viewer-demo-2026")
# The people behind the logins (family name, given name): statements print who asked.
PEOPLE = {
    "hanbit": ("김", "하늘"),
    "pureun": ("박", "서윤"),
    "manager": ("이", "도현"),
    "viewer": ("최", "민지"),
}

SMS_BODIES = [
    "[{brand}] 인증번호 [{code}]를 입력해 주세요.",
    "[{brand}] 주문하신 상품이 발송되었습니다. 운송장번호 {invoice}",
    "[{brand}] {name}님, 내일 오후 {hour}시 예약이 있습니다. 변경은 회신 바랍니다.",
    "(광고)[{brand}] 주말 특가 최대 50% 할인! 무료수신거부 080-123-4567",
    "- 공지 - {brand} 설 연휴 배송 일정 안내",
    "=[{brand}] 이벤트 당첨을 축하합니다! 쿠폰번호 {code}",
]
LMS_BODIES = [
    (
        "배송 지연 안내",
        "[{brand}] 배송 지연 안내\n\n안녕하세요 {name}님.\n주문하신 상품의 입고가 늦어져 배송이 "
        "2~3일 지연될 예정입니다.\n불편을 드려 죄송합니다.\n\n문의: 1588-1234",
    ),
    (
        "정기 점검 안내",
        "[{brand}] 시스템 정기 점검 안내\n\n일시: 매월 셋째 주 화요일 02:00~05:00\n"
        "점검 중에는 주문과 결제가 잠시 중단됩니다.\n이용에 참고 부탁드립니다.",
    ),
    (
        "(광고) 가을 신상품",
        "(광고)[{brand}] 가을 신상품 입고!\n\n{name}님께만 드리는 10% 추가 할인 쿠폰: {code}\n"
        "기간: 이번 주 일요일까지\n\n무료수신거부 080-123-4567",
    ),
]
KAKAO_BODIES = [
    "[{brand}] 주문 완료 안내\n\n{name}님, 주문이 접수되었습니다.\n주문번호: {invoice}\n"
    "결제금액: {amount}원\n\n감사합니다.",
    "[{brand}] 예약 확인\n\n{name}님, {hour}시 예약이 확정되었습니다.\n"
    "변경·취소는 하루 전까지 가능합니다.",
    "[{brand}] 배송 출발\n\n{name}님의 상품이 오늘 출발했습니다.\n운송장: {invoice}",
]
NAMES = [
    "김민준",
    "이서연",
    "박지훈",
    "최수아",
    "정도윤",
    "강하은",
    "조예준",
    "윤지우",
    "장서준",
    "임하린",
]


def ensure_demo_accounts() -> list[tuple[str, str]]:
    """Organizations, users and sender profiles; returns the logins (username, password)."""
    logins = []
    manager = _user(*MANAGER)
    viewer = _user(*VIEWER)
    for spec in DEMO_ORGANIZATIONS:
        organization, _ = Organization.objects.get_or_create(name=spec.name)
        user = _user(spec.username, spec.password)
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": Membership.Role.OWNER}
        )
        Membership.objects.get_or_create(
            user=manager, organization=organization, defaults={"role": Membership.Role.OPERATOR}
        )
        for value, label in spec.phone_senders:
            SenderProfile.objects.get_or_create(
                organization=organization,
                kind=SenderProfile.Kind.PHONE,
                value=value,
                defaults={"label": label},
            )
        for value, label in spec.kakao_senders:
            SenderProfile.objects.get_or_create(
                organization=organization,
                kind=SenderProfile.Kind.KAKAO,
                value=value,
                defaults={"label": label},
            )
        logins.append((spec.username, spec.password))
    first = Organization.objects.get(name=DEMO_ORGANIZATIONS[0].name)
    Membership.objects.get_or_create(
        user=viewer, organization=first, defaults={"role": Membership.Role.VIEWER}
    )
    logins += [MANAGER, VIEWER]
    return logins


def _user(username: str, password: str) -> User:
    """The demo login, made once with its person's name and an address to invite."""
    last, first = PEOPLE[username]
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"last_name": last, "first_name": first, "email": f"{username}@example.com"},
    )
    if created:
        user.set_password(password)
        user.save()
    return user


def seed_history(*, sends: int, max_recipients: int, now: dt.datetime | None = None) -> int:
    """Top each demo organization up to its share of `sends`; returns deliveries created."""
    now = now or timezone.now()
    created = 0
    for spec in DEMO_ORGANIZATIONS:
        organization = Organization.objects.get(name=spec.name)
        target = max(1, round(sends * spec.share))
        have = SendRequest.objects.filter(organization=organization).count()
        senders = list(SenderProfile.objects.filter(organization=organization))
        for start in range(have, target, CHUNK):
            numbers = range(start, min(start + CHUNK, target))
            created += _create_chunk(
                organization, spec, senders, numbers, target, max_recipients, now
            )
    return created


def _create_chunk(
    organization: Organization,
    spec: DemoOrganization,
    senders: list[SenderProfile],
    numbers: range,
    target: int,
    max_recipients: int,
    now: dt.datetime,
) -> int:
    built = [
        _build_send(organization, spec, senders, n, target, max_recipients, now) for n in numbers
    ]
    with transaction.atomic():
        SendRequest.objects.bulk_create([send for send, _ in built], batch_size=CHUNK)
        deliveries = [
            delivery for send, recipients in built for delivery in _deliveries_of(send, recipients)
        ]
        Delivery.objects.bulk_create(deliveries, batch_size=5000)
        changes = TallyChanges()
        for send, _ in built:
            changes.send(send)
        for delivery in deliveries:
            changes.delivery(delivery.send_request, delivery)
        changes.save()
    return len(deliveries)


def _build_send(
    organization: Organization,
    spec: DemoOrganization,
    senders: list[SenderProfile],
    n: int,
    target: int,
    max_recipients: int,
    now: dt.datetime,
) -> tuple[SendRequest, list[tuple[str, Delivery]]]:
    rng = random.Random(f"{spec.username}:{n}")
    newest = target - n  # 1 for the newest send
    # Send n of `target` lies at a fixed point of the history, oldest first; the newest
    # few are minutes old and go through the live statuses (sending, reservations).
    if newest <= len(LIVE_STATUSES):
        age = dt.timedelta(minutes=25 * newest)
    else:
        age = dt.timedelta(days=HISTORY_DAYS) * (1 - (n + rng.random()) / target)
    requested_at = (now - age).replace(microsecond=0)
    hour = 9 + rng.randrange(10)
    local = timezone.localtime(requested_at)
    if age > dt.timedelta(days=1):  # business hours, except for the last day's sends
        requested_at = local.replace(hour=hour, minute=rng.randrange(60))
        requested_at = min(requested_at, now - dt.timedelta(minutes=5))
    channel = rng.choices(list(PRICES), weights=[35, 20, 5, 30, 10])[0]
    kind = SenderProfile.Kind.KAKAO if Channel.is_kakao(channel) else SenderProfile.Kind.PHONE
    sender = rng.choice([s for s in senders if s.kind == kind])
    words = {
        "brand": spec.brand,
        "name": rng.choice(NAMES),
        "code": f"{rng.randrange(10**6):06d}",
        "invoice": f"{rng.randrange(10**11, 10**12)}",
        "hour": hour,
        "amount": f"{rng.randrange(10, 500) * 1000:,}",
    }
    title = ""
    if channel in (Channel.LMS, Channel.MMS):
        title, body = rng.choice(LMS_BODIES)
        title = title.format(**words)
    elif Channel.is_kakao(channel):
        body = rng.choice(KAKAO_BODIES)
    else:
        body = rng.choice(SMS_BODIES)
    age = now - requested_at
    status = LIVE_STATUSES[newest - 1] if newest <= len(LIVE_STATUSES) else _status_for(rng, age)
    send = SendRequest(
        organization=organization,
        external_id=f"demo-{spec.username}-{n:08d}",
        requested_at=requested_at,
        source=rng.choices([Source.API, Source.WEB], weights=[6, 4])[0],
        channel=channel,
        sender=sender,
        title=title,
        body=body.format(**words),
        scheduled_at=_scheduled_at(rng, status, requested_at, now),
        fallback=Channel.is_kakao(channel) and rng.random() < 0.6,
        status=status,
        failure_reason=rng.choice(FAILURE_REASONS) if status == SendRequest.Status.FAILED else "",
    )
    if status == SendRequest.Status.SENDING_NOW:
        # Released by hand some time after it was reserved, before its time came.
        started = now - (now - requested_at) * rng.uniform(0.2, 0.8)
    elif status == SendRequest.Status.FAILED:
        # The platform refused the request seconds after it arrived.
        started = requested_at + dt.timedelta(seconds=rng.randrange(1, 30))
    else:
        started = requested_at
    started = min(started.replace(microsecond=0), now)
    size = 1 if rng.random() < 0.3 else rng.randint(2, max(2, max_recipients))
    if rng.random() < 0.01:
        size = max_recipients * 20  # the occasional large campaign
    numbers = [
        DEMO_NUMBER if i == 0 and n % 17 == 0 else f"010{rng.randrange(10**8):08d}"
        for i in range(size)
    ]
    deliveries = [_delivery_for(rng, send, i, started, now) for i in range(size)]
    _tally(send, deliveries)
    return send, list(zip(numbers, deliveries, strict=True))


def _scheduled_at(
    rng: random.Random, status: str, requested_at: dt.datetime, now: dt.datetime
) -> dt.datetime | None:
    if status in (*PENDING_RESERVATIONS, SendRequest.Status.SENDING_NOW):
        # Still ahead, however old the send: on a ten-minute mark from an hour to two days
        # after now. One released at once was released before its time.
        soon = (now + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
        soon -= dt.timedelta(minutes=soon.minute % 10)
        return soon + dt.timedelta(minutes=10 * rng.randrange(6 * 47))
    if status == SendRequest.Status.CANCELLED:
        # Cancelled before its time came; that time may have passed since.
        return requested_at + dt.timedelta(minutes=10 * rng.randrange(12, 6 * 72))
    return None


def _status_for(rng: random.Random, age: dt.timedelta) -> str:
    roll = rng.random()
    if roll < 0.015:
        return SendRequest.Status.FAILED
    if roll < 0.03:
        return SendRequest.Status.CANCELLED
    if roll < 0.04 and age < dt.timedelta(days=3):
        return SendRequest.Status.IN_PROGRESS  # a KakaoTalk result held up to 3 days
    return SendRequest.Status.COMPLETED


def _delivery_for(
    rng: random.Random, send: SendRequest, i: int, started: dt.datetime, now: dt.datetime
) -> Delivery:
    """Recipient `i` of `send`; `started` is when its messages went out, or when the request
    failed."""
    delivery = Delivery(
        external_id=f"{send.external_id}-{i:05d}",
        recipient_name=rng.choice(NAMES) if rng.random() < 0.5 else "",
        final_channel=send.channel,
        points_charged=PRICES[send.channel],
    )
    if send.status in PENDING_RESERVATIONS:
        # Charged when reserved; no carrier, time or result until it goes out.
        delivery.status = Delivery.Status.WAITING
        return delivery
    if send.status == SendRequest.Status.CANCELLED:
        # Cancelled before its time: never sent, so refunded in full.
        delivery.status = Delivery.Status.CANCELLED
        delivery.points_refunded = delivery.points_charged
        return delivery
    if send.status == SendRequest.Status.FAILED:
        # Nothing reached a carrier: every recipient's result is the request's reason, final
        # the moment the request failed, and refunded.
        delivery.status = Delivery.Status.FAILURE
        delivery.result_code, delivery.result_message = REQUEST_FAILED, send.failure_reason
        delivery.completed_at = started
        delivery.points_refunded = delivery.points_charged
        return delivery
    kakao = Channel.is_kakao(send.channel)
    delivery.carrier = rng.choice(CARRIERS)
    # Clamped to now: at large sizes the newest completed sends are only minutes old.
    delivery.sent_at = min(started + dt.timedelta(seconds=rng.randrange(1, 30)), now)
    # A send in progress keeps at least its first recipient waiting for the carrier's answer,
    # or it would be complete.
    if send.status == SendRequest.Status.SENDING_NOW or (
        send.status == SendRequest.Status.IN_PROGRESS and (i == 0 or rng.random() < 0.4)
    ):
        delivery.status = Delivery.Status.SENDING
        if kakao:
            delivery.result_code, delivery.result_message = "3005", "수신 확인 대기"
        return delivery
    delivery.completed_at = min(delivery.sent_at + dt.timedelta(seconds=rng.randrange(1, 600)), now)
    if rng.random() < 0.9:
        delivery.status = Delivery.Status.SUCCESS
        delivery.result_code, delivery.result_message = (
            ("0000", "성공") if kakao else ("1000", "성공")
        )
        return delivery
    if kakao:
        code = rng.choice(KAKAO_FAILURES)
        if send.fallback and code in ("3018", "3019", "3020"):
            # The KakaoTalk message failed; the fallback text went by SMS or LMS.
            delivery.final_channel = Channel.LMS if len(send.body) > 90 else Channel.SMS
            delivery.points_charged = PRICES[delivery.final_channel]
            if rng.random() < 0.93:
                delivery.status = Delivery.Status.SUCCESS
                delivery.result_code, delivery.result_message = "1000", "성공(대체문자)"
                return delivery
            code = rng.choice(CARRIER_FAILURES)
            delivery.result_message = CARRIER_FAILURE_TEXT[code]
        else:
            delivery.result_message = KAKAO_FAILURE_TEXT[code]
    else:
        code = rng.choice(CARRIER_FAILURES)
        delivery.result_message = CARRIER_FAILURE_TEXT[code]
    delivery.status = Delivery.Status.FAILURE
    delivery.result_code = code
    delivery.points_refunded = delivery.points_charged
    return delivery


def _tally(send: SendRequest, deliveries: list[Delivery]) -> None:
    send.recipient_count = len(deliveries)
    counted = Counter(d.status for d in deliveries)
    for outcome in Delivery.Status.values:
        setattr(send, f"{outcome}_count", counted[outcome])
    send.points_charged = sum((d.points_charged for d in deliveries), Decimal(0))
    send.points_refunded = sum((d.points_refunded for d in deliveries), Decimal(0))


def _deliveries_of(send: SendRequest, recipients: list[tuple[str, Delivery]]) -> Iterator[Delivery]:
    for number, delivery in recipients:
        delivery.send_request = send
        delivery.organization_id = send.organization_id
        delivery.recipient = number
        yield delivery
