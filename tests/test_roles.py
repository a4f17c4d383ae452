"""Who may do what: every URL of the console against every role, signed out and another
organization's owner; the members page (invitations, roles, removal, the last owner); the
organization's statements."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from sendon_results.accounts import invitations
from sendon_results.accounts.memberships import (
    LastOwner,
    NotAnOwner,
    change_role,
    remove_member,
)
from sendon_results.api.keys import create_key
from sendon_results.demo import ensure_demo_accounts
from sendon_results.models import (
    Confirmation,
    Export,
    Invitation,
    Membership,
    Organization,
    Statement,
)
from sendon_results.statements.codes import new_verification_code
from tests.conftest import Account
from tests.factories import MembershipFactory, UserFactory, make_send

Role = Membership.Role
CLIENTS = ("signed_out", "viewer", "operator", "owner", "other")

# What a request may answer, besides a status code: a redirect to the sign-in page (with
# `next`), to the admin's sign-in page, or elsewhere (the page after a form).
LOGIN = "302 sign-in"
ADMIN_LOGIN = "302 admin sign-in"
REDIRECT = "302"
SIGNED_OUT = "302 signed out"  # to the sign-in page, without a `next`


# A world to ask about: alice's organization with an owner, an operator and a viewer; a
# send, an export the operator asked for, a statement the operator issued, an API key, a
# pending invitation; and bob, the owner of another organization.


@dataclass
class World:
    alice: Account
    bob: Account
    clients: dict[str, Client]
    operator: Membership
    viewer: Membership
    send_pk: int
    export: Export
    statement: Statement
    confirmation: Confirmation
    key_pk: int
    invitation: Invitation
    token: str


def make_world() -> World:
    alice, bob = Account("alice-org"), Account("bob-org")
    operator = MembershipFactory(organization=alice.organization, role=Role.OPERATOR)
    viewer = MembershipFactory(organization=alice.organization, role=Role.VIEWER)
    clients = {"signed_out": Client(), "owner": alice.client, "other": bob.client}
    for name, membership in (("operator", operator), ("viewer", viewer)):
        clients[name] = Client()
        clients[name].force_login(membership.user)
    send = make_send(alice.organization, sender=alice.phone)
    export = done_export(alice.organization, operator.user)
    statement = done_statement(alice.organization, operator.user)
    confirmation = done_confirmation(alice.organization, operator.user)
    key, _ = create_key(organization=alice.organization, name="발송 서버", user=alice.user)
    invitation = Invitation.objects.create(
        organization=alice.organization,
        email="new@example.com",
        role=Role.VIEWER,
        invited_by=alice.user,
    )
    return World(
        alice=alice,
        bob=bob,
        clients=clients,
        operator=operator,
        viewer=viewer,
        send_pk=send.pk,
        export=export,
        statement=statement,
        confirmation=confirmation,
        key_pk=key.pk,
        invitation=invitation,
        token=invitations.make_token(invitation),
    )


def done_export(organization: Organization, user: User) -> Export:
    export = Export.objects.create(
        organization=organization,
        created_by=user,
        kind=Export.Kind.SENDS,
        file_format=Export.Format.CSV,
        state=Export.State.DONE,
        file_name="발송결과.csv",
        row_count=1,
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    export.file.save("exported.csv", ContentFile(b"a,b\n"))
    return export


def done_statement(organization: Organization, user: User, number: str = "0001") -> Statement:
    today = timezone.localdate()
    statement = Statement.objects.create(
        organization=organization,
        created_by=user,
        period_from=today - dt.timedelta(days=30),
        period_to=today - dt.timedelta(days=1),
        number=f"ST-{today:%Y-%m}-{number}",
        verification_code=f"7K3F9QHW{number}",
        state=Statement.State.DONE,
        row_count=2,
        file_name=f"ST-{today:%Y-%m}-{number}.pdf",
        figures={"organization": organization.name, "total": {"messages": 2, "success": 2}},
        fingerprint="0" * 64,
        expires_at=timezone.now() + dt.timedelta(days=365),
    )
    statement.file.save("statement.pdf", ContentFile(b"%PDF-1.7\n"))
    return statement


def done_confirmation(organization: Organization, user: User) -> Confirmation:
    today = timezone.localdate()
    confirmation = Confirmation.objects.create(
        organization=organization,
        created_by=user,
        recipient="01012345678",
        period_from=today - dt.timedelta(days=30),
        period_to=today,
        number=f"CF-{today:%Y-%m}-0001",
        verification_code=new_verification_code(),
        state=Confirmation.State.DONE,
        row_count=1,
        file_name=f"CF-{today:%Y-%m}-0001.pdf",
        figures={"organization": organization.name, "total": {"messages": 1}},
        fingerprint="0" * 64,
        expires_at=timezone.now() + dt.timedelta(days=365),
    )
    confirmation.file.save("confirmation.pdf", ContentFile(b"%PDF-1.7\n"))
    return confirmation


# The table: every URL of the URLconf, by name (an unnamed one by its route, an included
# URLconf by its namespace), with the requests to make and what each client gets.


@dataclass(frozen=True)
class Case:
    expect: dict[str, int | str]
    method: str = "get"
    kwargs: Callable[[World], dict[str, Any]] = lambda world: {}
    data: Callable[[World], dict[str, Any]] = lambda world: {}
    path: Callable[[World], str] | None = None  # for a URL without a name
    note: str = ""


def everyone(answer: int | str) -> dict[str, int | str]:
    return dict.fromkeys(CLIENTS, answer)


def signed_in(
    *, viewer: int | str, operator: int | str, owner: int | str, other: int | str
) -> dict[str, int | str]:
    """Signing in comes first: anyone signed out is sent to the sign-in page."""
    return {
        "signed_out": LOGIN,
        "viewer": viewer,
        "operator": operator,
        "owner": owner,
        "other": other,
    }


def send(world: World) -> dict[str, Any]:
    return {"pk": world.send_pk}


def export(world: World) -> dict[str, Any]:
    return {"pk": world.export.pk}


def statement(world: World) -> dict[str, Any]:
    return {"pk": world.statement.pk}


def confirmation(world: World) -> dict[str, Any]:
    return {"pk": world.confirmation.pk}


# Another organization's objects answer 404, never 403; an export is its maker's alone
# (the owner gets 404 for the operator's); a statement is the organization's.
THEIRS = signed_in(viewer=200, operator=200, owner=200, other=404)
OPERATORS_EXPORT = signed_in(viewer=403, operator=200, owner=404, other=404)
OWNERS_ONLY = signed_in(viewer=403, operator=403, owner=200, other=200)
API_KEY_NEEDED = everyone(401)

TABLE: dict[str, list[Case]] = {
    "index": [Case(signed_in(viewer=REDIRECT, operator=REDIRECT, owner=REDIRECT, other=REDIRECT))],
    "healthz": [Case(everyone(200))],
    "results": [Case(signed_in(viewer=200, operator=200, owner=200, other=200))],
    "dashboard": [Case(signed_in(viewer=200, operator=200, owner=200, other=200))],
    "results_summary": [Case(signed_in(viewer=200, operator=200, owner=200, other=200))],
    "failures": [Case(signed_in(viewer=200, operator=200, owner=200, other=200))],
    "recipient_history": [
        Case(
            signed_in(viewer=200, operator=200, owner=200, other=200),
            data=lambda world: {"number": "5678"},
        )
    ],
    "recipient_history_reveal": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=REDIRECT),
            method="post",
            data=lambda world: {"number": "01012345678"},
        )
    ],
    "recipient_history_conceal": [
        Case(
            signed_in(viewer=REDIRECT, operator=REDIRECT, owner=REDIRECT, other=REDIRECT),
            method="post",
        )
    ],
    "recipient_lookup": [
        Case(signed_in(viewer=200, operator=200, owner=200, other=200)),
        Case(
            signed_in(viewer=400, operator=400, owner=400, other=400),
            method="post",
            data=lambda world: {"period": "30"},
            note="no file: the form says so",
        ),
    ],
    "recipient_lookup_download": [
        Case(
            signed_in(viewer=403, operator=400, owner=400, other=400),
            method="post",
            data=lambda world: {"lookup": "x"},
            note="a token that is not valid",
        )
    ],
    "confirmation_create": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=REDIRECT),
            method="post",
            data=lambda world: {"number": "01012345678"},
        )
    ],
    "confirmation_row": [Case(THEIRS, kwargs=confirmation)],
    "confirmation_download": [Case(THEIRS, kwargs=confirmation)],
    "confirmation_retry": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            kwargs=confirmation,
        )
    ],
    "confirmation_verify_form": [Case(everyone(200))],
    "confirmation_verify": [
        Case(everyone(200), kwargs=lambda world: {"code": world.confirmation.verification_code}),
        Case(everyone(404), kwargs=lambda world: {"code": "0000-0000-0000"}),
    ],
    "result_detail": [Case(THEIRS, kwargs=send)],
    "result_reveal": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            kwargs=send,
        )
    ],
    "result_conceal": [
        Case(
            signed_in(viewer=REDIRECT, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            kwargs=send,
        )
    ],
    "result_row": [Case(THEIRS, kwargs=send)],
    "result_progress": [Case(THEIRS, kwargs=send)],
    "result_failed_export": [
        Case(
            signed_in(viewer=403, operator=200, owner=200, other=404),
            method="post",
            kwargs=send,
            note="the failed recipients' file, masked: the roles that may export",
        )
    ],
    "send_cancel": [
        Case(signed_in(viewer=403, operator=200, owner=200, other=404), kwargs=send),
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            kwargs=send,
            note="not a reservation: back to the send, which says so",
        ),
    ],
    "send_now": [
        Case(signed_in(viewer=403, operator=200, owner=200, other=404), kwargs=send),
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            kwargs=send,
            note="not a reservation: back to the send, which says so",
        ),
    ],
    "send_resend": [
        Case(signed_in(viewer=403, operator=200, owner=200, other=404), kwargs=send),
        Case(
            signed_in(viewer=403, operator=200, owner=200, other=404),
            method="post",
            kwargs=send,
            note="no failures to resend: the page says so",
        ),
    ],
    "export_list": [Case(signed_in(viewer=403, operator=200, owner=200, other=200))],
    "export_create": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=REDIRECT),
            method="post",
            data=lambda world: {"kind": "sends", "file_format": "csv"},
        )
    ],
    "export_row": [Case(OPERATORS_EXPORT, kwargs=export)],
    "export_notice": [Case(OPERATORS_EXPORT, kwargs=export)],
    "export_download": [Case(OPERATORS_EXPORT, kwargs=export)],
    "export_retry": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=404, other=404),
            method="post",
            kwargs=export,
        )
    ],
    "statement_list": [
        Case(signed_in(viewer=200, operator=200, owner=200, other=200)),
        Case(
            signed_in(viewer=403, operator=400, owner=400, other=400),
            method="post",
            data=lambda world: {"period_from": "2026-13-45"},
            note="issuing: a bad period is refused after the role is checked",
        ),
    ],
    "statement_row": [Case(THEIRS, kwargs=statement)],
    "statement_download": [Case(THEIRS, kwargs=statement)],
    "statement_retry": [
        Case(
            signed_in(viewer=403, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            kwargs=statement,
        )
    ],
    "statement_verify_form": [Case(everyone(200))],
    "statement_verify": [
        Case(everyone(200), kwargs=lambda world: {"code": world.statement.verification_code}),
        Case(everyone(404), kwargs=lambda world: {"code": "0000-0000-0000"}),
    ],
    "api_keys": [Case(OWNERS_ONLY)],
    "platform_settings": [Case(OWNERS_ONLY)],
    "platform_rotate": [
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=REDIRECT),
            method="post",
            note="no endpoint yet: back to the settings, which say so",
        )
    ],
    "platform_test": [
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=REDIRECT),
            method="post",
            note="no endpoint yet: back to the settings, which say so",
        )
    ],
    "api_key_revoke": [
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=404),
            method="post",
            kwargs=lambda world: {"pk": world.key_pk},
        )
    ],
    "members": [
        Case(OWNERS_ONLY),
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=REDIRECT),
            method="post",
            data=lambda world: {"email": "someone@example.com", "role": "operator"},
            note="inviting",
        ),
    ],
    "member_role": [
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=404),
            method="post",
            kwargs=lambda world: {"pk": world.operator.pk},
            data=lambda world: {"role": "viewer"},
        )
    ],
    "member_remove": [
        Case(
            signed_in(viewer=403, operator=403, owner=200, other=404),
            kwargs=lambda world: {"pk": world.viewer.pk},
            note="the confirmation",
        ),
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=404),
            method="post",
            kwargs=lambda world: {"pk": world.viewer.pk},
        ),
    ],
    "invitation_cancel": [
        Case(
            signed_in(viewer=403, operator=403, owner=REDIRECT, other=404),
            method="post",
            kwargs=lambda world: {"pk": world.invitation.pk},
        )
    ],
    # Public: someone without an account opens it. Alice's members are members already;
    # bob is signed in with an account that is not the one invited.
    "invitation": [
        Case(
            {"signed_out": 200, "viewer": 200, "operator": 200, "owner": 200, "other": 403},
            kwargs=lambda world: {"token": world.token},
        ),
        Case(everyone(400), kwargs=lambda world: {"token": world.token[:-2]}, note="tampered"),
    ],
    "access_record": [Case(OWNERS_ONLY)],
    "access_record_csv": [Case(OWNERS_ONLY)],
    "api_openapi": [Case(everyone(200))],
    "api_send_requests": [Case(API_KEY_NEEDED), Case(API_KEY_NEEDED, method="post")],
    "api_send_request_status": [
        Case(API_KEY_NEEDED, method="post", kwargs=lambda world: {"external_id": "send-1"})
    ],
    "api_send_request_detail": [
        Case(API_KEY_NEEDED, kwargs=lambda world: {"external_id": "send-1"})
    ],
    "api_results": [Case(API_KEY_NEEDED, method="post")],
    "api/<path:path>": [Case(everyone(404), path=lambda world: "/api/v2/anything")],
    "switch_organization": [
        Case(
            signed_in(viewer=REDIRECT, operator=REDIRECT, owner=REDIRECT, other=404),
            method="post",
            data=lambda world: {"organization": world.alice.organization.pk},
        )
    ],
    "set_language": [
        Case(everyone(REDIRECT), method="post", data=lambda world: {"language": "en"})
    ],
    "login": [
        Case(
            {
                "signed_out": 200,
                "viewer": REDIRECT,
                "operator": REDIRECT,
                "owner": REDIRECT,
                "other": REDIRECT,
            }
        )
    ],
    "logout": [
        Case(
            signed_in(viewer=SIGNED_OUT, operator=SIGNED_OUT, owner=SIGNED_OUT, other=SIGNED_OUT),
            method="post",
        )
    ],
    # Django's admin, for support staff: none of the console's users is staff.
    "admin": [
        Case(everyone(ADMIN_LOGIN), path=lambda world: reverse("admin:index")),
        Case(
            signed_in(
                viewer=ADMIN_LOGIN, operator=ADMIN_LOGIN, owner=ADMIN_LOGIN, other=ADMIN_LOGIN
            ),
            path=lambda world: reverse("admin:sendon_results_sendrequest_changelist"),
            note="the admin's own pages are the console's sign-in's first",
        ),
    ],
}


def url_keys() -> Iterator[str]:
    """Every URL of the URLconf as the table names it."""
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            assert entry.namespace, f"an included URLconf without a namespace: {entry}"
            yield entry.namespace
        elif isinstance(entry, URLPattern):
            yield entry.name or str(entry.pattern)


def test_every_url_has_an_expectation_for_every_client():
    keys = list(url_keys())
    assert len(keys) == len(set(keys)), "two URLs under one name"
    missing = set(keys) - set(TABLE)
    assert not missing, f"URLs with no expectation in TABLE: {sorted(missing)}"
    stale = set(TABLE) - set(keys)
    assert not stale, f"TABLE names URLs that no longer exist: {sorted(stale)}"
    for key, cases in TABLE.items():
        for case in cases:
            assert set(case.expect) == set(CLIENTS), key


CASES = [
    pytest.param(key, i, client, id=f"{key}-{case.method}{i or ''}-{client}")
    for key, cases in TABLE.items()
    for i, case in enumerate(cases)
    for client in CLIENTS
]


@pytest.mark.parametrize(("key", "index", "client_name"), CASES)
def test_who_gets_what(db, key, index, client_name):
    world = make_world()
    case = TABLE[key][index]
    url = case.path(world) if case.path else reverse(key, kwargs=case.kwargs(world))
    client = world.clients[client_name]
    response = getattr(client, case.method)(url, case.data(world))
    expected = case.expect[client_name]
    location = response.get("Location", "")
    if expected == LOGIN:
        assert response.status_code == 302 and location.startswith("/login/?next="), location
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302 and location.startswith("/admin/login/"), location
    elif expected == SIGNED_OUT:
        assert response.status_code == 302 and location == "/login/", location
    elif expected == REDIRECT:
        assert response.status_code == 302, response.status_code
        assert not location.startswith("/login/"), location
    else:
        assert response.status_code == expected, (response.status_code, location)
    if response.status_code == 403 and client_name in ("viewer", "operator"):
        # A forbidden action says which roles may do it.
        assert "권한이 있는 역할" in response.content.decode()


# Menus and pages show what the role may do.


def menu_of(client: Client) -> str:
    page = client.get("/results/").content.decode()
    return page[page.index('<nav class="mainnav"') : page.index("</nav>")]


def test_each_role_is_offered_only_what_it_may(db):
    world = make_world()
    menus = {name: menu_of(world.clients[name]) for name in ("viewer", "operator", "owner")}
    for name, menu in menus.items():
        assert "/results/" in menu and "/statements/" in menu, name
    assert "/exports/" not in menus["viewer"]
    assert "/exports/" in menus["operator"] and "/exports/" in menus["owner"]
    for page in ("/settings/members/", "/settings/api-keys/"):
        assert page not in menus["viewer"] and page not in menus["operator"]
        assert page in menus["owner"]
    # A viewer downloads the organization's statements but is not offered to issue one.
    statements = world.clients["viewer"].get("/statements/").content.decode()
    assert "statement-form" not in statements and "내역서 발행" not in statements
    assert f"/statements/{world.statement.pk}/download/" in statements
    assert "statement-form" in world.clients["operator"].get("/statements/").content.decode()


# Statements are the organization's.


def test_every_member_sees_the_organizations_statements_with_who_issued_them(db):
    world = make_world()
    world.operator.user.last_name, world.operator.user.first_name = "정", "우성"
    world.operator.user.save()
    mine = done_statement(world.alice.organization, world.alice.user, number="0002")
    theirs = done_statement(world.bob.organization, world.bob.user, number="0003")
    for name in ("viewer", "operator", "owner"):
        page = world.clients[name].get("/statements/").content.decode()
        assert world.statement.number in page and mine.number in page, name
        assert "정우성" in page and world.alice.user.username in page, name
        assert theirs.number not in page, name
        download = world.clients[name].get(f"/statements/{mine.pk}/download/")
        assert download.status_code == 200, name
        assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert world.clients["other"].get(f"/statements/{mine.pk}/download/").status_code == 404
    row = world.clients["viewer"].get(f"/statements/{world.statement.pk}/row/")
    assert "정우성" in row.content.decode()


def test_exports_stay_their_makers(db):
    world = make_world()
    assert "발송결과" in world.clients["operator"].get("/exports/").content.decode()
    owners = world.clients["owner"].get("/exports/").content.decode()
    assert f"/exports/{world.export.pk}/download/" not in owners


# The members page.


@pytest.fixture
def world(db) -> World:
    return make_world()


def test_the_members_page_lists_members_with_their_roles(world):
    world.operator.user.last_name, world.operator.user.first_name = "정", "우성"
    world.operator.user.email = "woosung@example.com"
    world.operator.user.save()
    page = world.clients["owner"].get("/settings/members/").content.decode()
    assert "정우성" in page and "woosung@example.com" in page
    assert page.count('class="role-form"') == 2  # alice is the only owner: hers is fixed
    assert "유일한 소유자" in page
    assert world.bob.user.username not in page
    assert "new@example.com" in page  # the invitation not accepted yet


def test_an_owner_invites_by_email_and_the_person_makes_an_account(world, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.com"
    owner = world.clients["owner"]
    response = owner.post("/settings/members/", {"email": "Jiwoo@Example.com", "role": "operator"})
    assert response.status_code == 302 and response["Location"] == "/settings/members/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["Jiwoo@example.com"]
    assert "alice-org" in message.subject and "초대" in message.subject
    assert "운영자" in message.body
    link = next(line for line in message.body.splitlines() if "/invitations/" in line).strip()
    assert link.startswith("https://console.example.com/invitations/")
    path = link.removeprefix("https://console.example.com")
    assert (
        "jiwoo@example.com 주소로 초대 메일을 보냈습니다"
        in owner.get("/settings/members/").content.decode().lower()
    )

    visitor = Client()
    page = visitor.get(path)
    assert page.status_code == 200
    assert "Jiwoo@example.com" in page.content.decode() and "운영자" in page.content.decode()
    weak = visitor.post(
        path, {"username": "jiwoo", "password1": "12345678", "password2": "12345678"}
    )
    assert weak.status_code == 400
    assert "숫자로만" in weak.content.decode() or "너무 일상적인" in weak.content.decode()
    assert not User.objects.filter(username="jiwoo").exists()
    joined = visitor.post(
        path,
        {
            "username": "jiwoo",
            "last_name": "한",
            "first_name": "지우",
            "password1": "violet-harbor-42",
            "password2": "violet-harbor-42",
        },
    )
    assert joined.status_code == 302 and joined["Location"] == "/results/"
    user = User.objects.get(username="jiwoo")
    assert user.email == "Jiwoo@example.com"
    membership = Membership.objects.get(user=user)
    assert membership.organization == world.alice.organization and membership.role == Role.OPERATOR
    assert "alice-org에 참여했습니다" in visitor.get("/results/").content.decode()
    # The link worked once.
    again = Client().get(path)
    assert again.status_code == 410 and "이미 사용된 초대" in again.content.decode()
    # Followed again by the person who accepted it: they are told they are in.
    assert "이미 alice-org의 구성원입니다" in visitor.get(path).content.decode()


def test_a_signed_in_person_accepts_with_a_post_not_by_opening_the_link(world):
    world.bob.user.email = "bob@example.com"
    world.bob.user.save()
    sent = invitations.invite(
        organization=world.alice.organization,
        email="BOB@example.com",
        role=Role.VIEWER,
        invited_by=world.alice.user,
    )
    path = reverse("invitation", kwargs={"token": invitations.make_token(sent.invitation)})
    bob = world.clients["other"]
    page = bob.get(path)
    assert page.status_code == 200 and "초대 수락" in page.content.decode()
    assert not Membership.objects.filter(
        user=world.bob.user, organization=world.alice.organization
    ).exists()
    assert bob.post(path)["Location"] == "/results/"
    membership = Membership.objects.get(user=world.bob.user, organization=world.alice.organization)
    assert membership.role == Role.VIEWER
    # Bob now works in alice's organization, as a viewer.
    assert "alice-org" in bob.get("/results/").content.decode()
    assert bob.get("/exports/").status_code == 403


def test_an_invitation_for_another_address_is_not_for_the_account_signed_in(world):
    path = reverse("invitation", kwargs={"token": world.token})
    bob = world.clients["other"]
    page = bob.get(path)
    assert page.status_code == 403
    assert "new@example.com" in page.content.decode() and "로그아웃" in page.content.decode()
    assert bob.post(path).status_code == 403
    assert not Membership.objects.filter(
        user=world.bob.user, organization=world.alice.organization
    ).exists()
    world.invitation.refresh_from_db()
    assert world.invitation.accepted_at is None


def test_someone_with_an_account_is_asked_to_sign_in(world):
    UserFactory(username="newbie", email="NEW@example.com")
    path = reverse("invitation", kwargs={"token": world.token})
    page = Client().get(path).content.decode()
    assert "이미 있습니다" in page
    assert f"/login/?next={path}" in unquote(page)


def test_expired_tampered_and_withdrawn_links_say_so(world, settings):
    path = reverse("invitation", kwargs={"token": world.token})
    visitor = Client()
    with time_machine.travel(timezone.now() + dt.timedelta(days=settings.INVITE_DAYS, seconds=5)):
        expired = visitor.get(path)
    assert expired.status_code == 410
    assert "초대가 만료되었습니다" in expired.content.decode()
    assert world.alice.user.username in expired.content.decode()  # who to ask again
    for tampered in (
        world.token[:-1] + ("A" if world.token[-1] != "A" else "B"),
        "nonsense",
        "a:b:c",
    ):
        answer = visitor.get(reverse("invitation", kwargs={"token": tampered}))
        assert answer.status_code == 400 and "올바르지 않은 초대 링크" in answer.content.decode()
    # Another organization's id written into the payload breaks the signature too.
    forged = invitations.signing.dumps(
        {"id": world.invitation.pk, "organization": world.bob.organization.pk}, salt="other"
    )
    assert visitor.get(reverse("invitation", kwargs={"token": forged})).status_code == 400
    # Cancelled by an owner.
    assert (
        world.clients["owner"]
        .post(f"/settings/members/invitations/{world.invitation.pk}/cancel/")
        .status_code
        == 302
    )
    withdrawn = visitor.get(path)
    assert withdrawn.status_code == 410 and "취소" in withdrawn.content.decode()


def test_inviting_the_same_address_again_replaces_the_first_link(world):
    owner = world.clients["owner"]
    owner.post("/settings/members/", {"email": "new@example.com", "role": "operator"})
    assert Invitation.objects.filter(email="new@example.com").count() == 1
    old = Client().get(reverse("invitation", kwargs={"token": world.token}))
    assert old.status_code == 410
    newest = Invitation.objects.get(email="new@example.com")
    assert newest.role == Role.OPERATOR
    fresh = Client().get(reverse("invitation", kwargs={"token": invitations.make_token(newest)}))
    assert fresh.status_code == 200


def test_a_member_is_not_invited_twice_and_bad_addresses_are_refused(world):
    world.operator.user.email = "op@example.com"
    world.operator.user.save()
    owner = world.clients["owner"]
    member = owner.post("/settings/members/", {"email": "OP@example.com", "role": "viewer"})
    assert member.status_code == 400 and "이미 구성원" in member.content.decode()
    bad = owner.post("/settings/members/", {"email": "not an address", "role": "viewer"})
    assert bad.status_code == 400
    unknown_role = owner.post("/settings/members/", {"email": "a@example.com", "role": "admin"})
    assert unknown_role.status_code == 400
    assert not mail.outbox


def test_a_mail_server_that_fails_keeps_no_invitation(world, monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(invitations, "send_mail", refuse)
    response = world.clients["owner"].post(
        "/settings/members/", {"email": "late@example.com", "role": "viewer"}
    )
    assert response.status_code == 503
    assert "초대 메일을 보내지 못했습니다" in response.content.decode()
    assert not Invitation.objects.filter(email="late@example.com").exists()
    # Inviting an address again when the mail fails leaves its earlier link working.
    again = world.clients["owner"].post(
        "/settings/members/", {"email": "new@example.com", "role": "owner"}
    )
    assert again.status_code == 503
    assert Client().get(reverse("invitation", kwargs={"token": world.token})).status_code == 200


def test_an_owner_changes_roles_and_the_new_role_applies_at_once(world):
    owner = world.clients["owner"]
    response = owner.post(f"/settings/members/{world.operator.pk}/role/", {"role": "viewer"})
    assert response.status_code == 302 and response["Location"] == "/settings/members/"
    world.operator.refresh_from_db()
    assert world.operator.role == Role.VIEWER
    assert world.clients["operator"].get("/exports/").status_code == 403
    owner.post(f"/settings/members/{world.viewer.pk}/role/", {"role": "owner"})
    assert world.clients["viewer"].get("/settings/members/").status_code == 200
    bad = owner.post(f"/settings/members/{world.operator.pk}/role/", {"role": "admin"})
    assert bad.status_code == 400


def test_removing_asks_first_and_works_without_javascript(world):
    owner = world.clients["owner"]
    confirm = owner.get(f"/settings/members/{world.viewer.pk}/remove/")
    page = confirm.content.decode()
    assert confirm.status_code == 200
    assert world.viewer.user.username in page and '<form method="post"' in page
    assert Membership.objects.filter(pk=world.viewer.pk).exists()  # asking removes nothing
    removed = owner.post(f"/settings/members/{world.viewer.pk}/remove/")
    assert removed.status_code == 302 and removed["Location"] == "/settings/members/"
    assert not Membership.objects.filter(pk=world.viewer.pk).exists()
    assert User.objects.filter(pk=world.viewer.user.pk).exists()  # the account stays
    gone = world.clients["viewer"].get("/results/")
    assert gone.status_code == 403 and "소속된 조직이 없습니다" in gone.content.decode()
    # The statements the operator issued stay the organization's when they leave.
    owner.post(f"/settings/members/{world.operator.pk}/remove/")
    assert world.statement.number in owner.get("/statements/").content.decode()


def test_an_organization_always_keeps_an_owner(world):
    owner = world.clients["owner"]
    alice = Membership.objects.get(user=world.alice.user, organization=world.alice.organization)
    demoted = owner.post(f"/settings/members/{alice.pk}/role/", {"role": "operator"})
    assert demoted.status_code == 302
    assert "소유자가 한 명 이상" in owner.get("/settings/members/").content.decode()
    alice.refresh_from_db()
    assert alice.role == Role.OWNER
    confirm = owner.get(f"/settings/members/{alice.pk}/remove/").content.decode()
    assert "유일한 소유자" in confirm and 'type="submit" class="danger"' not in confirm
    owner.post(f"/settings/members/{alice.pk}/remove/")
    assert Membership.objects.filter(pk=alice.pk).exists()

    # With a second owner, the first may step down; then the pages of an owner are not
    # theirs any more.
    owner.post(f"/settings/members/{world.operator.pk}/role/", {"role": "owner"})
    stepped_down = owner.post(f"/settings/members/{alice.pk}/role/", {"role": "operator"})
    assert stepped_down["Location"] == "/results/"
    assert owner.get("/settings/members/").status_code == 403
    operator = world.clients["operator"]
    assert operator.post(f"/settings/members/{world.operator.pk}/remove/").status_code == 302
    assert Membership.objects.filter(pk=world.operator.pk).exists()


def test_a_change_by_someone_no_longer_an_owner_is_refused(world):
    alice = Membership.objects.get(user=world.alice.user, organization=world.alice.organization)
    with pytest.raises(NotAnOwner):
        change_role(
            organization=world.alice.organization,
            actor=world.operator.user,
            member_id=alice.pk,
            role=Role.VIEWER,
        )
    with pytest.raises(Membership.DoesNotExist):
        remove_member(
            organization=world.alice.organization,
            actor=world.alice.user,
            member_id=Membership.objects.get(user=world.bob.user).pk,
        )


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    """Both wait for the memberships' lock; the second then finds itself demoted and may
    not change anything. Without the lock both would read two owners and leave none."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    organization = Organization.objects.create(name="둘이서")
    first = MembershipFactory(organization=organization, role=Role.OWNER)
    second = MembershipFactory(organization=organization, role=Role.OWNER)
    outcomes: dict[str, str] = {}

    def demote(actor: Membership, target: Membership) -> None:
        try:
            change_role(
                organization=organization,
                actor=actor.user,
                member_id=target.pk,
                role=Role.OPERATOR,
            )
            outcomes[actor.user.username] = "changed"
        except (LastOwner, NotAnOwner) as refused:
            outcomes[actor.user.username] = type(refused).__name__
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    with transaction.atomic():
        # Hold the lock while both start, so that both ask at the same moment.
        list(Membership.objects.select_for_update().filter(organization=organization))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1)
            assert thread.is_alive()  # waiting for the lock
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["NotAnOwner", "changed"]
    roles = sorted(
        Membership.objects.filter(organization=organization).values_list("role", flat=True)
    )
    assert roles == [Role.OPERATOR, Role.OWNER]


def test_two_acceptances_of_one_link_make_one_member(world):
    UserFactory(username="twin", email="new@example.com")
    person = User.objects.get(username="twin")
    invitations.accept(world.invitation, person)
    with pytest.raises(invitations.InvitationError) as used:
        invitations.accept(world.invitation, UserFactory(email="new@example.com"))
    assert used.value.problem == invitations.Problem.USED
    assert (
        Membership.objects.filter(
            organization=world.alice.organization, user__email="new@example.com"
        ).count()
        == 1
    )


def test_the_demo_has_a_viewer(db):
    logins = ensure_demo_accounts()
    assert ("viewer", "viewer-demo-2026") in logins
    viewer = Membership.objects.get(user__username="viewer")
    assert viewer.role == Role.VIEWER and viewer.organization.name == "한빛커머스"
    assert (viewer.user.last_name, viewer.user.first_name) == ("최", "민지")
    client = Client()
    assert client.login(username="viewer", password="viewer-demo-2026")
    assert client.get("/exports/").status_code == 403
    assert client.get("/statements/").status_code == 200
