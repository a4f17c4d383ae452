"""What the demo organizations send: each kind of message with its channel, the hours it
goes out, how many recipients it has, and its text, written from the moment it reaches
the recipient so that every date and time in a body agrees with the send.

Times in bodies are Korean 12-hour times (오전 9시 30분, 오후 1시), never 오후 13시.
Advertisements follow the law on advertising messages (정보통신망법 제50조): "(광고)"
first, the sender's name, and a free opt-out — an 080 number by text message, blocking
the channel on KakaoTalk — and they go out only in the daytime.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from .models import Channel

WEEKDAYS = "월화수목금토일"
# Advertising hours: 친구톡 and advertising text messages are not sent 20:50–08:00 (Kakao's
# rule; sending ads at night needs separate consent). The demo keeps ads to 09:00–20:00.
AD_HOURS = ((9 * 60, 20 * 60),)
ANY_HOUR = ((0, 24 * 60),)
OFFICE_HOURS = ((9 * 60 + 30, 18 * 60),)
# A FriendTalk message requested in this window (minutes from midnight) fails with 3022:
# the operator who presses send at 20:55 learns the rule.
NIGHT_START = 20 * 60 + 50
NIGHT_END = 8 * 60
NIGHT_CODE = "3022"  # KakaoTalk: outside the allowed hours (result_codes.KAKAO_CODES)

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
    "한지민",
    "오승우",
    "서유진",
    "신동현",
    "권나연",
]


def korean_time(moment: dt.datetime) -> str:
    """A wall-clock time as Koreans write it: 오전 9시 30분, 오후 1시, 오후 12시 10분."""
    half = "오전" if moment.hour < 12 else "오후"
    hour = moment.hour % 12 or 12
    minutes = f" {moment.minute}분" if moment.minute else ""
    return f"{half} {hour}시{minutes}"


def korean_date(day: dt.date) -> str:
    """12월 7일(월)"""
    return f"{day.month}월 {day.day}일({WEEKDAYS[day.weekday()]})"


def is_night(moment: dt.datetime) -> bool:
    """Inside the hours when ads and FriendTalk may not be sent (Korea time)."""
    minute = moment.hour * 60 + moment.minute
    return minute >= NIGHT_START or minute < NIGHT_END


@dataclass(frozen=True)
class Words:
    """What a body may mention, drawn once per send."""

    brand: str
    name: str
    code: str
    invoice: str
    amount: str
    opt_out: str  # the organization's free 080 opt-out number
    at: dt.datetime  # when the message reaches its recipients, Korea time


Compose = Callable[[random.Random, Words], tuple[str, str]]  # (title, body)


@dataclass(frozen=True)
class MessageKind:
    name: str
    channel: str
    weight: float  # share among the organization's sends
    hours: tuple[tuple[int, int], ...]  # minutes from midnight it may be requested in
    size: str  # "one" (a personal message), "batch" (a few dozen), "campaign" (hundreds)
    compose: Compose
    ad: bool = False
    reservable: bool = False  # prepared ahead and reserved for a time
    fallback: bool = False  # KakaoTalk with fallback text
    closed_days: tuple[int, ...] = ()  # weekdays (0 = Monday) it is not sent
    personal: bool = False  # the body names its one recipient


def _appointment(rng: random.Random, day: dt.date) -> dt.datetime:
    """A slot at a dental clinic: every 30 minutes, 09:30–18:00 (Saturdays to 13:00)."""
    last = 12 * 60 + 30 if day.weekday() == 5 else 17 * 60 + 30
    minute = rng.randrange(9 * 60 + 30, last + 1, 30)
    if 13 * 60 <= minute < 14 * 60 and day.weekday() != 5:
        minute += 60  # lunch break
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=None)


def _next_open_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while day.weekday() == 6:  # closed on Sundays
        day += dt.timedelta(days=1)
    return day


# --- 한빛커머스: an online shop --------------------------------------------------------


def _shop_code(rng: random.Random, w: Words) -> tuple[str, str]:
    return "", f"[{w.brand}] 인증번호 [{w.code}]를 입력해 주세요. 타인에게 절대 알려주지 마세요."


def _shop_order(rng: random.Random, w: Words) -> tuple[str, str]:
    return "", (
        f"[{w.brand}] 주문 완료 안내\n\n{w.name}님, 주문이 접수되었습니다.\n"
        f"주문번호: {w.invoice}\n주문일시: {w.at:%Y-%m-%d} {korean_time(w.at)}\n"
        f"결제금액: {w.amount}원\n\n감사합니다."
    )


def _shop_shipped(rng: random.Random, w: Words) -> tuple[str, str]:
    # The next day; from Saturday or Sunday, Monday.
    arrival = w.at.date() + dt.timedelta(days=1 if w.at.weekday() < 5 else 7 - w.at.weekday())
    return "", (
        f"[{w.brand}] 배송 출발\n\n{w.name}님의 상품이 {korean_date(w.at.date())} 출고되었습니다.\n"
        f"운송장번호: {w.invoice}\n도착 예정: {korean_date(arrival)}"
    )


def _shop_delay(rng: random.Random, w: Words) -> tuple[str, str]:
    ship = w.at.date() + dt.timedelta(days=rng.randint(2, 4))
    return "배송 지연 안내", (
        f"[{w.brand}] 배송 지연 안내\n\n안녕하세요, 고객님.\n주문하신 상품의 입고가 늦어져 "
        f"{korean_date(ship)}에 출고될 예정입니다.\n불편을 드려 죄송합니다.\n\n문의: 1588-1234"
    )


def _shop_maintenance(rng: random.Random, w: Words) -> tuple[str, str]:
    day = w.at.date() + dt.timedelta(days=rng.randint(2, 6))
    return "시스템 점검 안내", (
        f"[{w.brand}] 시스템 점검 안내\n\n일시: {korean_date(day)} 오전 2시 ~ 오전 5시\n"
        "점검 중에는 주문과 결제가 잠시 중단됩니다.\n이용에 참고 부탁드립니다."
    )


def _shop_ad_sms(rng: random.Random, w: Words) -> tuple[str, str]:
    end = w.at.date() + dt.timedelta(days=(6 - w.at.weekday()) or 7)
    offer = rng.choice(["주말 특가 최대 50% 할인", "겨울 아우터 30% 할인", "전 상품 무료배송"])
    return "", (f"(광고)[{w.brand}] {offer}! {korean_date(end)}까지\n무료수신거부 {w.opt_out}")


def _shop_ad_lms(rng: random.Random, w: Words) -> tuple[str, str]:
    end = w.at.date() + dt.timedelta(days=rng.randint(3, 7))
    season = "봄 여름 가을 겨울".split()[(w.at.month - 3) % 12 // 3]  # spring from March
    return f"(광고) {season} 신상품", (
        f"(광고)[{w.brand}] {season} 신상품 입고!\n\n지금 앱에서 10% 추가 할인 쿠폰을 받으세요.\n"
        f"쿠폰번호: {w.code}\n기간: {korean_date(end)} 오후 11시 59분까지\n\n"
        f"무료수신거부 {w.opt_out}"
    )


def _shop_ad_friendtalk(rng: random.Random, w: Words) -> tuple[str, str]:
    # A sale hour still to come when the message goes out; none left: it starts now.
    later = [hour for hour in (12, 19, 20) if hour > w.at.hour]
    starts = "지금부터"
    if later:
        starts = f"{korean_time(w.at.replace(hour=rng.choice(later), minute=0))}부터"
    return "", (
        f"(광고) [{w.brand}] 오늘의 타임특가\n\n{starts} 한정 수량 특가가 "
        "시작됩니다.\n앱 알림을 켜고 먼저 만나보세요!\n\n수신거부 | 홈 > 채널 차단"
    )


# --- 푸른치과의원: a dental clinic -----------------------------------------------------


def _dental_reminder(rng: random.Random, w: Words) -> tuple[str, str]:
    """Sent the day before (on Saturday for Monday): names the appointment's date and time."""
    slot = _appointment(rng, _next_open_day(w.at.date()))
    when = "내일" if (slot.date() - w.at.date()).days == 1 else korean_date(slot.date())
    return "", (
        f"[{w.brand}] 예약 안내\n\n{w.name}님, {when} {korean_time(slot)} 진료 예약이 있습니다.\n"
        f"일시: {korean_date(slot.date())} {korean_time(slot)}\n"
        "변경·취소는 진료 하루 전까지 031-765-4321로 연락해 주세요."
    )


def _dental_booking(rng: random.Random, w: Words) -> tuple[str, str]:
    """An online booking's confirmation, at any hour: the appointment is days ahead."""
    day = w.at.date() + dt.timedelta(days=rng.randint(1, 10))
    if day.weekday() == 6:
        day += dt.timedelta(days=1)
    slot = _appointment(rng, day)
    return "", (
        f"[{w.brand}] 예약 접수 완료\n\n{w.name}님, 온라인 예약이 접수되었습니다.\n"
        f"일시: {korean_date(slot.date())} {korean_time(slot)}\n"
        "진료 10분 전까지 내원해 주세요."
    )


def _dental_recall(rng: random.Random, w: Words) -> tuple[str, str]:
    return "정기 검진 안내", (
        f"[{w.brand}] 정기 검진 안내\n\n마지막 검진 후 6개월이 지났습니다.\n"
        "충치와 잇몸 상태를 확인하는 정기 검진을 받아 보세요.\n"
        "예약: 031-765-4321 (평일 오전 9시 30분 ~ 오후 6시, 토요일 오후 1시까지)"
    )


def _dental_closed(rng: random.Random, w: Words) -> tuple[str, str]:
    day = w.at.date() + dt.timedelta(days=rng.randint(3, 9))
    if day.weekday() == 6:  # closed on Sundays anyway: the notice is for a Monday
        day += dt.timedelta(days=1)
    return "휴진 안내", (
        f"[{w.brand}] 휴진 안내\n\n{korean_date(day)}은 원내 사정으로 휴진합니다.\n"
        f"{korean_date(_next_open_day(day))}부터 정상 진료합니다.\n양해 부탁드립니다."
    )


def _dental_ad(rng: random.Random, w: Words) -> tuple[str, str]:
    offer = rng.choice(["스케일링 후 미백 20% 할인", "임플란트 상담 무료", "교정 상담 이벤트"])
    return "(광고) 이달의 이벤트", (
        f"(광고)[{w.brand}] {w.at.month}월 {offer}\n\n기간: {w.at.month}월 말일까지\n"
        f"상담 예약: 031-765-4321\n\n무료수신거부 {w.opt_out}"
    )


def _dental_ad_friendtalk(rng: random.Random, w: Words) -> tuple[str, str]:
    return "", (
        f"(광고) [{w.brand}] {w.at.month}월 구강 검진 이벤트\n\n카카오톡 예약 시 불소 도포를 "
        "무료로 해 드립니다.\n\n수신거부 | 홈 > 채널 차단"
    )


SUNDAY = (6,)
SHOP_KINDS = (
    MessageKind("code", Channel.SMS, 26, ANY_HOUR, "one", _shop_code),
    MessageKind(
        "order", Channel.ALIMTALK, 30, ANY_HOUR, "one", _shop_order, fallback=True, personal=True
    ),
    MessageKind(
        "shipped",
        Channel.ALIMTALK,
        16,
        ((14 * 60, 18 * 60),),
        "one",
        _shop_shipped,
        fallback=True,
        closed_days=SUNDAY,
        personal=True,
    ),
    MessageKind("delay", Channel.LMS, 4, OFFICE_HOURS, "batch", _shop_delay, closed_days=(5, 6)),
    MessageKind(
        "maintenance", Channel.LMS, 1, OFFICE_HOURS, "campaign", _shop_maintenance, reservable=True
    ),
    MessageKind(
        "ad_sms", Channel.SMS, 8, AD_HOURS, "campaign", _shop_ad_sms, ad=True, reservable=True
    ),
    MessageKind(
        "ad_lms", Channel.LMS, 5, AD_HOURS, "campaign", _shop_ad_lms, ad=True, reservable=True
    ),
    MessageKind(
        "ad_mms", Channel.MMS, 2, AD_HOURS, "campaign", _shop_ad_lms, ad=True, reservable=True
    ),
    MessageKind(
        "ad_friendtalk",
        Channel.FRIENDTALK,
        8,
        AD_HOURS,
        "campaign",
        _shop_ad_friendtalk,
        ad=True,
        reservable=True,
    ),
)
DENTAL_KINDS = (
    MessageKind(
        "reminder",
        Channel.ALIMTALK,
        45,
        ((10 * 60, 12 * 60), (15 * 60, 17 * 60 + 30)),
        "one",
        _dental_reminder,
        fallback=True,
        reservable=True,
        closed_days=SUNDAY,
        personal=True,
    ),
    MessageKind(
        "booking",
        Channel.ALIMTALK,
        25,
        ANY_HOUR,
        "one",
        _dental_booking,
        fallback=True,
        personal=True,
    ),
    MessageKind(
        "recall", Channel.LMS, 12, OFFICE_HOURS, "batch", _dental_recall, closed_days=SUNDAY
    ),
    MessageKind(
        "closed",
        Channel.LMS,
        3,
        OFFICE_HOURS,
        "batch",
        _dental_closed,
        closed_days=SUNDAY,
        reservable=True,
    ),
    MessageKind(
        "ad",
        Channel.LMS,
        8,
        AD_HOURS,
        "campaign",
        _dental_ad,
        ad=True,
        reservable=True,
        closed_days=SUNDAY,
    ),
    MessageKind(
        "ad_friendtalk",
        Channel.FRIENDTALK,
        7,
        AD_HOURS,
        "campaign",
        _dental_ad_friendtalk,
        ad=True,
        reservable=True,
        closed_days=SUNDAY,
    ),
)


def pick_minute(rng: random.Random, kind: MessageKind) -> int:
    """A minute of the day inside the kind's hours; around the clock means mostly by day."""
    if kind.hours == ANY_HOUR:
        # People order and book by day and in the evening, rarely at 3 a.m.
        hour = rng.choices(range(24), weights=ACTIVITY_BY_HOUR)[0]
        return hour * 60 + rng.randrange(60)
    start, end = rng.choice(kind.hours)
    return rng.randrange(start, end)


ACTIVITY_BY_HOUR = [
    2,
    1,
    1,
    1,
    1,
    1,
    2,
    4,
    6,
    8,
    10,
    11,
    12,
    11,
    10,
    10,
    10,
    10,
    11,
    12,
    13,
    12,
    9,
    5,
]
