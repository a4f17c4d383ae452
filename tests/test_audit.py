"""The access record (접속기록): an event for every action that handles personal data, who
and from where; append-only in the application and, on PostgreSQL, in the database; the
retention purge; /audit/ for owners, its filters and its CSV."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import zoneinfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from sendon_results import masking, replicas, retention
from sendon_results.accounts import invitations
from sendon_results.audit.views import describe
from sendon_results.models import (
    AccessEvent,
    AccessRecordIsAppendOnly,
    ApiKey,
    Export,
    Invitation,
    Membership,
    PurgeLog,
    Statement,
)
from sendon_results.results import views as results_views
from tests.factories import MembershipFactory, UserFactory, make_send

KST = zoneinfo.ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST)
HERE = "203.0.113.7"
BROWSER = "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"
Action = AccessEvent.Action
WRITES = ("INSERT", "UPDATE", "DELETE")

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger is PostgreSQL's"
)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def client_of(user) -> Client:
    client = Client(REMOTE_ADDR=HERE, HTTP_USER_AGENT=BROWSER)
    client.force_login(user)
    return client


def member_of(account, role: str) -> Client:
    return client_of(MembershipFactory(organization=account.organization, role=role).user)


def events(action: str) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(action=action).order_by("id"))


def only(action: str) -> AccessEvent:
    found = events(action)
    assert len(found) == 1, found
    return found[0]


def writes(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().startswith(WRITES)]


def recorded(captured) -> list[str]:
    """The statements that wrote to the access record."""
    return [sql for sql in writes(captured) if AccessEvent._meta.db_table in sql]


@pytest.fixture
def owner(alice) -> Client:
    """alice's owner, signed in from HERE with a browser."""
    return client_of(alice.user)


# Sign-in, sign-out, failed sign-in ---------------------------------------------------------


def test_signing_in_and_out_is_recorded_for_each_organization_of_the_person(alice, bob):
    person = UserFactory(username="manager")
    for account in (alice, bob):
        MembershipFactory(user=person, organization=account.organization)
    client = Client(REMOTE_ADDR=HERE, HTTP_USER_AGENT=BROWSER)
    response = client.post("/login/", {"username": "manager", "password": "password-123"})
    assert response.status_code == 302
    signed_in = [e for e in events(Action.SIGNED_IN) if e.user == person]
    assert {e.organization for e in signed_in} == {alice.organization, bob.organization}
    for event in signed_in:
        assert (event.user, event.username, event.address) == (person, "manager", HERE)
        assert event.user_agent == BROWSER
        assert event.organization_name == event.organization.name
    client.post("/logout/")
    assert len(events(Action.SIGNED_OUT)) == 2
    assert all(e.user == person for e in events(Action.SIGNED_OUT))


def test_a_failed_sign_in_names_the_account_tried_or_only_what_was_typed(alice):
    client = Client(REMOTE_ADDR=HERE)
    client.post("/login/", {"username": alice.user.username, "password": "wrong-guess"})
    event = only(Action.SIGN_IN_FAILED)
    assert (event.user, event.organization, event.address) == (alice.user, alice.organization, HERE)
    assert event.detail == {}
    client.post("/login/", {"username": "=nobody", "password": "wrong-guess"})
    stranger = events(Action.SIGN_IN_FAILED)[-1]
    assert (stranger.user, stranger.organization, stranger.username) == (None, None, "=nobody")
    assert not AccessEvent.objects.filter(detail__has_key="password").exists()


def test_a_sign_in_the_throttle_refuses_is_one_failure_marked_throttled(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    client = Client(REMOTE_ADDR=HERE)
    answers = [
        client.post("/login/", {"username": alice.user.username, "password": "guess"}).status_code
        for _ in range(3)
    ]
    assert answers == [200, 200, 429]
    failures = events(Action.SIGN_IN_FAILED)
    assert len(failures) == 3  # one event an attempt, never two
    assert [e.detail for e in failures] == [{}, {}, {"throttled": True}]


# Sends ------------------------------------------------------------------------------------


def test_viewing_a_send_is_one_insert_recorded_masked_or_revealed(alice, owner):
    send = make_send(alice.organization, sender=alice.phone, outcomes=["success", "failure"])
    with CaptureQueriesContext(connection) as captured:
        assert owner.get(f"/results/{send.pk}/").status_code == 200
    assert len(writes(captured)) == len(recorded(captured)) == 1
    event = only(Action.SEND_VIEWED)
    assert (event.object_type, event.object_id) == ("sendrequest", send.pk)
    assert (event.user, event.organization, event.address) == (alice.user, alice.organization, HERE)
    assert event.detail == {"numbers": "masked"}
    session = owner.session
    masking.reveal(session, send.pk, timezone.now())
    session.save()
    owner.get(f"/results/{send.pk}/?recipient=010-1234-5678")
    assert events(Action.SEND_VIEWED)[-1].detail == {
        "numbers": "revealed",
        "recipients": ["010-****-5678"],
    }


def test_the_list_records_only_a_search_by_recipient_number(alice, owner):
    make_send(alice.organization, sender=alice.phone, recipients=["01012345678"])
    owner.get("/results/?status=completed")
    assert not events(Action.SENDS_SEARCHED)
    owner.get("/results/?recipient=010-1234-5678&recipient=5678")
    event = only(Action.SENDS_SEARCHED)
    assert event.detail == {"recipients": ["010-****-5678", "…5678"]}
    assert "01012345678" not in str(event.detail) and "1234" not in str(event.detail)


def test_another_organizations_send_records_nothing(alice, bob, owner):
    theirs = make_send(bob.organization, sender=bob.phone)
    assert owner.get(f"/results/{theirs.pk}/").status_code == 404
    assert not events(Action.SEND_VIEWED)


# Exports and statements -------------------------------------------------------------------


def test_an_export_asked_for_and_downloaded(alice, owner, django_capture_on_commit_callbacks):
    make_send(
        alice.organization, sender=alice.phone, recipients=["01012345678"], body="홍길동님 안내"
    )
    query = "recipient=01012345678&q=홍길동&status=completed"
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/exports/new/", {"kind": "deliveries", "file_format": "csv", "query": query})
    export = Export.objects.get()
    asked = only(Action.EXPORT_REQUESTED)
    assert (asked.object_type, asked.object_id) == ("export", export.pk)
    assert asked.detail == {
        "filters": {"recipient": ["010-****-5678"], "q": ["홍*동"], "status": ["completed"]},
        "kind": "deliveries",
        "format": "csv",
        "numbers": "masked",
    }
    assert describe(asked) == (
        "번호: 가림 · 필터: 처리상태=처리완료; 메시지 내용=홍*동; 수신번호=010-****-5678"
        " · 형식: 수신자별 (한 줄에 한 수신자) · 파일 형식: CSV (UTF-8)"
    )
    with CaptureQueriesContext(connection) as captured:
        response = owner.get(f"/exports/{export.pk}/download/")
        b"".join(response.streaming_content)
    assert response.status_code == 200
    assert len(writes(captured)) == len(recorded(captured)) == 1
    downloaded = only(Action.EXPORT_DOWNLOADED)
    assert (
        downloaded.detail["rows"] == 1 and downloaded.detail["filters"] == asked.detail["filters"]
    )
    assert "홍길동" not in str(downloaded.detail)


def test_a_statement_issued_downloaded_and_verified(
    alice, owner, django_capture_on_commit_callbacks
):
    make_send(alice.organization, sender=alice.phone, requested_at=NOW - dt.timedelta(days=40))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            "/statements/",
            {"period_from": "2026-10-01", "period_to": "2026-10-31", "sender": alice.phone.pk},
        )
    assert response.status_code == 302
    statement = Statement.objects.get()
    issued = only(Action.STATEMENT_ISSUED)
    assert issued.object_id == statement.pk
    assert issued.detail == {
        "number": statement.number,
        "period": ["2026-10-01", "2026-10-31"],
        "sender": str(alice.phone),
        "channel": "",
        "appendix": False,
    }
    response = owner.get(f"/statements/{statement.pk}/download/")
    b"".join(response.streaming_content)
    assert only(Action.STATEMENT_DOWNLOADED).detail["number"] == statement.number

    visitor = Client(REMOTE_ADDR="198.51.100.20")
    code = statement.verification_code.lower()
    assert visitor.get(f"/statements/verify/{code}/").status_code == 200
    assert visitor.get("/statements/verify/AAAA-BBBB-CCCC/").status_code == 404
    assert visitor.get("/statements/verify/%00nonsense/").status_code == 404
    found, unknown, nonsense = events(Action.STATEMENT_VERIFIED)
    assert (found.user, found.username, found.address) == (None, "", "198.51.100.20")
    assert found.organization == alice.organization  # the statement's: its owners see it
    assert found.detail["found"] is True and found.object_id == statement.pk
    assert unknown.detail == {"code": "AAAA-BBBB-CCCC", "found": False}
    assert unknown.organization is None
    assert nonsense.detail == {"code": "nonsense", "found": False}


def test_the_exports_and_statements_lists_record_nothing(alice, owner):
    for page in ("/exports/", "/statements/", "/results/"):
        with CaptureQueriesContext(connection) as captured:
            assert owner.get(page).status_code == 200
        assert not recorded(captured), page


# Keys and members -------------------------------------------------------------------------


def test_api_keys_created_and_revoked(alice, owner):
    owner.post("/settings/api-keys/", {"name": "발송 서버"})
    key = ApiKey.objects.get()
    created = only(Action.API_KEY_CREATED)
    assert created.object_id == key.pk
    assert created.detail == {"name": "발송 서버", "prefix": key.prefix}
    owner.post(f"/settings/api-keys/{key.pk}/revoke/")
    owner.post(f"/settings/api-keys/{key.pk}/revoke/")  # already revoked: nothing more
    assert only(Action.API_KEY_REVOKED).object_id == key.pk


def test_members_invited_joined_changed_and_removed(alice, owner):
    owner.post("/settings/members/", {"email": "jiwoo@example.com", "role": "operator"})
    invitation = Invitation.objects.get()
    invited = only(Action.MEMBER_INVITED)
    assert (invited.object_type, invited.object_id) == ("invitation", invitation.pk)
    assert invited.detail == {"email": "jiwoo@example.com", "role": "operator"}

    person = UserFactory(username="jiwoo", email="jiwoo@example.com")
    client = client_of(person)
    path = reverse("invitation", kwargs={"token": invitations.make_token(invitation)})
    assert client.post(path).status_code == 302
    joined = only(Action.MEMBER_JOINED)
    assert (joined.user, joined.organization) == (person, alice.organization)
    membership = Membership.objects.get(user=person)

    owner.post(f"/settings/members/{membership.pk}/role/", {"role": "viewer"})
    changed = only(Action.ROLE_CHANGED)
    assert (changed.user, changed.object_id) == (alice.user, membership.pk)
    assert changed.detail == {"member": "jiwoo", "role": "viewer"}
    assert describe(changed) == "구성원: jiwoo · 역할: 조회자"

    owner.post(f"/settings/members/{membership.pk}/remove/")
    assert only(Action.MEMBER_REMOVED).detail == {"member": "jiwoo", "role": "viewer"}


def test_revealing_a_sends_numbers_is_recorded(alice, owner):
    send = make_send(alice.organization, sender=alice.phone)
    owner.post(f"/results/{send.pk}/reveal/")
    revealed = only(Action.NUMBERS_REVEALED)
    assert (revealed.object_id, revealed.user) == (send.pk, alice.user)
    assert "표시 기한: 2026-11-27 14:" in describe(revealed)
    owner.get(f"/results/{send.pk}/")
    assert events(Action.SEND_VIEWED)[-1].detail == {"numbers": "revealed"}


# Append-only ------------------------------------------------------------------------------


def test_the_application_refuses_to_change_or_delete_an_event(alice, owner):
    send = make_send(alice.organization, sender=alice.phone)
    owner.get(f"/results/{send.pk}/")
    event = only(Action.SEND_VIEWED)
    event.detail = {"numbers": "masked", "note": "edited"}
    with pytest.raises(AccessRecordIsAppendOnly):
        event.save()
    with pytest.raises(AccessRecordIsAppendOnly):
        event.delete()
    with pytest.raises(AccessRecordIsAppendOnly):
        AccessEvent.objects.filter(pk=event.pk).update(username="someone else")
    with pytest.raises(AccessRecordIsAppendOnly):
        AccessEvent.objects.all().delete()
    event.refresh_from_db()
    assert event.detail == {"numbers": "masked"} and event.username == alice.user.username


def test_the_admin_shows_events_read_only(alice, owner):
    staff = UserFactory(is_staff=True, is_superuser=True)
    admin = client_of(staff)
    event = events(Action.SIGNED_IN)[0]  # the owner's sign-in
    page = admin.get(f"/admin/sendon_results/accessevent/{event.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin.post(f"/admin/sendon_results/accessevent/{event.pk}/delete/").status_code == 403
    assert admin.get("/admin/sendon_results/accessevent/add/").status_code == 403
    listing = admin.get("/admin/sendon_results/accessevent/").content.decode()
    assert "delete_selected" not in listing
    assert AccessEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_person_keeps_their_events_under_their_name(alice, owner):
    person = MembershipFactory(organization=alice.organization).user
    client_of(person).get("/results/")
    signed_in = AccessEvent.objects.get(action=Action.SIGNED_IN, username=person.username)
    person.delete()
    signed_in.refresh_from_db()
    assert signed_in.user is None and signed_in.username == person.username
    assert signed_in.organization == alice.organization


@on_postgresql
def test_the_database_refuses_update_and_delete_but_the_purge(transactional_db, alice):
    event = events(Action.SIGNED_IN)[0]  # alice's
    other = AccessEvent.objects.create(action=Action.SIGNED_IN, username="other")
    table = AccessEvent._meta.db_table
    for sql in (
        f"UPDATE {table} SET username = 'someone else' WHERE id = %s",
        f"UPDATE {table} SET user_id = NULL, detail = '{{\"rows\": 1}}' WHERE id = %s",
        f"UPDATE {table} SET organization_id = NULL, organization_name = '' WHERE id = %s",
        f"UPDATE {table} SET at = at - interval '3 years' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.username == alice.user.username and event.detail == {}
    # What deleting a person or an organization asks: their keys set to NULL, nothing else.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET user_id = NULL WHERE id = %s", [event.pk])
    # Not back, though.
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET user_id = %s WHERE id = %s", [alice.user.pk, event.pk]
            )
    # The purge's permission lasts its transaction, and no longer.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL sendon.audit_purge = 'on'")
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [event.pk])
        assert cursor.rowcount == 1
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [other.pk])


@on_postgresql
def test_the_purge_leaves_no_permission_behind_in_its_transaction(db, alice):
    """Inside a caller's transaction (the test's), the purge's batches are savepoints: the
    setting is turned off again after each DELETE, so the rest may delete nothing."""
    AccessEvent.objects.create(at=NOW - dt.timedelta(days=800), action=Action.SIGNED_IN)
    assert retention.purge_expired().access_events == 1
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {AccessEvent._meta.db_table}")


# Retention --------------------------------------------------------------------------------


def test_the_purge_removes_only_events_older_than_the_retention(db, settings, monkeypatch):
    settings.AUDIT_RETENTION_DAYS = 730
    monkeypatch.setattr(retention, "ACCESS_EVENT_BATCH", 2)  # several batches
    monkeypatch.setattr(retention, "BATCH_PAUSE", 0)
    cutoff = NOW - dt.timedelta(days=730)
    ages = [cutoff - dt.timedelta(days=30), cutoff - dt.timedelta(seconds=1), cutoff]
    ages += [cutoff + dt.timedelta(seconds=1), NOW]
    ages += [cutoff - dt.timedelta(days=400), cutoff - dt.timedelta(days=2)]
    for at in ages:
        AccessEvent.objects.create(at=at, action=Action.SIGNED_IN, username="old")
    assert retention.purge_expired(dry_run=True).access_events == 4
    assert AccessEvent.objects.count() == 7
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "4 access events" in out.getvalue()
    assert sorted(AccessEvent.objects.values_list("at", flat=True)) == [
        cutoff,
        cutoff + dt.timedelta(seconds=1),
        NOW,
    ]
    assert PurgeLog.objects.filter(dry_run=False).get().access_events == 4
    # And again: nothing more to purge.
    assert retention.purge_expired().access_events == 0


def test_the_purge_follows_the_configured_retention(db, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    AccessEvent.objects.create(at=NOW - dt.timedelta(days=366), action=Action.SIGNED_IN)
    AccessEvent.objects.create(at=NOW - dt.timedelta(days=364), action=Action.SIGNED_IN)
    assert retention.purge_expired().access_events == 1


# /audit/ ----------------------------------------------------------------------------------


def test_only_owners_see_the_access_record(alice, owner):
    assert owner.get("/audit/").status_code == 200
    for role in (Membership.Role.OPERATOR, Membership.Role.VIEWER):
        client = member_of(alice, role)
        response = client.get("/audit/")
        assert response.status_code == 403, role
        assert "소유자" in response.content.decode()
        assert client.get("/audit/export/").status_code == 403
        assert 'href="/audit/"' not in client.get("/results/").content.decode()
    assert 'href="/audit/"' in owner.get("/results/").content.decode()


def test_the_record_shows_the_organizations_events_newest_first(alice, bob, owner):
    mine = make_send(alice.organization, sender=alice.phone)
    theirs = make_send(bob.organization, sender=bob.phone)
    owner.get(f"/results/{mine.pk}/")
    client_of(bob.user).get(f"/results/{theirs.pk}/")
    response = owner.get("/audit/")
    rows = [event for event, _object, _detail in response.context["events"]]
    assert [e.action for e in rows] == [Action.SEND_VIEWED, Action.SIGNED_IN, Action.SIGNED_IN]
    assert all(e.organization == alice.organization for e in rows)
    html = response.content.decode()
    assert f'href="/results/{mine.pk}/"' in html and f"/results/{theirs.pk}/" not in html
    assert "번호: 가림" in html and HERE in html


def test_the_record_filters_by_person_action_and_period(alice, owner):
    operator = MembershipFactory(organization=alice.organization).user
    send = make_send(alice.organization, sender=alice.phone)
    with time_machine.travel(NOW - dt.timedelta(days=3), tick=False):
        client_of(operator).get(f"/results/{send.pk}/")
    owner.get(f"/results/{send.pk}/")

    def shown(query: str) -> list[tuple[str, str]]:
        response = owner.get(f"/audit/?{query}")
        assert response.status_code == 200, response.content.decode()[-2000:]
        return [(e.username, e.action) for e, _o, _d in response.context["events"]]

    assert shown(f"person={operator.pk}") == [
        (operator.username, Action.SEND_VIEWED),
        (operator.username, Action.SIGNED_IN),
    ]
    assert shown("action=send_viewed") == [
        (alice.user.username, Action.SEND_VIEWED),
        (operator.username, Action.SEND_VIEWED),
    ]
    three_days_ago = (NOW - dt.timedelta(days=3)).date().isoformat()
    assert shown(f"date_from={three_days_ago}&date_to={three_days_ago}") == [
        (operator.username, Action.SEND_VIEWED),
        (operator.username, Action.SIGNED_IN),
    ]
    assert shown("action=signed_out") == []
    bad_queries = (
        "date_from=2026-13-45",
        "date_from=2026-11-27&date_to=2026-11-01",
        "date_from=1999-12-31",
        "action=nothing",
        "person=99999",
        "person=x",
        "cursor=forged",
    )
    for bad in bad_queries:
        assert owner.get(f"/audit/?{bad}").status_code == 400, bad
    stranger = UserFactory()
    assert owner.get(f"/audit/?person={stranger.pk}").status_code == 400


def test_the_record_is_paginated_by_keyset(alice, owner):
    for i in range(120):
        AccessEvent.objects.create(
            at=NOW - dt.timedelta(minutes=i // 2),  # ties on `at`: the id decides
            action=Action.SEND_VIEWED,
            organization=alice.organization,
            username=f"u{i:03d}",
        )
    seen, url = [], "/audit/?action=send_viewed"
    while url:
        response = owner.get(url)
        page = response.context["page"]
        seen += [e.username for e in page.rows]
        url = f"/audit/?action=send_viewed&cursor={page.next_cursor}" if page.next_cursor else ""
    # Newest first; of two at the same moment, the later id first.
    assert seen == [f"u{i:03d}" for k in range(60) for i in (2 * k + 1, 2 * k)]


def test_the_record_page_costs_the_same_queries_whatever_it_holds(
    alice, owner, django_assert_num_queries
):
    for _ in range(80):
        AccessEvent.objects.create(action=Action.SEND_VIEWED, organization=alice.organization)
    # session, user, membership with its organization, the members for the person filter,
    # the page's events
    with django_assert_num_queries(5) as captured:
        owner.get("/audit/")
    assert not writes(captured)


def test_the_csv_holds_the_filtered_record_formula_safe_and_is_itself_recorded(alice, owner):
    Client(REMOTE_ADDR=HERE).post("/login/", {"username": alice.user.username, "password": "wrong"})
    AccessEvent.objects.create(
        action=Action.SIGN_IN_FAILED,
        organization=alice.organization,
        username='=HYPERLINK("http://evil")',
        user_agent="@SUM(1)",
    )
    response = owner.get("/audit/export/?action=sign_in_failed")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "filename*=utf-8''" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0][:3] == ["일시", "사람", "작업"]
    assert len(rows) == 3
    assert rows[1][1] == '\'=HYPERLINK("http://evil")' and rows[1][6] == "'@SUM(1)"
    assert rows[2][1] == alice.user.username and rows[2][2] == "로그인 실패"
    exported = only(Action.RECORD_EXPORTED)
    assert exported.detail == {"filters": {"action": ["sign_in_failed"]}, "rows": 2}
    assert exported.user == alice.user


def test_an_event_says_what_it_recorded_in_words(alice):
    event = AccessEvent(
        detail={"numbers": "revealed", "reason": "고객 문의 회신", "rows": 1204, "found": False}
    )
    assert describe(event) == "번호: 표시 · 사유: 고객 문의 회신 · 행 수: 1,204 · 찾음: 아니요"


def test_signing_in_through_the_admin_is_recorded_too(db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR=HERE)
    client.post("/admin/login/", {"username": staff.username, "password": "password-123"})
    assert only(Action.SIGNED_IN).user == staff
    assert only(Action.SIGNED_IN).address == HERE


# The record in words: every kind of event's detail -------------------------------------------


def test_a_recipient_history_search_and_reveal_read_in_korean(alice, owner, settings):
    settings.REVEAL_MINUTES = 10
    make_send(alice.organization, sender=alice.phone, recipients=["01012345678"])
    owner.get("/recipients/?number=010-1234-5678&requested_from=20261101&requested_to=2026.11.27")
    searched = only(Action.SENDS_SEARCHED)
    assert describe(searched) == (
        "번호: 가림 · 수신번호: 010-****-5678 · 기간: 2026-11-01 ~ 2026-11-27"
        " · 페이지: 수신번호 이력"
    )
    owner.post("/recipients/reveal/?number=01012345678")
    revealed = describe(only(Action.NUMBERS_REVEALED))
    assert revealed == (
        "수신번호: 010-****-5678 · 표시 기한: 2026-11-27 14:10 · 표시 시간: 10분"
        " · 페이지: 수신번호 이력"
    )
    page = owner.get("/audit/").content.decode()
    assert "recipient_history" not in page and "page:" not in page
    assert "2026-11-01 ~ 2026-11-27" in page


def test_an_english_page_reads_the_detail_in_english(alice):
    event = AccessEvent(
        detail={
            "recipients": ["010-****-5678"],
            "period": ["2026-11-07", "2026-12-06"],
            "minutes": 1,
            "page": "recipient_history",
        }
    )
    with translation.override("en"):
        assert describe(event) == (
            "Recipient number: 010-****-5678 · Period: 2026-11-07 ~ 2026-12-06"
            " · Shown for: 1 minute · Page: Recipient history"
        )


@pytest.mark.parametrize(
    ("detail", "words"),
    [
        (
            {
                "number": "202610-0001",
                "period": ["2026-10-01", "2026-10-31"],
                "sender": "",
                "channel": "",
                "appendix": False,
            },
            "내역서 번호: 202610-0001 · 기간: 2026-10-01 ~ 2026-10-31 · 발신정보: 모든 발신정보"
            " · 채널: 모든 채널 · 발송 목록 포함: 아니요",
        ),
        (
            {"sender": "고객센터 (02-1234-5678)", "channel": "alimtalk", "appendix": True},
            "발신정보: 고객센터 (02-1234-5678) · 채널: 알림톡 · 발송 목록 포함: 예",
        ),
        (
            {
                "kind": "deliveries",
                "filters": {"outcome": ["failure"], "final_channel": ["sms"]},
                "format": "xlsx",
                "numbers": "masked",
                "rows": 3,
            },
            "번호: 가림 · 필터: 발송 현황=실패; 최종 채널=SMS · 형식: 수신자별 (한 줄에 한 수신자)"
            " · 파일 형식: Excel (.xlsx) · 행 수: 3",
        ),
        (
            {
                "filters": {
                    "action": ["sign_in_failed", "send_viewed"],
                    "person": ["7 jiwoo"],
                    "date_from": ["2026-11-01"],
                },
                "rows": 2,
            },
            "필터: 사람=jiwoo; 작업=로그인 실패, 발송 상세 조회; 시작일=2026-11-01 · 행 수: 2",
        ),
        ({"split": "channel"}, "시트: 채널별 시트"),
        ({"throttled": True}, "로그인 시도 제한으로 거부: 예"),
    ],
    ids=["statement-all", "statement-one", "failed-export", "record-export", "split", "throttle"],
)
def test_each_detail_reads_in_korean(db, detail, words):
    assert describe(AccessEvent(detail=detail)) == words


# The record's period boxes ----------------------------------------------------------------


@pytest.mark.parametrize("typed", ["20261124", "2026.11.24", "2026. 11. 24.", "2026/11/24"])
def test_the_records_period_is_typed_as_yyyy_mm_dd_or_without_dashes(alice, owner, typed):
    send = make_send(alice.organization, sender=alice.phone)
    with time_machine.travel(NOW - dt.timedelta(days=3), tick=False):
        owner.get(f"/results/{send.pk}/")
    owner.get(f"/results/{send.pk}/")  # today: not in the period
    response = owner.get(f"/audit/?date_from={typed}&date_to={typed}")
    assert response.status_code == 200
    assert [e.at.date() for e, _o, _d in response.context["events"]] == [dt.date(2026, 11, 24)]
    assert 'value="2026-11-24"' in response.content.decode()  # shown the way to type it


def test_the_records_period_boxes_are_text_boxes_and_a_wrong_day_says_how_to_type_it(owner):
    page = owner.get("/audit/").content.decode()
    assert 'type="date"' not in page and page.count('placeholder="yyyy-mm-dd"') == 2
    response = owner.get("/audit/?date_from=2026-11-31")
    assert response.status_code == 400
    assert "올바른 날짜를 입력하세요(yyyy-mm-dd, 예: 2026-12-06)." in response.content.decode()


def test_a_page_made_again_after_its_replica_failed_records_its_access_once(
    alice, owner, monkeypatch
):
    """A page a replica failed during (a query cancelled after the access was recorded) is
    made again from the primary with the same request: the send was viewed once."""
    send = make_send(alice.organization, sender=alice.phone)
    # A replica chosen for the page, which fails once the access is recorded.
    monkeypatch.setattr(replicas, "aliases", lambda: ["replica1"])
    monkeypatch.setattr(replicas.ReplicaReadsMiddleware, "replica_for", lambda self, r: "replica1")
    monkeypatch.setattr(replicas, "reads_from", lambda alias: contextlib.nullcontext())
    monkeypatch.setattr(replicas.ReplicaReadsMiddleware, "failed", staticmethod(lambda a: True))
    render, made = results_views.render_page_or_fragment, []

    def fails_the_first_time(*args, **kwargs):
        made.append(True)
        if len(made) == 1:
            raise DatabaseError("canceling statement due to conflict with recovery")
        return render(*args, **kwargs)

    monkeypatch.setattr(results_views, "render_page_or_fragment", fails_the_first_time)
    owner.raise_request_exception = False  # the first try's error is logged, not raised
    assert owner.get(f"/results/{send.pk}/").status_code == 200
    assert len(made) == 2
    assert len(events(Action.SEND_VIEWED)) == 1
