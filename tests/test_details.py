"""The details people notice on the results list and a send's page: the sender filter as
chips, sender labels written once, the export button naming its file, plain Korean."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from sendon_results.models import ApiKey, SenderProfile, SendRequest
from tests.conftest import Account
from tests.factories import SenderProfileFactory, make_send

pytestmark = pytest.mark.django_db


def result_rows(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'<tr id="send-(\d+)"', html)}


def test_the_sender_filter_is_a_group_of_checkbox_chips(alice):
    html = alice.client.get(reverse("results")).content.decode()
    for sender in (alice.phone, alice.kakao):
        assert re.search(
            rf'<label class="choice" for="[^"]+"><input type="checkbox" name="sender" '
            rf'value="{sender.pk}"[^>]*><span>{re.escape(str(sender))}</span></label>',
            html,
        )
    assert '<select name="sender"' not in html
    # The search box is sent with no form: it has no name, and waits hidden for app.js.
    assert re.search(r'<input type="search" class="choice-search" data-choice-search hidden', html)
    assert 'aria-label="발신정보 찾기"' in html


def test_two_ticked_senders_show_the_sends_of_both_and_stay_ticked(alice, bob):
    third = SenderProfileFactory(organization=alice.organization, label="야간")
    by_phone = make_send(alice.organization, sender=alice.phone)
    by_kakao = make_send(alice.organization, sender=alice.kakao, channel="alimtalk")
    make_send(alice.organization, sender=third)
    make_send(bob.organization, sender=bob.phone)

    response = alice.client.get(reverse("results"), {"sender": [alice.phone.pk, alice.kakao.pk]})
    html = response.content.decode()
    expected = set(
        SendRequest.objects.filter(
            organization=alice.organization, sender__in=[alice.phone, alice.kakao]
        ).values_list("pk", flat=True)
    )
    assert result_rows(html) == expected == {by_phone.pk, by_kakao.pk}
    for sender, ticked in ((alice.phone, True), (alice.kakao, True), (third, False)):
        tag = re.search(rf'<input type="checkbox" name="sender" value="{sender.pk}"[^>]*>', html)
        assert tag and ("checked" in tag.group(0)) is ticked
    # Another organization's sender is no choice here: the page says so (400), no sends.
    refused = alice.client.get(reverse("results"), {"sender": [bob.phone.pk]})
    assert refused.status_code == 400
    assert result_rows(refused.content.decode()) == set()
    assert "form-errors" in refused.content.decode()


def test_a_calling_number_and_its_note_are_written_once_with_the_kind_after_them(alice):
    center = SenderProfileFactory(
        organization=alice.organization, value="0212345678", label="고객센터"
    )
    send = make_send(alice.organization, sender=center)
    assert str(center) == "02-1234-5678 (고객센터)"
    assert str(SenderProfile(kind="phone", value="0212345678", label="")) == "02-1234-5678"
    assert str(alice.kakao) == "@alice-org"

    detail = alice.client.get(reverse("result_detail", args=[send.pk])).content.decode()
    assert '<dd>02-1234-5678 (고객센터) <span class="sub">· 발신번호</span></dd>' in detail
    listing = alice.client.get(reverse("results")).content.decode()
    for html in (detail, listing):
        assert not re.search(r"\)\s*(<[^>]+>\s*)*\(", html), "two parentheses in a row"
    assert '<td class="nowrap">02-1234-5678 (고객센터)</td>' in listing
    assert "<span>02-1234-5678 (고객센터)</span>" in listing  # its chip


def test_the_export_button_names_the_file_it_makes(alice):
    make_send(alice.organization, sender=alice.phone)
    html = alice.client.get(reverse("results")).content.decode()
    button = re.search(
        r'<button type="submit" class="primary" data-label-xlsx[^>]*>([^<]*)</button>', html
    )
    assert button, "the export form's button"
    assert button.group(1) == "Excel 다운로드"
    assert 'data-label-xlsx="Excel 다운로드"' in button.group(0)
    assert 'data-label-csv="CSV 다운로드"' in button.group(0)
    # Excel is the format select's first option, so the button's first words are right.
    select = re.search(r'<select id="export-format" name="file_format">(.*?)</select>', html)
    assert select and select.group(1).startswith('<option value="xlsx">')


def test_the_sign_in_error_reads_as_korean(db, client):
    account = Account("sign-in-org")
    response = client.post(
        reverse("login"), {"username": account.user.username, "password": "wrong"}
    )
    html = response.content.decode()
    assert "아이디 또는 비밀번호가 맞지 않습니다." in html
    assert "와(과)" not in html and "사용자 이름" not in html


def test_revoking_a_key_named_with_key_does_not_say_key_twice(alice):
    alice.client.post("/settings/api-keys/", {"name": "임시 키"})
    key = ApiKey.objects.get(organization=alice.organization)
    response = alice.client.post(reverse("api_key_revoke", args=[key.pk]), follow=True)
    key.refresh_from_db()
    assert key.revoked_at is not None
    html = response.content.decode()
    assert "‘임시 키’ API 키를 폐기했습니다." in html
    assert "키 키" not in html
