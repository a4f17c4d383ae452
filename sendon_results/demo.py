"""A believable send history for the demo and for benchmarks.

Every Korea-time day from 13 months ago to today holds sends, so that a run on a later day
fills the days since. Day D's send k (its time, kind, text, recipients and fate) is built
from its own random seed, so a run adds only the sends that are missing: it is idempotent,
and a larger size only adds sends. What depends on the moment of the run — a reservation
still waiting, a send in progress, the newest sends that show every live status — is
rebuilt by the next run, which first removes the sends it left live (with their tallies)
and builds them again as they stand then.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from . import partitions
from .demo_content import (
    DENTAL_KINDS,
    NAMES,
    NIGHT_CODE,
    NIGHT_START,
    SHOP_KINDS,
    MessageKind,
    Words,
    pick_minute,
)
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
from .tallies import SEND_FIELDS, TallyChanges, tally_removed

SEOUL = ZoneInfo("Asia/Seoul")
HISTORY_DAYS = 395  # 13 months, so the one-year limit is visible
HELD_AT_MOST = dt.timedelta(days=2)  # the oldest send the demo shows still in progress
DEMO_NUMBER = "01012345678"  # appears in some sends, to try the recipient filter
PRICES: dict[str, Decimal] = {
    Channel.SMS: Decimal("9"),
    Channel.LMS: Decimal("30"),
    Channel.MMS: Decimal("60"),
    Channel.ALIMTALK: Decimal("7"),
    Channel.FRIENDTALK: Decimal("15"),
}
CARRIERS = ["SKT", "KT", "LG U+"]
CARRIER_WEIGHTS = [45, 30, 25]  # their share of Korean mobile subscribers, roughly
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
# What a text message fails with, by weight: an advertisement is refused and reported as
# spam; an MMS meets handsets that cannot show it. (3019, an unregistered sender number,
# would fail a whole send, so the demo's registered numbers never meet it.)
TEXT_FAILURES = {"2003": 30, "2005": 15, "3001": 15, "3003": 10, "3004": 10, "3017": 4, "E915": 2}
AD_FAILURES = {**TEXT_FAILURES, "3006": 25, "3012": 8}
MMS_FAILURES = {"3010": 12}
FAILURE_TEXT = {**CARRIER_FAILURE_TEXT, "3010": "MMS 수신 불가 단말"}
# KakaoTalk failures (never a carrier's): the daytime codes; 3022, outside the allowed
# hours, only where a FriendTalk message was requested at night (NIGHT_CODE).
KAKAO_FAILURE_TEXT = {
    "3008": "전화번호 오류",
    "3018": "메시지를 전송할 수 없음",
    "3019": "톡 유저가 아님",
    "3020": "알림톡 수신 차단",
    "3016": "메시지 내용이 템플릿과 일치하지 않음",
}
ALIMTALK_FAILURES = {"3018": 40, "3019": 35, "3020": 10, "3008": 10, "3016": 1}
# FriendTalk goes to the channel's friends: users of KakaoTalk, some of whom blocked it.
FRIENDTALK_FAILURES = {"3018": 45, "3020": 40, "3008": 10}
NIGHT_TEXT = "메시지 발송 가능한 시간이 아님"
FALLBACK_CODES = ("3018", "3019")  # failures a fallback text message goes out for
TEXT_CODES, TEXT_WEIGHTS = list(TEXT_FAILURES), list(TEXT_FAILURES.values())
# Never delivered, so refunded in full.
REFUNDED = (Delivery.Status.FAILURE, Delivery.Status.CANCELLED)
ZERO = Decimal(0)


@dataclass(frozen=True)
class DemoOrganization:
    name: str
    username: str
    password: str
    phone_senders: tuple[tuple[str, str], ...]
    kakao_senders: tuple[tuple[str, str], ...]
    brand: str
    share: float  # of the requested number of sends
    kinds: tuple[MessageKind, ...]
    opt_out: str  # the free 080 number an advertisement names
    busy_days: tuple[float, ...]  # how busy each weekday is, Monday first


DEMO_ORGANIZATIONS = (
    DemoOrganization(
        name="한빛커머스",
        username="hanbit",
        password="hanbit-demo-2026",
        phone_senders=(("15881234", "대표번호"), ("0212345678", "고객센터")),
        kakao_senders=(("hanbit-profile-key-01", "@한빛커머스"),),
        brand="한빛커머스",
        share=1.0,
        kinds=SHOP_KINDS,
        opt_out="080-123-4567",
        busy_days=(1.2, 1.1, 1.0, 1.0, 1.0, 0.8, 0.7),
    ),
    DemoOrganization(
        name="푸른치과의원",
        username="pureun",
        password="pureun-demo-2026",
        phone_senders=(("0317654321", "병원 대표"),),
        kakao_senders=(("pureun-dental-key", "@푸른치과"),),
        brand="푸른치과",
        share=0.25,
        kinds=DENTAL_KINDS,
        opt_out="080-765-4321",
        busy_days=(1.2, 1.1, 1.1, 1.1, 1.1, 0.9, 0.3),
    ),
)
# The newest sends, newest first: every live status is on the first page of the demo,
# with a cancelled reservation and a failed request beside them, so each case shows
# whatever the size and whenever the demo is seeded.
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
# Statuses that change with time: the next run rebuilds sends it finds in them.
LIVE = (
    SendRequest.Status.IN_PROGRESS,
    SendRequest.Status.RESERVED,
    SendRequest.Status.SENDING_NOW,
    SendRequest.Status.CANCELLING,
)
# Reservations still waiting for their time: nothing handed to a carrier yet.
PENDING_RESERVATIONS = (SendRequest.Status.RESERVED, SendRequest.Status.CANCELLING)
RESERVATION_STATUSES = (
    *PENDING_RESERVATIONS,
    SendRequest.Status.SENDING_NOW,
    SendRequest.Status.CANCELLED,
)
# Why a whole request failed, each where it can happen (failure_reason).
FAILURE_REASONS = {
    "points": "발송 포인트가 부족합니다.",
    "fallback_points": "대체문자 발송 포인트가 부족합니다.",  # only with a fallback text
    "calling_number": "발신번호 인증이 만료되었습니다.",  # only where a number calls
}
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

# Generic texts for seed_scale, which draws its bodies from these lists inside PostgreSQL
# without a send's time: so none of them names a time of day.
SMS_BODIES = [
    "[{brand}] 인증번호 [{code}]를 입력해 주세요.",
    "[{brand}] 주문하신 상품이 발송되었습니다. 운송장번호 {invoice}",
    "[{brand}] {name}님, 예약 변경은 회신 바랍니다.",
    "(광고)[{brand}] 주말 특가 최대 50% 할인!\n무료수신거부 080-123-4567",
    "- 공지 - {brand} 연휴 배송 일정 안내",
    "=[{brand}] 이벤트 당첨을 축하합니다! 쿠폰번호 {code}",
]
LMS_BODIES = [
    (
        "배송 지연 안내",
        "[{brand}] 배송 지연 안내\n\n안녕하세요 {name}님.\n주문하신 상품의 입고가 늦어져 배송이 "
        "2~3일 지연될 예정입니다.\n불편을 드려 죄송합니다.\n\n문의: 1588-1234",
    ),
    (
        "(광고) 신상품",
        "(광고)[{brand}] 신상품 입고!\n\n{name}님께만 드리는 10% 추가 할인 쿠폰: {code}\n"
        "\n무료수신거부 080-123-4567",
    ),
]
KAKAO_BODIES = [
    "[{brand}] 주문 완료 안내\n\n{name}님, 주문이 접수되었습니다.\n주문번호: {invoice}\n"
    "결제금액: {amount}원\n\n감사합니다.",
    "[{brand}] 배송 출발\n\n{name}님의 상품이 출발했습니다.\n운송장: {invoice}",
]


def ensure_demo_accounts() -> list[tuple[str, str]]:
    """Organizations, users and sender profiles; returns the logins (username, password)."""
    logins = []
    passwords = _new_passwords()
    manager = _user(MANAGER[0], passwords)
    viewer = _user(VIEWER[0], passwords)
    for spec in DEMO_ORGANIZATIONS:
        organization, _ = Organization.objects.get_or_create(name=spec.name)
        user = _user(spec.username, passwords)
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


def _new_passwords() -> dict[str, str]:
    """The password hashes of the demo logins not made yet, hashed side by side: each
    takes most of a second (PBKDF2 releases the GIL), a fifth of a fresh seed one by one."""
    logins = {spec.username: spec.password for spec in DEMO_ORGANIZATIONS}
    logins.update([MANAGER, VIEWER])
    made = set(User.objects.filter(username__in=logins).values_list("username", flat=True))
    missing = [username for username in logins if username not in made]
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = pool.map(make_password, [logins[username] for username in missing])
        return dict(zip(missing, hashes, strict=True))


def _user(username: str, passwords: dict[str, str]) -> User:
    """The demo login, made once with its person's name and an address to invite."""
    last, first = PEOPLE[username]
    user, _ = User.objects.get_or_create(
        username=username,
        defaults={
            "last_name": last,
            "first_name": first,
            "email": f"{username}@example.com",
            "password": passwords.get(username, ""),
        },
    )
    return user


@dataclass(frozen=True)
class Seeded:
    sends: int  # added, counting the rebuilt ones
    deliveries: int
    rebuilt: int  # sends a previous run left live, removed and built again
    # Organizations left alone: they hold sends of the earlier demo (numbered, not dated),
    # which this one would double rather than continue.
    outdated: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Where and what send k of a day is, before the moment of the run decides its fate."""

    external_id: str
    requested_at: dt.datetime
    kind: MessageKind
    late: bool  # a FriendTalk ad requested at night


def seed_history(*, sends: int, max_recipients: int, now: dt.datetime | None = None) -> Seeded:
    """Fill every day of the demo organizations' history up to `now` with about `sends`
    sends for the largest (others get their share): adds the missing sends, rebuilds those
    a previous run left live, and counts them into the tallies as ingest does."""
    now = (now or timezone.now()).replace(microsecond=0)
    seeded = [_seed_organization(spec, sends, max_recipients, now) for spec in DEMO_ORGANIZATIONS]
    return Seeded(
        sum(one.sends for one in seeded),
        sum(one.deliveries for one in seeded),
        sum(one.rebuilt for one in seeded),
        tuple(name for one in seeded for name in one.outdated),
    )


def _seed_organization(
    spec: DemoOrganization, sends: int, max_recipients: int, now: dt.datetime
) -> Seeded:
    organization = Organization.objects.get(name=spec.name)
    earlier = rf"^demo-{spec.username}-[0-9]{{8}}$"  # demo-hanbit-00000001
    if SendRequest.objects.filter(organization=organization, external_id__regex=earlier).exists():
        return Seeded(0, 0, 0, (spec.name,))
    senders = {
        kind: list(SenderProfile.objects.filter(organization=organization, kind=kind))
        for kind in SenderProfile.Kind.values
    }
    plans = _plans(spec, sends / HISTORY_DAYS * spec.share, now)
    newest = reversed(plans[-len(LIVE_STATUSES) :])
    pinned = {
        plan.external_id: status
        for plan, status in zip(newest, LIVE_STATUSES, strict=False)
        # Results come back within a day or two (KakaoTalk holds one up to 3 days): an
        # older send, in a quiet organization, keeps its own fate.
        if status != SendRequest.Status.IN_PROGRESS or now - plan.requested_at < HELD_AT_MOST
    }
    with transaction.atomic():
        mine = SendRequest.objects.filter(
            organization=organization, external_id__startswith=f"demo-{spec.username}-"
        )
        stale = list(mine.filter(status__in=LIVE).select_for_update().only(*SEND_FIELDS))
        changes = tally_removed(stale) if stale else TallyChanges()
        if stale:
            Delivery.objects.of_sends(stale).delete()
            SendRequest.objects.filter(pk__in=[send.pk for send in stale]).delete()
        have = set(mine.values_list("external_id", flat=True))
        built = [
            _build_send(
                organization, spec, senders, plan, pinned.get(plan.external_id), max_recipients, now
            )
            for plan in plans
            if plan.external_id not in have
        ]
        if built:
            # Any month of the history: one the purge dropped, or one beat has not made.
            partitions.ensure_since(min(send.requested_at for send, _ in built))
        SendRequest.objects.bulk_create([send for send, _ in built], batch_size=1000)
        deliveries = []
        for send, recipients in built:
            changes.send(send)
            for delivery in recipients:
                delivery.send_request_id = send.pk
                delivery.requested_at = send.requested_at
                changes.delivery(send, delivery)
            deliveries += recipients
        _insert_deliveries(deliveries)
        changes.save()
    return Seeded(len(built), len(deliveries), len(stale))


# The columns a demo delivery fills, in the order _insert_deliveries writes them.
DELIVERY_COLUMNS = (
    "send_request_id",
    "organization_id",
    "external_id",
    "recipient",
    "recipient_name",
    "status",
    "result_code",
    "result_message",
    "final_channel",
    "carrier",
    "sent_at",
    "completed_at",
    "points_charged",
    "points_refunded",
    "requested_at",
)


def _insert_deliveries(deliveries: list[Delivery]) -> None:
    """One executemany of plain rows: Django's bulk_create spent 30 of 45 s here
    compiling and adapting 60,000 rows' fields one by one (SQLite, cProfile)."""
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            d.send_request_id,
            d.organization_id,
            d.external_id,
            d.recipient,
            d.recipient_name,
            d.status,
            d.result_code,
            d.result_message,
            d.final_channel,
            d.carrier,
            adapt(d.sent_at),
            adapt(d.completed_at),
            d.points_charged,
            d.points_refunded,
            adapt(d.requested_at),
        )
        for d in deliveries
    ]
    table = connection.ops.quote_name(Delivery._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(DELIVERY_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(DELIVERY_COLUMNS))})"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 10_000):
            cursor.executemany(sql, rows[start : start + 10_000])


def _plans(spec: DemoOrganization, per_day: float, now: dt.datetime) -> list[Plan]:
    """Every send of the history up to now, oldest first."""
    today = timezone.localtime(now, SEOUL).date()
    plans: list[Plan] = []
    for back in range(HISTORY_DAYS, -1, -1):
        day = today - dt.timedelta(days=back)
        plans += _plans_of_day(spec, day, per_day, now)
    plans.sort(key=lambda plan: (plan.requested_at, plan.external_id))
    return plans


def _plans_of_day(
    spec: DemoOrganization, day: dt.date, per_day: float, now: dt.datetime
) -> list[Plan]:
    busy = spec.busy_days[day.weekday()] * (0.5 + random.Random(f"{spec.username}:{day}").random())
    open_kinds = [kind for kind in spec.kinds if day.weekday() not in kind.closed_days]
    weights = [kind.weight for kind in open_kinds]
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=SEOUL)
    plans = []
    for k in range(max(1, round(per_day * busy))):
        rng = random.Random(f"{spec.username}:{day}:{k}")
        kind = rng.choices(open_kinds, weights)[0]
        minute = pick_minute(rng, kind)
        # One FriendTalk ad in thirty is sent at night by hand, and fails for it.
        late = kind.channel == Channel.FRIENDTALK and rng.random() < 1 / 30
        if late:
            minute = NIGHT_START + rng.randrange(5, 60)
        at = midnight + dt.timedelta(minutes=minute, seconds=rng.randrange(60))
        plans.append(
            Plan(f"demo-{spec.username}-{day:%Y%m%d}-{k:03d}", at.astimezone(dt.UTC), kind, late)
        )
    due = [plan for plan in plans if plan.requested_at <= now]
    if not due and plans and midnight <= now:
        # Today, before its first send's time: one went out already, so that today too
        # has sends whenever the demo is seeded.
        first = plans[0]
        at = midnight + (now - midnight) / 2
        due = [Plan(first.external_id, at.replace(microsecond=0), _any_hour(spec), False)]
    return due


def _any_hour(spec: DemoOrganization) -> MessageKind:
    return next(kind for kind in spec.kinds if kind.hours[0] == (0, 24 * 60))


def _next_slot(kind: MessageKind, after: dt.datetime, rng: random.Random) -> dt.datetime:
    """A reservation's time: a ten-minute mark inside the kind's hours on a day it is sent,
    an hour or more after `after`."""
    local = timezone.localtime(after, SEOUL) + dt.timedelta(hours=1)
    local = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=-local.minute % 10)
    for _ in range(14 * 24 * 6):
        minute = local.hour * 60 + local.minute
        if local.weekday() not in kind.closed_days and any(
            start <= minute < end for start, end in kind.hours
        ):
            return local.astimezone(dt.UTC)
        local += dt.timedelta(minutes=10)
    raise ValueError(f"{kind.name} has no hours")


def _failure_reason(rng: random.Random, channel: str, fallback: bool) -> str:
    """Why a whole request failed, among the reasons that can happen to it: a fallback
    text's points only with a fallback, the calling number only where a number calls (a
    text, or KakaoTalk falling back to one)."""
    reasons = [FAILURE_REASONS["points"]]
    if fallback:
        reasons.append(FAILURE_REASONS["fallback_points"])
    if fallback or not Channel.is_kakao(channel):
        reasons.append(FAILURE_REASONS["calling_number"])
    return rng.choice(reasons)


def _build_send(
    organization: Organization,
    spec: DemoOrganization,
    senders: dict[str, list[SenderProfile]],
    plan: Plan,
    pinned: str | None,
    max_recipients: int,
    now: dt.datetime,
) -> tuple[SendRequest, list[Delivery]]:
    rng = random.Random(plan.external_id)
    kind = plan.kind
    requested_at = plan.requested_at
    if pinned in RESERVATION_STATUSES and not kind.reservable:
        kind = rng.choice([kind for kind in spec.kinds if kind.reservable])
    if pinned is not None:
        reserved = pinned in RESERVATION_STATUSES
    else:
        reserved = kind.reservable and not plan.late and rng.random() < 0.35
    scheduled_at = None
    if reserved:
        # Prepared ahead: the next morning's reminder, tomorrow's campaign. One still
        # waiting is due after now, however the clock stands.
        after = requested_at + dt.timedelta(hours=rng.randrange(0, 20))
        if pinned in (*PENDING_RESERVATIONS, SendRequest.Status.SENDING_NOW):
            after = max(after, now) + dt.timedelta(minutes=10 * rng.randrange(6 * 36))
        scheduled_at = _next_slot(kind, after, rng)
    goes_out = scheduled_at or requested_at  # when the recipients get it
    words = Words(
        brand=spec.brand,
        name=rng.choice(NAMES),
        code=f"{rng.randrange(10**6):06d}",
        invoice=f"{rng.randrange(10**11, 10**12)}",
        amount=f"{rng.randrange(10, 500) * 1000:,}",
        opt_out=spec.opt_out,
        at=timezone.localtime(goes_out, SEOUL),
    )
    title, body = kind.compose(rng, words)

    if pinned is not None:
        status = pinned
    elif not reserved and rng.random() < 0.012:
        status = SendRequest.Status.FAILED
    elif reserved and rng.random() < 0.06:
        status = SendRequest.Status.CANCELLED  # cancelled before its time
    elif scheduled_at is not None and scheduled_at > now:
        status = SendRequest.Status.RESERVED
    else:
        status = SendRequest.Status.COMPLETED  # or in progress: the deliveries tell
    sender_kind = SenderProfile.Kind.KAKAO if Channel.is_kakao(kind.channel) else "phone"
    automated = kind.hours[0] == (0, 24 * 60)
    fallback = kind.fallback and rng.random() < 0.85
    send = SendRequest(
        organization=organization,
        external_id=plan.external_id,
        requested_at=requested_at,
        source=Source.API if automated or rng.random() < 0.3 else Source.WEB,
        channel=kind.channel,
        sender=rng.choice(senders[sender_kind]),
        title=title,
        body=body,
        scheduled_at=scheduled_at,
        fallback=fallback,
        status=status,
        failure_reason=_failure_reason(rng, kind.channel, fallback)
        if status == SendRequest.Status.FAILED
        else "",
    )
    if kind.size == "one":
        size = 1
    elif kind.size == "batch":
        size = rng.randint(2, max(2, max_recipients))
    else:
        size = max(2, max_recipients) * rng.randint(1, 4)
    if status == SendRequest.Status.SENDING_NOW:
        # Released by hand minutes ago, before its time came; going out now.
        started = max(requested_at, now - dt.timedelta(seconds=rng.randrange(60, 900)))
    elif status == SendRequest.Status.FAILED:
        # The platform refused the request seconds after it arrived.
        started = requested_at + dt.timedelta(seconds=rng.randrange(1, 30))
    else:
        started = goes_out
    deliveries = _deliveries(
        rng, send, kind, words, size, started.replace(microsecond=0), plan.late, now
    )
    if status == SendRequest.Status.COMPLETED and any(
        d.status == Delivery.Status.SENDING for d in deliveries
    ):
        send.status = SendRequest.Status.IN_PROGRESS  # its newest results are still due
    _tally(send, deliveries)
    return send, deliveries


def _deliveries(
    rng: random.Random,
    send: SendRequest,
    kind: MessageKind,
    words: Words,
    size: int,
    started: dt.datetime,
    late: bool,
    now: dt.datetime,
) -> list[Delivery]:
    """The recipients of `send`; `started` is when its messages went out, or when the
    request failed."""
    status = send.status
    channel = send.channel
    price = PRICES[channel]
    kakao = Channel.is_kakao(channel)
    held = status == SendRequest.Status.IN_PROGRESS  # a send shown in progress
    if kakao:
        failures = FRIENDTALK_FAILURES if channel == Channel.FRIENDTALK else ALIMTALK_FAILURES
    elif kind.ad:
        failures = AD_FAILURES
    else:
        failures = TEXT_FAILURES
    if channel == Channel.MMS:
        failures = {**failures, **MMS_FAILURES}
    codes, code_weights = list(failures), list(failures.values())
    failure_share = 0.1 if kind.ad else 0.06
    fallback_channel = Channel.LMS if len(send.body.encode("euc-kr")) > 90 else Channel.SMS
    deliveries = []
    fallback = send.fallback
    failure_reason = send.failure_reason
    organization_id = send.organization_id
    carrier = ""
    for i in range(size):
        if i == 0 and rng.random() < 0.06:
            number = DEMO_NUMBER
        else:
            number = f"010{rng.randrange(10**8):08d}"
        if kind.personal:
            name = words.name
        else:
            name = rng.choice(NAMES) if rng.random() < 0.4 else ""
        final_channel, charged = channel, price
        sent_at = completed_at = None
        code = message = ""
        if status in PENDING_RESERVATIONS:
            # Charged when reserved; no carrier, time or result until it goes out.
            outcome = Delivery.Status.WAITING
        elif status == SendRequest.Status.CANCELLED:
            # Cancelled before its time: never sent, so refunded in full.
            outcome = Delivery.Status.CANCELLED
        elif status == SendRequest.Status.FAILED:
            # Nothing reached a carrier: every recipient's result is the request's reason,
            # final the moment the request failed, and refunded.
            outcome = Delivery.Status.FAILURE
            code, message, completed_at = REQUEST_FAILED, failure_reason, started
        else:
            # A campaign goes out at about a hundred messages a second.
            sent_at = min(started + dt.timedelta(seconds=rng.randrange(1, 5) + i // 100), now)
            # A KakaoTalk message is delivered by Kakao, not by a mobile carrier.
            carrier = "" if kakao else rng.choices(CARRIERS, CARRIER_WEIGHTS)[0]
            answer = dt.timedelta(seconds=rng.randrange(1, 20 if kakao else 180))
            if (
                status == SendRequest.Status.SENDING_NOW
                or sent_at + answer > now
                or (held and (i == 0 or rng.random() < 0.4))
            ):
                # No result yet: the carrier's or KakaoTalk's answer is still due.
                outcome = Delivery.Status.SENDING
                if kakao:
                    code, message = "3005", "수신 확인 대기"
            else:
                completed_at = sent_at + answer
                if late:
                    outcome, code, message = Delivery.Status.FAILURE, NIGHT_CODE, NIGHT_TEXT
                elif rng.random() >= failure_share:
                    outcome = Delivery.Status.SUCCESS
                    code, message = ("0000", "성공") if kakao else ("1000", "성공")
                else:
                    outcome = Delivery.Status.FAILURE
                    code = rng.choices(codes, code_weights)[0]
                    if not kakao:
                        message = FAILURE_TEXT[code]
                    elif fallback and code in FALLBACK_CODES:
                        # The KakaoTalk message failed; the fallback text went by SMS or
                        # LMS, through a carrier, and is charged as one.
                        final_channel = fallback_channel
                        charged = PRICES[fallback_channel]
                        carrier = rng.choices(CARRIERS, CARRIER_WEIGHTS)[0]
                        if rng.random() < 0.93:
                            outcome = Delivery.Status.SUCCESS
                            code, message = "1000", "성공(대체문자)"
                        else:
                            code = rng.choices(TEXT_CODES, TEXT_WEIGHTS)[0]
                            message = CARRIER_FAILURE_TEXT[code]
                    else:
                        message = KAKAO_FAILURE_TEXT[code]
        refunded = charged if outcome in REFUNDED else ZERO
        # Positional, in the model's field order (Delivery._meta.concrete_fields): three
        # times faster than keywords for the 60,000 rows of the default demo.
        fields: list[Any] = [
            None,  # id
            None,  # send_request_id, known once the send is saved
            None,  # requested_at, the send's, set with send_request_id
            organization_id,
            f"{send.external_id}-{i:05d}",
            number,
            name,
            outcome,
            code,
            message,
            final_channel,
            carrier,
            sent_at,
            completed_at,
            charged,
            refunded,
        ]
        deliveries.append(_new_delivery(*fields))
    return deliveries


_new_delivery: Callable[..., Delivery] = Delivery  # positional fields, unknown to the stubs


def _tally(send: SendRequest, deliveries: list[Delivery]) -> None:
    send.recipient_count = len(deliveries)
    counted = Counter(d.status for d in deliveries)
    for outcome in Delivery.Status.values:
        setattr(send, f"{outcome}_count", counted[outcome])
    send.points_charged = sum((d.points_charged for d in deliveries), Decimal(0))
    send.points_refunded = sum((d.points_refunded for d in deliveries), Decimal(0))
