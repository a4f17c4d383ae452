from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.test import Client
from django.utils import timezone

from sendon_results.demo_content import is_night
from sendon_results.models import (
    Channel,
    Delivery,
    DeliveryTally,
    Organization,
    SendMonthTally,
    SendRequest,
    SendTally,
)
from sendon_results.result_codes import CARRIER_CODES, KAKAO_CODES, REQUEST_FAILED
from sendon_results.tallies import rebuild_tallies

SEOUL = ZoneInfo("Asia/Seoul")

PENDING = ["reserved", "cancelling"]  # reservations whose time has not come
LIVE = {"in_progress", "reserved", "sending_now", "cancelling"}
NEVER_SENT = {"cancelled", "failed"}
KAKAO = ["alimtalk", "friendtalk"]

# Each send's counts and points against its deliveries, counted again in SQL.
MISMATCHED_SQL = """
SELECT s.id
FROM sendon_results_sendrequest s
LEFT JOIN (
    SELECT send_request_id, COUNT(*) AS recipients,
        SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS success,
        SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END) AS failure,
        SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END) AS sending,
        SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END) AS waiting,
        SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
        SUM(points_charged) AS charged, SUM(points_refunded) AS refunded
    FROM sendon_results_delivery
    GROUP BY send_request_id
) d ON d.send_request_id = s.id
WHERE d.send_request_id IS NULL OR s.recipient_count <> d.recipients
   OR s.success_count <> d.success OR s.failure_count <> d.failure
   OR s.sending_count <> d.sending OR s.waiting_count <> d.waiting
   OR s.cancelled_count <> d.cancelled
   OR s.points_charged <> d.charged OR s.points_refunded <> d.refunded
"""


def untrue_sends(now: dt.datetime) -> dict[str, list[int]]:
    """The rules of what really happens to a send, each with the ids of the sends that
    break it; written from the rules, not from the seeders."""
    sends = SendRequest.objects.all()
    deliveries = Delivery.objects.all()
    never_sent = Q(status__in=["waiting", "cancelled"])
    requested = F("send_request__requested_at")
    a_minute_later = ExpressionWrapper(
        requested + dt.timedelta(minutes=1), output_field=DateTimeField()
    )
    send_rules: dict[str, QuerySet] = {
        "requested in the future": sends.filter(requested_at__gt=now),
        "reservation not due after now": sends.filter(status__in=PENDING).exclude(
            scheduled_at__gt=now
        ),
        "released reservation without its time": sends.filter(
            status="sending_now", scheduled_at=None
        ),
        "cancelled reservation without a time after its request": sends.filter(
            status="cancelled"
        ).exclude(scheduled_at__gt=F("requested_at")),
        "cancelled send not refunded in full": sends.filter(status="cancelled").exclude(
            points_refunded=F("points_charged")
        ),
        "failed send without a reason": sends.filter(status="failed", failure_reason=""),
        "failed for a fallback text it does not have": sends.filter(
            status="failed", fallback=False, failure_reason__contains="대체문자"
        ),
        "failed for a calling number where none calls": sends.filter(
            status="failed",
            fallback=False,
            channel__in=["alimtalk", "friendtalk"],
            failure_reason__contains="발신번호",
        ),
        "failed send not refunded in full": sends.filter(status="failed").exclude(
            points_refunded=F("points_charged")
        ),
        "reservation refunded": sends.filter(status__in=PENDING, points_refunded__gt=0),
        # KakaoTalk holds a result up to 3 days; carriers answer sooner.
        "in progress longer than a result is held": sends.filter(
            status="in_progress", requested_at__lt=now - dt.timedelta(days=3)
        ),
        "in progress with nobody sending": sends.filter(status="in_progress").exclude(
            id__in=deliveries.filter(status="sending").values("send_request_id")
        ),
    }
    delivery_rules: dict[str, QuerySet] = {
        "reservation's recipient not waiting": deliveries.filter(
            send_request__status__in=PENDING
        ).exclude(status="waiting"),
        "waiting outside a pending reservation": deliveries.filter(status="waiting").exclude(
            send_request__status__in=PENDING
        ),
        "cancelled send's recipient not cancelled": deliveries.filter(
            send_request__status="cancelled"
        ).exclude(status="cancelled"),
        "cancelled outside a cancelled send": deliveries.filter(status="cancelled").exclude(
            send_request__status="cancelled"
        ),
        "never sent, yet with a carrier, a time or a result": deliveries.filter(never_sent).filter(
            ~Q(carrier="")
            | Q(sent_at__isnull=False)
            | Q(completed_at__isnull=False)
            | ~Q(result_code="")
            | ~Q(result_message="")
        ),
        "waiting without a charge": deliveries.filter(status="waiting", points_charged__lte=0),
        "failed request's recipient not failed with its reason": deliveries.filter(
            send_request__status="failed"
        ).exclude(
            status="failure",
            result_code=REQUEST_FAILED,
            result_message=F("send_request__failure_reason"),
            carrier="",
            sent_at=None,
        ),
        "failed request's recipient not completed when it failed": deliveries.filter(
            send_request__status="failed"
        ).exclude(completed_at__gte=requested, completed_at__lte=a_minute_later),
        "request failure code on a send that did not fail": deliveries.filter(
            result_code=REQUEST_FAILED
        ).exclude(send_request__status="failed"),
        "released reservation's recipient not sending": deliveries.filter(
            send_request__status="sending_now"
        ).exclude(status="sending"),
        "sending outside a send in progress": deliveries.filter(status="sending").exclude(
            send_request__status__in=["in_progress", "sending_now"]
        ),
        "sending yet completed": deliveries.filter(status="sending", completed_at__isnull=False),
        "text message sending in progress without a carrier": deliveries.filter(
            status="sending", send_request__status="in_progress", carrier=""
        ).exclude(final_channel__in=KAKAO),
        # KakaoTalk messages go through Kakao, not a mobile carrier; a fallback text does.
        "KakaoTalk message with a carrier": deliveries.filter(final_channel__in=KAKAO).exclude(
            carrier=""
        ),
        "text message sent without a carrier": deliveries.filter(sent_at__isnull=False)
        .exclude(final_channel__in=KAKAO)
        .filter(carrier=""),
        "completed send's recipient not final": deliveries.filter(
            send_request__status="completed"
        ).exclude(status__in=["success", "failure"]),
        "final without a completion time": deliveries.filter(
            status__in=["success", "failure"], completed_at=None
        ),
        "failure or cancellation not refunded in full": deliveries.filter(
            status__in=["failure", "cancelled"]
        ).exclude(points_refunded=F("points_charged")),
        "refund of a message that was or may be delivered": deliveries.filter(
            status__in=["success", "sending", "waiting"]
        ).exclude(points_refunded=0),
        "a time in the future": deliveries.filter(Q(sent_at__gt=now) | Q(completed_at__gt=now)),
        "sent before it was requested": deliveries.filter(sent_at__lt=requested),
        "completed before it was sent": deliveries.filter(completed_at__lt=F("sent_at")),
    }
    broken = {name: sorted(rule.values_list("id", flat=True)) for name, rule in send_rules.items()}
    for name, rule in delivery_rules.items():
        broken[name] = sorted(set(rule.values_list("send_request_id", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute(MISMATCHED_SQL)
        broken["counts or points differ from the deliveries"] = [row[0] for row in cursor]
    return {name: ids for name, ids in broken.items() if ids}


def statuses_of_first_page(username: str, password: str) -> list[str]:
    client = Client()
    assert client.login(username=username, password=password)
    response = client.get("/results/")
    assert response.status_code == 200
    return [send.status for send in response.context["page"].rows]


def korea(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(SEOUL)


def tallies() -> tuple[set[tuple], set[tuple], set[tuple]]:
    """Every tally row as stored, without its id."""
    sends = {row[1:] for row in SendTally.objects.values_list()}
    months = {row[1:] for row in SendMonthTally.objects.values_list()}
    deliveries = {row[1:] for row in DeliveryTally.objects.values_list()}
    return sends, months, deliveries


def assert_tallies_as_recounted() -> None:
    """The tallies seeding kept equal those rebuild_tallies counts from the rows."""
    kept = tallies()
    assert all(kept)
    rebuild_tallies()
    assert tallies() == kept


def days_without_sends(now: dt.datetime) -> dict[str, list[dt.date]]:
    """Per organization, the Korea-time days from its first send to today without one."""
    today = korea(now).date()
    empty = {}
    for organization in Organization.objects.all():
        moments = SendRequest.objects.filter(organization=organization).values_list(
            "requested_at", flat=True
        )
        days = {korea(moment).date() for moment in moments}
        first = min(days)
        every = {first + dt.timedelta(days=n) for n in range((today - first).days + 1)}
        empty[organization.name] = sorted(every - days)
    return {name: days for name, days in empty.items() if days}


# An afternoon, and a few minutes after midnight, when today has hardly begun.
AFTERNOON = dt.datetime(2026, 12, 5, 14, 37, 12, tzinfo=SEOUL)
AFTER_MIDNIGHT = dt.datetime(2026, 12, 7, 0, 4, 30, tzinfo=SEOUL)  # a Monday


@pytest.mark.parametrize("now", [AFTERNOON, AFTER_MIDNIGHT], ids=["afternoon", "after-midnight"])
def test_seed_demo_builds_a_believable_history_once(db, capsys, now):
    with time_machine.travel(now, tick=False):
        call_command("seed_demo", sends=150, max_recipients=5)
        out = capsys.readouterr().out
        assert "hanbit / hanbit-demo-2026" in out and "manager / manager-demo-2026" in out
        assert Organization.objects.count() == 2
        assert set(SendRequest.objects.values_list("status", flat=True)) == set(SendRequest.Status)
        assert set(Delivery.objects.values_list("status", flat=True)) == set(Delivery.Status)
        assert set(SendRequest.objects.values_list("channel", flat=True)) == set(Channel)
        # Some KakaoTalk messages fell back to SMS/LMS.
        assert Delivery.objects.filter(
            send_request__channel="alimtalk", final_channel__in=["sms", "lms"]
        ).exists()
        oldest = SendRequest.objects.order_by("requested_at").first().requested_at
        newest = SendRequest.objects.order_by("requested_at").last().requested_at
        assert (newest - oldest).days >= 390  # 13 months: the one-year limit is visible
        # Every day has sends, yesterday and today included, for each organization.
        assert days_without_sends(now) == {}
        assert korea(newest).date() == now.date()
        assert untrue_sends(timezone.now()) == {}
        assert_tallies_as_recounted()

        # Idempotent: a second run at the same moment changes nothing, not even the sends it
        # rebuilds (those it left live).
        rows = set(SendRequest.objects.values_list("external_id", "status", "recipient_count"))
        deliveries = Delivery.objects.count()
        kept = tallies()
        call_command("seed_demo", sends=150, max_recipients=5)
        assert "rebuilt" in capsys.readouterr().out
        assert (
            set(SendRequest.objects.values_list("external_id", "status", "recipient_count")) == rows
        )
        assert Delivery.objects.count() == deliveries
        assert tallies() == kept
        # A larger size only adds sends.
        call_command("seed_demo", sends=400, max_recipients=5)
        assert SendRequest.objects.count() > len(rows)
        assert {row[0] for row in rows} <= set(
            SendRequest.objects.values_list("external_id", flat=True)
        )
        assert untrue_sends(timezone.now()) == {}
        assert_tallies_as_recounted()


def test_a_later_run_fills_the_days_since_and_settles_what_was_live(db):
    with time_machine.travel(AFTERNOON, tick=False):
        call_command("seed_demo", sends=300, max_recipients=4)
        before = dict(SendRequest.objects.values_list("external_id", "status"))
    later = AFTERNOON + dt.timedelta(days=3, hours=2)
    assert days_without_sends(later) != {}  # what `make run` three days later finds
    with time_machine.travel(later, tick=False):
        call_command("seed_demo", sends=300, max_recipients=4)
        after = dict(SendRequest.objects.values_list("external_id", "status"))
        assert days_without_sends(later) == {}
        # What was final stays as it was; what was live was settled by the later run.
        final = {key: status for key, status in before.items() if status not in LIVE}
        assert {key: after[key] for key in final} == final
        assert set(before) <= set(after)
        assert untrue_sends(timezone.now()) == {}
        assert set(statuses_of_first_page("hanbit", "hanbit-demo-2026")) >= LIVE | NEVER_SENT
        assert_tallies_as_recounted()


def test_an_earlier_demo_is_left_alone_with_a_word_on_what_to_do(db, capsys):
    with time_machine.travel(AFTERNOON, tick=False):
        call_command("seed_demo", sends=100, max_recipients=2)
    # What the earlier demo numbered its sends: doubling them with dated ones would show
    # every day twice.
    send = SendRequest.objects.filter(organization__name="한빛커머스").first()
    SendRequest.objects.filter(pk=send.pk).update(external_id="demo-hanbit-00000001")
    capsys.readouterr()
    with time_machine.travel(AFTERNOON + dt.timedelta(days=2), tick=False):
        call_command("seed_demo", sends=100, max_recipients=2)
    captured = capsys.readouterr()
    assert "한빛커머스 holds sends of an earlier demo" in captured.err
    assert "푸른치과의원" not in captured.err
    latest = SendRequest.objects.filter(organization__name="한빛커머스").latest("requested_at")
    assert korea(latest.requested_at).date() == AFTERNOON.date()
    assert days_without_sends(AFTERNOON + dt.timedelta(days=2)).keys() == {"한빛커머스"}


@pytest.fixture
def demo(db) -> dt.datetime:
    """The default demo (fewer recipients keep it quick; what a send is does not depend on
    them), seeded at AFTERNOON; returns that moment."""
    with time_machine.travel(AFTERNOON, tick=False):
        call_command("seed_demo", max_recipients=3)
    return AFTERNOON


def test_seed_demo_tells_every_case_as_it_happened(demo):
    with time_machine.travel(demo, tick=False):
        now = timezone.now()
        assert untrue_sends(now) == {}
        for organization in Organization.objects.all():
            statuses = set(
                SendRequest.objects.filter(organization=organization).values_list(
                    "status", flat=True
                )
            )
            assert statuses >= LIVE | NEVER_SENT, organization
        # Operators open the console on its newest page: the live sends are there, beside
        # a cancelled reservation and a failed request.
        assert set(statuses_of_first_page("hanbit", "hanbit-demo-2026")) >= LIVE | NEVER_SENT
        assert set(statuses_of_first_page("pureun", "pureun-demo-2026")) >= LIVE | NEVER_SENT

    # What each case looks like, spelled out on one send of each.
    reserved = SendRequest.objects.filter(status="reserved").first()
    assert reserved.scheduled_at > now > reserved.requested_at
    assert reserved.waiting_count == reserved.recipient_count
    assert reserved.points_refunded == 0 < reserved.points_charged
    cancelled = SendRequest.objects.filter(status="cancelled").first()
    assert cancelled.scheduled_at > cancelled.requested_at
    assert cancelled.cancelled_count == cancelled.recipient_count
    assert cancelled.failure_count == 0 and cancelled.points_refunded == cancelled.points_charged
    assert set(cancelled.deliveries.values_list("carrier", "sent_at", "completed_at")) == {
        ("", None, None)
    }
    failed = SendRequest.objects.filter(status="failed").first()
    assert failed.failure_reason
    assert failed.failure_count == failed.recipient_count
    assert set(failed.deliveries.values_list("result_code", "result_message")) == {
        (REQUEST_FAILED, failed.failure_reason)
    }
    # Reservations that went out at their time: sent then, not when they were requested.
    went_out = SendRequest.objects.filter(status="completed", scheduled_at__isnull=False)
    assert went_out.exists()
    assert not Delivery.objects.filter(
        send_request__in=went_out, sent_at__lt=F("send_request__scheduled_at")
    ).exists()


# A time as a body writes it: 오전 9시 30분, 오후 1시.
TIME = re.compile(r"(오전|오후) (\d{1,2})시(?: (\d{1,2})분)?")
DATE = re.compile(r"(\d{1,2})월 (\d{1,2})일\((.)\)")
IMPOSSIBLE = re.compile(r"(오전|오후) (1[3-9]|2\d|0)시|\d+시 ([6-9]\d|\d{3,})분")


def wall_clock(match: re.Match[str]) -> dt.time:
    hour = int(match[2]) % 12 + (12 if match[1] == "오후" else 0)
    return dt.time(hour, int(match[3] or 0))


def dates_in(body: str, after: dt.date) -> list[dt.date]:
    """The dates a body names (month and day, with the weekday), on or after `after`."""
    found = []
    for match in DATE.finditer(body):
        month, day = int(match[1]), int(match[2])
        year = after.year + (1 if month < after.month else 0)
        date = dt.date(year, month, day)
        assert "월화수목금토일"[date.weekday()] == match[3], body
        found.append(date)
    return found


def test_times_in_bodies_are_korean_and_agree_with_the_send(demo):
    sends = SendRequest.objects.only("requested_at", "scheduled_at", "body", "title", "status")
    checked = Counter()
    for send in sends:
        text = f"{send.title}\n{send.body}"
        assert not IMPOSSIBLE.search(text), text
        for match in TIME.finditer(text):
            assert 1 <= int(match[2]) <= 12 and int(match[3] or 0) < 60, text
        # The recipients read it when it goes out: at its reserved time, if it had one.
        goes_out = korea(send.scheduled_at or send.requested_at)
        for date in dates_in(text, goes_out.date() - dt.timedelta(days=1)):
            assert date >= goes_out.date(), text
        if "주문일시" in text:  # an order's confirmation names when it was ordered
            (match,) = TIME.finditer(text.split("주문일시: ")[1].splitlines()[0])
            assert wall_clock(match) == goes_out.time().replace(second=0), text
            assert f"{goes_out:%Y-%m-%d}" in text
            checked["order"] += 1
        if "진료 예약이 있습니다" in text:  # a reminder, the day before the appointment
            (date,) = set(dates_in(text, goes_out.date()))
            (slot,) = {wall_clock(match) for match in TIME.finditer(text.split("일시: ")[1])}
            gap = (date - goes_out.date()).days
            assert gap == 1 or (gap == 2 and date.weekday() == 0), text  # Saturday for Monday
            assert ("내일" in text) == (gap == 1), text
            assert dt.time(9, 30) <= slot <= dt.time(17, 30), text
            assert not dt.time(13) <= slot < dt.time(14) or date.weekday() == 5, text
            checked["reminder"] += 1
        if "부터 한정 수량 특가" in text and "지금부터" not in text:  # an hour to come
            (match,) = TIME.finditer(text)
            assert wall_clock(match) > goes_out.time(), text
            checked["sale"] += 1
        if "휴진합니다" in text:  # a closing day the clinic would be open otherwise
            (date, *_) = dates_in(text, goes_out.date())
            assert date.weekday() != 6, text
            checked["closed"] += 1
    assert checked["order"] > 10 and checked["reminder"] > 10
    assert checked["sale"] and checked["closed"]


def test_result_codes_fit_the_channel_and_kakao_has_no_carrier(demo):
    kakao = Delivery.objects.filter(final_channel__in=KAKAO)
    assert kakao.filter(status="failure").exists()
    assert not kakao.exclude(carrier="").exists()
    for code in kakao.filter(status="failure").values_list("result_code", flat=True).distinct():
        assert code in KAKAO_CODES or code == REQUEST_FAILED, code
    texts = Delivery.objects.exclude(final_channel__in=KAKAO).filter(status="failure")
    for code in texts.values_list("result_code", flat=True).distinct():
        assert code in CARRIER_CODES or code == REQUEST_FAILED, code
    # A fallback text went through a carrier.
    fallback = Delivery.objects.filter(send_request__channel="alimtalk").exclude(
        final_channel__in=KAKAO
    )
    assert fallback.exists() and not fallback.filter(carrier="").exists()
    # 3010 (a handset that cannot show MMS) only for MMS.
    assert not Delivery.objects.filter(result_code="3010").exclude(final_channel="mms").exists()


def test_ads_carry_the_legal_marks_and_go_out_by_day(demo):
    ads = SendRequest.objects.filter(body__contains="(광고)")
    assert ads.filter(channel="friendtalk").exists() and ads.exclude(channel="friendtalk").exists()
    for send in ads:
        assert send.body.startswith("(광고)"), send.body
        if send.channel == "friendtalk":
            assert "채널 차단" in send.body, send.body
        else:
            assert re.search(r"무료수신거부 080-\d{3}-\d{4}", send.body), send.body
        goes_out = korea(send.scheduled_at or send.requested_at)
        night = is_night(goes_out)
        codes = set(send.deliveries.values_list("result_code", flat=True))
        if night:
            # Only a FriendTalk ad pressed at night, refused by KakaoTalk for it.
            assert send.channel == "friendtalk" and send.scheduled_at is None, send.body
            assert codes == {"3022"} and send.failure_count == send.recipient_count
        else:
            assert "3022" not in codes
    assert ads.filter(deliveries__result_code="3022").exists()
    # Nothing else fails for the hour.
    assert (
        not Delivery.objects.filter(result_code="3022")
        .exclude(send_request__channel="friendtalk")
        .exists()
    )


def test_reservations_show_their_time(demo):
    with time_machine.travel(demo, tick=False):
        now = timezone.now()
        client = Client()
        assert client.login(username="hanbit", password="hanbit-demo-2026")
        page = client.get("/results/").content.decode()
        waiting = SendRequest.objects.filter(
            organization__name="한빛커머스", status__in=["reserved", "cancelling", "sending_now"]
        )
        assert waiting.count() >= 4
        for send in waiting:
            assert send.scheduled_at > now
            local = korea(send.scheduled_at)
            assert local.minute % 10 == 0 and local.second == 0
            if send.id in {row.id for row in client.get("/results/").context["page"].rows}:
                assert f"{local:%Y-%m-%d %H:%M}" in page
        detail = client.get(f"/results/{waiting.first().id}/").content.decode()
        assert f"{korea(waiting.first().scheduled_at):%Y-%m-%d %H:%M}" in detail


def test_summary_and_tallies_equal_a_direct_count(demo):
    with time_machine.travel(demo, tick=False):
        assert_tallies_as_recounted()
        client = Client()
        assert client.login(username="pureun", password="pureun-demo-2026")
        organization = Organization.objects.get(name="푸른치과의원")
        # The last 90 days, yesterday and today included, read off the tallies.
        first = demo.date() - dt.timedelta(days=90)
        response = client.get("/results/", {"requested_from": first, "requested_to": demo.date()})
        assert response.status_code == 200
        summary = response.context["summary"]
        since = dt.datetime.combine(first, dt.time(), tzinfo=SEOUL)
        sends = SendRequest.objects.filter(organization=organization, requested_at__gte=since)
        deliveries = Delivery.objects.filter(send_request__in=sends)
        assert summary.sends == sends.count()
        assert summary.messages == deliveries.count()
        for outcome in Delivery.Status.values:
            assert getattr(summary, outcome) == deliveries.filter(status=outcome).count()
        assert summary.points_charged == deliveries.aggregate(s=Sum("points_charged"))["s"]
        assert summary.points_refunded == deliveries.aggregate(s=Sum("points_refunded"))["s"]


@pytest.mark.django_db(transaction=True)  # seed_scale ends with VACUUM, outside a transaction
def test_seed_scale_tells_every_case_as_it_happened():
    if connection.vendor != "postgresql":
        pytest.skip("seed_scale generates its rows inside PostgreSQL")
    call_command("seed_scale", sends=400, verbosity=0)
    broken = untrue_sends(timezone.now())
    assert broken == {}
    statuses = set(SendRequest.objects.values_list("status", flat=True))
    assert statuses >= LIVE | NEVER_SENT | {"completed"}
    assert set(statuses_of_first_page("hanbit", "hanbit-demo-2026")) >= LIVE | NEVER_SENT
