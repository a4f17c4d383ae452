"""Who may see what: organizations, members and owners, switching between organizations."""

from __future__ import annotations

import pytest
from django.test import Client

from sendon_results.models import ApiKey, Membership
from tests.factories import MembershipFactory, UserFactory, make_send

ORGANIZATION_PAGES = ["/results/", "/exports/", "/statements/", "/settings/api-keys/"]


@pytest.mark.parametrize("path", [*ORGANIZATION_PAGES, "/results/1/", "/exports/1/download/"])
def test_a_user_of_no_organization_gets_one_answer_everywhere(db, path):
    client = Client()
    client.force_login(UserFactory())
    response = client.get(path)
    assert response.status_code == 403
    assert "아직 소속된 조직이 없습니다" in response.content.decode()


def test_posts_need_an_organization_too(db):
    client = Client()
    client.force_login(UserFactory())
    assert client.post("/exports/new/", {"kind": "sends", "file_format": "xlsx"}).status_code == 403
    assert client.post("/statements/", {}).status_code == 403


def test_an_operator_browses_but_keys_are_an_owners(alice, member):
    send = make_send(alice.organization, sender=alice.phone, body="운영자도 봅니다")
    assert "운영자도 봅니다" in member.get("/results/").content.decode()
    assert member.get(f"/results/{send.pk}/").status_code == 200
    # The menu offers the keys page to owners only; to others it says who may (403).
    assert "/settings/api-keys/" not in member.get("/results/").content.decode()
    assert "/settings/api-keys/" in alice.client.get("/results/").content.decode()
    response = member.get("/settings/api-keys/")
    assert response.status_code == 403
    assert "API 키 관리 권한이 있는 역할: 소유자." in response.content.decode()
    assert member.post("/settings/api-keys/", {"name": "몰래"}).status_code == 403
    assert not ApiKey.objects.exists()
    alice.client.post("/settings/api-keys/", {"name": "발송 서버"})
    key = ApiKey.objects.get()
    assert member.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_viewer_browses_and_downloads_statements_but_exports_nothing(alice):
    viewer = Client()
    viewer.force_login(
        MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER).user
    )
    make_send(alice.organization, sender=alice.phone, body="조회만 합니다")
    page = viewer.get("/results/").content.decode()
    assert "조회만 합니다" in page
    assert "/exports/new/" not in page and 'href="/exports/"' not in page
    response = viewer.post("/exports/new/", {"kind": "sends", "file_format": "csv"})
    assert response.status_code == 403
    assert "발송결과 내보내기 권한이 있는 역할: 운영자, 소유자." in response.content.decode()
    assert viewer.get("/exports/").status_code == 403
    assert viewer.get("/statements/").status_code == 200
    issue = {"period_from": "2026-10-01", "period_to": "2026-10-31"}
    assert viewer.post("/statements/", issue).status_code == 403


def test_a_member_exports_and_issues_statements(alice, member, django_capture_on_commit_callbacks):
    make_send(alice.organization, sender=alice.phone)
    with django_capture_on_commit_callbacks(execute=True):
        response = member.post("/exports/new/", {"kind": "sends", "file_format": "csv"})
    assert response.status_code == 302
    assert "발송결과" in member.get("/exports/").content.decode()
    # What a member asked for is theirs: the owner's exports page does not list it.
    assert "발송결과_" not in alice.client.get("/exports/").content.decode()


def test_every_page_needs_sign_in(db, alice):
    send = make_send(alice.organization, sender=alice.phone)
    for url in ("/", "/results/", f"/results/{send.pk}/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response.url.startswith("/login/")


def test_sign_in_and_out(db, alice):
    client = Client()
    page = client.get("/login/")
    assert "로그인" in page.content.decode()
    response = client.post("/login/", {"username": alice.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "아이디 또는 비밀번호가 맞지 않습니다." in response.content.decode()
    response = client.post("/login/", {"username": alice.user.username, "password": "password-123"})
    assert response.status_code == 302 and response.url == "/dashboard/"
    assert client.get("/results/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/results/").status_code == 302


def test_a_member_of_two_organizations_switches_between_them(alice, bob):
    MembershipFactory(user=alice.user, organization=bob.organization)
    make_send(alice.organization, sender=alice.phone, body="앨리스 조직")
    theirs = make_send(bob.organization, sender=bob.phone, body="밥 조직")
    html = alice.client.get("/results/").content.decode()
    assert 'name="organization"' in html  # the switcher
    assert "앨리스 조직" in html and "밥 조직" not in html
    response = alice.client.post("/organizations/switch/", {"organization": bob.organization.pk})
    assert response.status_code == 302
    html = alice.client.get("/results/").content.decode()
    assert "밥 조직" in html and "앨리스 조직" not in html
    # A link to a send of the other organization offers the switch; only a POST makes it.
    alice.client.post("/organizations/switch/", {"organization": alice.organization.pk})
    response = alice.client.get(f"/results/{theirs.pk}/")
    assert response.status_code == 200 and "밥 조직" not in response.content.decode()
    assert "앨리스 조직" in alice.client.get("/results/").content.decode()  # nothing switched
    response = alice.client.post(
        "/organizations/switch/",
        {"organization": bob.organization.pk, "next": f"/results/{theirs.pk}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/results/{theirs.pk}/"
    assert "밥 조직" in alice.client.get(f"/results/{theirs.pk}/").content.decode()
    # The next page after switching stays on this site.
    response = alice.client.post(
        "/organizations/switch/",
        {"organization": alice.organization.pk, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/results/"


def test_switching_to_an_organization_one_is_not_in_is_404(alice, bob):
    response = alice.client.post("/organizations/switch/", {"organization": bob.organization.pk})
    assert response.status_code == 404
