"""Sign-in that resists attack: throttled failures on both sign-in pages, sessions that end
when idle and after a fixed lifetime, password validators."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from sendon_results.accounts.sessions import ACTIVE_AT, SIGNED_IN_AT
from sendon_results.accounts.throttle import address_block
from sendon_results.demo import MANAGER
from tests.factories import UserFactory

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
RIGHT = "password-123"  # every factory user's
HERE = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def sign_in(client: Client, username: str, password: str, *, address: str = HERE, path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail_until_locked(client: Client, username: str, traveller, *, address: str = HERE):
    """Wrong passwords, each after the wait the last one asked for, until the lock: how
    many were checked, and the waits asked for."""
    checked, waits = 0, []
    for _ in range(settings.LOGIN_FAILURE_LIMIT * 3):
        response = sign_in(client, username, "wrong-guess", address=address)
        if response.status_code == 429:
            waits.append(int(response["Retry-After"]))
            if waits[-1] >= settings.LOGIN_LOCKOUT_MINUTES * 60:
                return checked, waits
            traveller.shift(waits[-1])
            continue
        assert response.status_code == 200
        checked += 1
    raise AssertionError("never locked")


@pytest.fixture
def traveller():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_forty_wrong_passwords_then_the_right_one_is_refused(traveller, alice):
    client = Client()
    answers = [sign_in(client, alice.user.username, f"guess-{n}").status_code for n in range(40)]
    # Three tries cost nothing; the fourth, sent at once, is asked to wait.
    assert answers[:3] == [200, 200, 200]
    assert set(answers[3:]) == {429}
    response = sign_in(client, alice.user.username, RIGHT)
    assert response.status_code == 429
    assert "로그인 시도가 너무 많습니다" in response.content.decode()
    assert 1 <= int(response["Retry-After"]) <= 900
    assert client.get("/results/").status_code == 302  # not signed in


def test_each_failure_makes_the_next_wait_longer_then_a_lock(traveller, alice):
    checked, waits = fail_until_locked(Client(), alice.user.username, traveller)
    # Three failures cost nothing, the next ones 1, 2, 4 … 64 s, the tenth a 15-minute lock.
    assert checked == 10
    assert waits == [1, 2, 4, 8, 16, 32, 64, 900]


def test_the_lock_ends_after_the_cool_off_and_attempts_do_not_extend_it(traveller, alice):
    client = Client()
    assert fail_until_locked(client, alice.user.username, traveller)[0] == 10
    traveller.shift(dt.timedelta(minutes=5))
    refused = sign_in(client, alice.user.username, RIGHT)
    assert refused.status_code == 429
    assert 595 <= int(refused["Retry-After"]) <= 600
    assert "10분 후에 다시 시도하세요" in refused.content.decode()
    for _ in range(20):  # hammering while locked
        assert sign_in(client, alice.user.username, "wrong-guess").status_code == 429
    traveller.shift(dt.timedelta(minutes=10))
    response = sign_in(client, alice.user.username, RIGHT)
    assert response.status_code == 302 and response.url == "/dashboard/"


def test_another_address_and_another_user_are_not_locked_by_it(traveller, alice, bob):
    fail_until_locked(Client(), alice.user.username, traveller)
    # The owner, from their own address, signs in as usual.
    assert sign_in(Client(), alice.user.username, RIGHT, address=ELSEWHERE).status_code == 302
    # Someone else at the attacker's address too (an office behind one address).
    assert sign_in(Client(), bob.user.username, RIGHT).status_code == 302
    # Spelling the name otherwise does not open a new count.
    assert sign_in(Client(), alice.user.username.upper(), RIGHT).status_code == 429


def test_one_address_trying_many_usernames_is_locked(traveller, db, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    client = Client()
    for n in range(5):
        assert sign_in(client, f"nobody-{n}", "wrong-guess").status_code == 200
    user = UserFactory()
    response = sign_in(client, user.username, RIGHT)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 900
    assert sign_in(Client(), user.username, RIGHT, address=ELSEWHERE).status_code == 302
    traveller.shift(dt.timedelta(minutes=15))
    assert sign_in(client, user.username, RIGHT).status_code == 302


def test_successful_sign_ins_do_not_use_up_the_address(traveller, db, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for user in UserFactory.create_batch(5):
        assert sign_in(Client(), user.username, RIGHT).status_code == 302


def test_a_success_forgets_the_failures(traveller, alice):
    client = Client()
    for _ in range(3):
        sign_in(client, alice.user.username, "wrong-guess")
    traveller.shift(1)
    assert sign_in(client, alice.user.username, RIGHT).status_code == 302
    client.post("/logout/")
    for _ in range(3):
        assert sign_in(client, alice.user.username, "wrong-guess").status_code == 200


def test_the_admin_sign_in_is_throttled_too(traveller, db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(3):
        response = sign_in(client, staff.username, "wrong-guess", path="/admin/login/")
        assert response.status_code == 200
    response = sign_in(client, staff.username, RIGHT, path="/admin/login/")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "로그인 시도가 너무 많습니다" in response.content.decode()
    # One count for both pages: the console's sign-in page refuses it as well.
    assert sign_in(client, staff.username, RIGHT).status_code == 429
    traveller.shift(1)
    assert sign_in(client, staff.username, RIGHT, path="/admin/login/").status_code == 302


def test_a_refused_attempt_is_a_failed_sign_in_for_the_signals(traveller, alice):
    failed: list[dict] = []

    def record(sender, credentials, request=None, **kwargs):
        failed.append(credentials)

    user_login_failed.connect(record)
    try:
        client = Client()
        for _ in range(5):
            sign_in(client, alice.user.username, "wrong-guess")
    finally:
        user_login_failed.disconnect(record)
    assert len(failed) == 5  # three checked, two refused
    assert {c["username"] for c in failed} == {alice.user.username}
    assert "wrong-guess" not in {c["password"] for c in failed}


def test_the_refusal_page_is_english_for_an_english_user(traveller, alice):
    client = Client()
    client.cookies["django_language"] = "en"
    for _ in range(4):
        response = sign_in(client, alice.user.username, "wrong-guess")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 1 second." in response.content.decode()


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "redis-down"])
def test_the_counts_live_in_redis_and_sign_in_stays_open_without_it(
    traveller, alice, settings, shared
):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if shared and not broker:
        pytest.skip("needs Redis: runs in the PostgreSQL pass of .ci/run, which starts it")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": broker if shared else "redis://127.0.0.1:9/0",  # nothing on port 9
            "OPTIONS": {"socket_timeout": 1},
            "KEY_PREFIX": f"test-signin-{uuid.uuid4().hex}",  # this run's keys only
        }
    }
    if shared:
        # Another web process (a second client) sees the same counts.
        assert fail_until_locked(Client(), alice.user.username, traveller)[0] == 10
        assert sign_in(Client(), alice.user.username, RIGHT).status_code == 429
    else:
        # No cache, no throttle: better than no sign-in for anyone (logged as an error).
        for _ in range(12):
            assert sign_in(Client(), alice.user.username, "wrong-guess").status_code == 200
        assert sign_in(Client(), alice.user.username, RIGHT).status_code == 302


def test_ipv6_addresses_count_by_their_64():
    assert address_block("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_block("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_block("::ffff:203.0.113.7") == HERE
    assert address_block(HERE) == HERE


# Sessions ------------------------------------------------------------------------------


def test_an_idle_session_ends_with_a_message(traveller, alice):
    client = Client()
    assert sign_in(client, alice.user.username, RIGHT).status_code == 302
    # Activity keeps it going: 29 minutes between pages, an hour in all.
    for _ in range(2):
        traveller.shift(dt.timedelta(minutes=29))
        assert client.get("/results/").status_code == 200
    traveller.shift(dt.timedelta(minutes=31))
    response = client.get("/results/?status=failed")
    assert response.status_code == 302
    assert response.url == "/login/?next=/results/%3Fstatus%3Dfailed"
    page = client.get(response.url).content.decode()
    assert "30분 동안 사용하지 않아 로그아웃되었습니다" in page
    assert client.get("/results/").status_code == 302  # signed out, not only redirected


def test_polling_is_not_activity(traveller, alice):
    client = Client()
    sign_in(client, alice.user.username, RIGHT)
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/exports/"}
    for _ in range(6):
        traveller.shift(dt.timedelta(minutes=5))
        assert client.get("/exports/999999/row/", **poll).status_code == 404  # answered
    traveller.shift(dt.timedelta(minutes=1))
    response = client.get("/exports/999999/row/", **poll)
    # The page the row is on goes to the sign-in page, and comes back to it afterwards.
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=%2Fexports%2F"
    assert "30분 동안" in client.get("/login/").content.decode()


def test_a_session_ends_hours_after_sign_in_whatever_the_activity(traveller, alice):
    client = Client()
    sign_in(client, alice.user.username, RIGHT)
    for _ in range(settings.SESSION_MAX_HOURS * 3 - 1):
        traveller.shift(dt.timedelta(minutes=20))
        assert client.get("/results/").status_code == 200
    traveller.shift(dt.timedelta(minutes=21))
    response = client.get("/results/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    page = client.get(response.url).content.decode()
    assert "로그인한 지 12시간이 지나 로그아웃되었습니다" in page
    # Signing in again starts a new lifetime.
    assert sign_in(client, alice.user.username, RIGHT).status_code == 302
    assert client.get("/results/").status_code == 200


def test_a_session_from_before_the_clocks_gets_them_on_its_first_page(traveller, alice):
    session = alice.client.session
    del session[SIGNED_IN_AT], session[ACTIVE_AT]
    session.save()
    assert alice.client.get("/results/").status_code == 200
    assert alice.client.session[SIGNED_IN_AT] == int(NOW.timestamp())
    traveller.shift(dt.timedelta(minutes=31))
    assert alice.client.get("/results/").status_code == 302


def test_the_session_cookie_lasts_the_lifetime_at_most(traveller, alice):
    client = Client()
    response = sign_in(client, alice.user.username, RIGHT)
    assert response.cookies["sessionid"]["max-age"] == settings.SESSION_MAX_HOURS * 3600
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_MAX_HOURS * 3600


# Passwords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, says",
    [
        ("short1!", "너무 짧습니다"),
        ("password1234", "너무 흔히 사용되는"),
        ("84729301564", "전부 숫자로"),
        ("kimhaneul!", "유사합니다"),
    ],
)
def test_weak_passwords_are_refused(db, password, says):
    user = UserFactory(username="kimhaneul")
    with translation.override("ko"), pytest.raises(ValidationError) as refused:
        validate_password(password, user)
    assert any(says in message for message in refused.value.messages), refused.value.messages


def test_the_demo_passwords_pass_the_validators(db):
    user = UserFactory(username=MANAGER[0])
    validate_password(MANAGER[1], user)
    validate_password("hanbit-demo-2026", UserFactory(username="hanbit"))
