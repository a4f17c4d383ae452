"""A recipient's history (/recipients/) and the delivery confirmation (발송확인서) it issues."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from sendon_results.models import AccessEvent, Confirmation, Delivery, Membership
from sendon_results.recipients import history
from tests.factories import MembershipFactory, make_send

KST = ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST)
NUMBER = "01012345678"
TWIN = "01099995678"  # the same last four digits, and the same masked form
OTHER = "01055551111"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(day: str, clock: str = "10:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=KST)


@pytest.fixture
def sends(alice, bob):
    """alice's sends to NUMBER (several channels and outcomes), to TWIN and to OTHER; bob's
    to NUMBER the same days."""
    made = [
        make_send(
            alice.organization,
            sender=alice.phone,
            requested_at=at("2026-11-20"),
            recipients=[NUMBER, OTHER],
            outcomes=["success", "success"],
        ),
        make_send(
            alice.organization,
            sender=alice.phone,
            requested_at=at("2026-11-21"),
            channel="lms",
            title="11월 안내",
            recipients=[NUMBER],
            outcomes=["failure"],
        ),
        make_send(
            alice.organization,
            sender=alice.kakao,
            requested_at=at("2026-11-22"),
            channel="alimtalk",
            recipients=[NUMBER, TWIN],
            outcomes=["success", "failure"],
        ),
        make_send(
            alice.organization,
            sender=alice.phone,
            requested_at=at("2026-11-23"),
            status="reserved",
            recipients=[NUMBER],
            outcomes=["waiting"],
        ),
    ]
    make_send(
        bob.organization,
        sender=bob.phone,
        requested_at=at("2026-11-21"),
        recipients=[NUMBER, TWIN],
        outcomes=["success", "success"],
    )
    return made


def direct(organization, *, number: str | None = None, ending: str | None = None) -> list[int]:
    """The deliveries a search should show, straight from the table, newest send first."""
    deliveries = Delivery.objects.filter(organization=organization)
    if number:
        deliveries = deliveries.filter(recipient=number)
    if ending:
        deliveries = deliveries.filter(recipient__endswith=ending)
    return list(
        deliveries.order_by("-send_request__requested_at", "-send_request_id", "-id").values_list(
            "id", flat=True
        )
    )


def shown(response) -> list[int]:
    """The delivery ids a page shows, in order: each row links to its send; the rows are
    matched back through the context the template rendered."""
    return [row["delivery"].pk for row in response.context["rows"]]


def body(response) -> str:
    return response.content.decode()


# Searching


@pytest.mark.parametrize("typed", [NUMBER, "010-1234-5678", "010 1234 5678", "+82 10-1234-5678"])
def test_a_whole_number_in_any_form_finds_what_the_table_holds(alice, sends, typed):
    response = alice.client.get("/recipients/", {"number": typed})
    assert response.status_code == 200
    assert shown(response) == direct(alice.organization, number=NUMBER)
    assert len(shown(response)) == 4
    page = body(response)
    # The rows show the number masked (the search box and links keep what was typed).
    table = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "010-****-5678" in table and "010-1234-5678" not in table
    assert {row["number"] for row in response.context["rows"]} == {"010-****-5678"}
    assert f'href="/results/{sends[1].pk}/"' in page and "11월 안내" in page
    assert "최신순" in page  # no count of every delivery: pages go by keyset


def test_last_four_digits_find_every_number_ending_in_them_labelled(alice, sends):
    response = alice.client.get("/recipients/", {"number": "5678"})
    assert response.status_code == 200
    assert shown(response) == direct(alice.organization, ending="5678")
    numbers = response.context["numbers"]
    # Two customers, the most recently messaged first; their masked forms are the same, so
    # each row carries its customer's letter.
    assert [(n["number"].label, n["number"].digits, n["number"].deliveries) for n in numbers] == [
        ("A", NUMBER, 4) if numbers[0]["number"].digits == NUMBER else ("A", TWIN, 1),
        ("B", TWIN, 1) if numbers[0]["number"].digits == NUMBER else ("B", NUMBER, 4),
    ]
    labels = {row["delivery"].recipient: row["label"] for row in response.context["rows"]}
    assert labels[NUMBER] != labels[TWIN]
    assert "010-1234-5678" not in body(response) and "010-9999-5678" not in body(response)
    assert "Delivery confirmations" not in body(response) and "발송확인서" not in body(response)


def test_pages_go_newest_first_without_gaps_or_repeats(alice, monkeypatch):
    monkeypatch.setattr(history, "PAGE_SIZE", 3)
    for day in range(1, 8):
        make_send(
            alice.organization,
            sender=alice.phone,
            requested_at=at(f"2026-11-{day:02d}"),
            recipients=[NUMBER, NUMBER],
            outcomes=["success", "failure"],
        )
    # Two sends at the same moment: the send's id breaks the tie.
    same = at("2026-11-05", "10:00")
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=same,
        recipients=[NUMBER],
        outcomes=["success"],
    )
    expected = direct(alice.organization, number=NUMBER)
    assert len(expected) == 15
    seen: list[int] = []
    query = {"number": NUMBER}
    pages = []
    while True:
        response = alice.client.get("/recipients/", query)
        assert response.status_code == 200
        seen += shown(response)
        pages.append(shown(response))
        cursor = response.context["page"].next_cursor
        if cursor is None:
            break
        query = {"number": NUMBER, "cursor": cursor}
    assert seen == expected
    assert len(pages) == 5
    # Back from the last page gives the page before it.
    previous = response.context["page"].prev_cursor
    back = alice.client.get("/recipients/", {"number": NUMBER, "cursor": previous})
    assert shown(back) == pages[-2]


def test_the_period_is_whole_days_in_korea_time(alice):
    before = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at("2026-10-31", "23:59"),
        recipients=[NUMBER],
    )
    first = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at("2026-11-01", "00:00"),
        recipients=[NUMBER],
    )
    last = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at("2026-11-10", "23:59"),
        recipients=[NUMBER],
    )
    after = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at("2026-11-11", "00:00"),
        recipients=[NUMBER],
    )
    response = alice.client.get(
        "/recipients/",
        {"number": NUMBER, "requested_from": "2026-11-01", "requested_to": "2026-11-10"},
    )
    sends = {row["send"].pk for row in response.context["rows"]}
    assert sends == {first.pk, last.pk}
    assert before.pk not in sends and after.pk not in sends


def test_the_default_period_is_the_last_30_days(alice):
    inside = make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at("2026-10-29", "00:00"),
        recipients=[NUMBER],
    )
    make_send(
        alice.organization,
        sender=alice.phone,
        requested_at=at("2026-10-28", "23:59"),
        recipients=[NUMBER],
    )
    response = alice.client.get("/recipients/", {"number": NUMBER})
    assert [row["send"].pk for row in response.context["rows"]] == [inside.pk]
    assert 'value="2026-10-29"' in body(response) and 'value="2026-11-27"' in body(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"number": "abcd"}, "010-1234-5678"),
        ({"number": "010-12ab-5678"}, "010-1234-5678"),
        ({"number": "678"}, "010-1234-5678"),
        ({"number": "56789"}, "010-1234-5678"),
        # A day to come is refused, as on every page but the results list (periods.py).
        (
            {"number": NUMBER, "requested_from": "2026-01-01", "requested_to": "2027-06-01"},
            "오늘(2026-11-27) 또는 그 이전",
        ),
        ({"number": NUMBER, "requested_from": "2025-11-01", "requested_to": "2025-11-30"}, "365"),
        (
            {"number": NUMBER, "requested_from": "2026-11-20", "requested_to": "2026-11-10"},
            "2026-11-20",
        ),
        ({"number": NUMBER, "requested_from": "2026-13-45"}, ""),
        ({"number": NUMBER, "cursor": "forged"}, ""),
    ],
)
def test_bad_input_is_a_form_error_not_a_500(alice, query, message):
    response = alice.client.get("/recipients/", query)
    assert response.status_code == 400
    assert 'class="form-errors"' in body(response)
    assert message in body(response)
    assert not AccessEvent.objects.filter(action=AccessEvent.Action.SENDS_SEARCHED).exists()


def test_nothing_searched_yet_is_a_prompt(alice):
    response = alice.client.get("/recipients/")
    assert response.status_code == 200
    assert "rows" not in response.context


# Isolation


def test_another_organizations_deliveries_never_show(alice, bob, sends):
    for typed in (NUMBER, "5678"):
        response = alice.client.get("/recipients/", {"number": typed})
        sends_shown = {row["send"].organization_id for row in response.context["rows"]}
        assert sends_shown == {alice.organization.pk}
    bobs = bob.client.get("/recipients/", {"number": NUMBER})
    assert shown(bobs) == direct(bob.organization, number=NUMBER)
    assert len(shown(bobs)) == 1


# Masking, reveals and the access record


def test_a_search_is_recorded_with_the_number_masked(alice, sends):
    alice.client.get("/recipients/", {"number": "010-1234-5678"})
    alice.client.get("/recipients/", {"number": "5678"})
    events = AccessEvent.objects.filter(action=AccessEvent.Action.SENDS_SEARCHED).order_by("id")
    assert [event.detail["recipients"] for event in events] == [["010-****-5678"], ["…5678"]]
    assert all(event.detail["numbers"] == "masked" for event in events)
    assert NUMBER not in str([event.detail for event in events])


def test_a_reveal_shows_the_numbers_and_is_recorded(alice, sends):
    query = "number=5678&requested_from=2026-11-01&requested_to=2026-11-27"
    response = alice.client.post(f"/recipients/reveal/?{query}")
    assert response.status_code == 302 and response["Location"] == f"/recipients/?{query}"
    event = AccessEvent.objects.get(action=AccessEvent.Action.NUMBERS_REVEALED)
    assert event.detail["recipients"] == ["…5678"] and event.user == alice.user
    page = body(alice.client.get(f"/recipients/?{query}"))
    assert "010-1234-5678" in page and "010-9999-5678" in page
    searched = AccessEvent.objects.filter(action=AccessEvent.Action.SENDS_SEARCHED).latest("id")
    assert searched.detail["numbers"] == "revealed"
    # Another search is not revealed by this one, and hiding again masks it.
    assert "010-1234-5678" not in body(alice.client.get("/recipients/", {"number": "1111"}))
    alice.client.post(f"/recipients/conceal/?{query}")
    assert "010-1234-5678" not in body(alice.client.get(f"/recipients/?{query}"))


def test_the_reveal_ends_after_its_minutes(alice, sends, settings):
    alice.client.post(f"/recipients/reveal/?number={NUMBER}")
    with time_machine.travel(NOW + dt.timedelta(minutes=settings.REVEAL_MINUTES, seconds=1)):
        page = body(alice.client.get("/recipients/", {"number": NUMBER}))
    assert "010-****-5678" in page


@pytest.fixture
def viewer(alice) -> Client:
    client = Client()
    client.force_login(
        MembershipFactory(organization=alice.organization, role=Membership.Role.VIEWER).user
    )
    return client


def test_a_viewer_browses_the_history_masked_and_may_not_reveal(alice, sends, viewer):
    response = viewer.get("/recipients/", {"number": NUMBER})
    assert response.status_code == 200
    assert shown(response) == direct(alice.organization, number=NUMBER)
    assert "recipients/reveal" not in body(response)
    assert viewer.post(f"/recipients/reveal/?number={NUMBER}").status_code == 403
    assert "010-1234-5678" not in body(viewer.get("/recipients/", {"number": "5678"}))
    assert not AccessEvent.objects.filter(action=AccessEvent.Action.NUMBERS_REVEALED).exists()


def test_the_history_is_in_the_navigation(alice):
    page = body(alice.client.get("/results/"))
    assert 'href="/recipients/"' in page


# Delivery confirmations


def issue(account, capture, *, full: bool = False, **fields: str) -> Confirmation:
    data = {"number": NUMBER, "period_from": "2026-11-01", "period_to": "2026-11-27", **fields}
    if full:
        data["full_number"] = "on"
    with capture(execute=True):
        response = account.client.post("/confirmations/", data)
    assert response.status_code == 302, body(response)[-2000:]
    confirmation = Confirmation.objects.filter(created_by=account.user).latest("id")
    assert confirmation.state == Confirmation.State.DONE, confirmation.error
    return confirmation


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def download(client: Client, confirmation: Confirmation, tmp_path: Path) -> Path:
    response = client.get(f"/confirmations/{confirmation.pk}/download/")
    assert response.status_code == 200, response.status_code
    path = tmp_path / f"{confirmation.number}.pdf"
    path.write_bytes(b"".join(response.streaming_content))
    return path


def test_the_pdf_lists_the_deliveries_the_database_holds(
    alice, sends, tmp_path, django_capture_on_commit_callbacks
):
    confirmation = issue(alice, django_capture_on_commit_callbacks)
    assert re.fullmatch(r"CF-2026-11-0001", confirmation.number)
    path = download(alice.client, confirmation, tmp_path)
    text = pdf_text(path)
    rows = (
        Delivery.objects.filter(organization=alice.organization, recipient=NUMBER)
        .order_by("send_request__requested_at")
        .select_related("send_request")
    )
    lines = [line for line in text.splitlines() if re.match(r"\s*2026-11-2\d \d\d:\d\d", line)]
    assert len(lines) == rows.count() == 4
    labels = {"success": "성공", "failure": "실패", "waiting": "대기"}
    for line, delivery in zip(lines, rows, strict=True):
        requested = delivery.send_request.requested_at.astimezone(KST).strftime("%Y-%m-%d %H:%M")
        assert line.strip().startswith(requested)
        assert labels[delivery.status] in line
    assert "010-****-5678" in text and "010-1234-5678" not in text
    assert alice.organization.name in text and "CF-2026-11-0001" in text
    assert "/confirmations/verify/" in text
    # Totals: messages and each outcome, as the table counts them.
    assert confirmation.figures["total"] == {
        "messages": 4,
        "success": 2,
        "failure": 1,
        "sending": 0,
        "waiting": 1,
        "cancelled": 0,
    }
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+1\b", info)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    names = {row[0].split("+", 1)[-1] for row in rows}
    assert "Nanum-Gothic-Statement" in names  # the bundled NanumGothic
    assert names <= {
        "Nanum-Gothic-Statement",
        "Nanum-Gothic-Statement-Bold",
        "Noto-Symbols-Statement",
    }
    assert all(row[-5:-2] == ["yes", "yes", "yes"] for row in rows)  # embedded, subset, unicode


def test_the_whole_number_prints_only_when_asked_by_one_who_may(
    alice, sends, tmp_path, viewer, django_capture_on_commit_callbacks
):
    confirmation = issue(alice, django_capture_on_commit_callbacks, full=True)
    assert confirmation.unmasked
    text = pdf_text(download(alice.client, confirmation, tmp_path))
    assert "010-1234-5678" in text
    # The figures the verification page shows keep it masked.
    assert confirmation.figures["recipient"] == "010-****-5678"
    assert NUMBER not in str(confirmation.figures)
    # A viewer may download a masked confirmation, not one with the whole number.
    assert viewer.get(f"/confirmations/{confirmation.pk}/download/").status_code == 403
    masked = issue(alice, django_capture_on_commit_callbacks, period_from="2026-11-02")
    assert "010-1234-5678" not in pdf_text(download(viewer, masked, tmp_path))


def test_issuing_and_downloading_are_recorded(
    alice, sends, tmp_path, django_capture_on_commit_callbacks
):
    confirmation = issue(alice, django_capture_on_commit_callbacks, full=True)
    download(alice.client, confirmation, tmp_path)
    issued = AccessEvent.objects.get(action=AccessEvent.Action.STATEMENT_ISSUED)
    downloaded = AccessEvent.objects.get(action=AccessEvent.Action.STATEMENT_DOWNLOADED)
    for event in (issued, downloaded):
        assert event.object_type == "confirmation" and event.object_id == confirmation.pk
        assert event.detail["recipients"] == ["010-****-5678"]
        assert event.detail["numbers"] == "revealed"
        assert NUMBER not in str(event.detail)


def test_viewers_and_forbidden_whole_numbers_cannot_issue(alice, sends, viewer, member):
    data = {"number": NUMBER, "period_from": "2026-11-01", "period_to": "2026-11-27"}
    assert viewer.post("/confirmations/", data).status_code == 403
    assert "Issue a confirmation" not in body(viewer.get("/recipients/", {"number": NUMBER}))
    assert "발송확인서 발급" not in body(viewer.get("/recipients/", {"number": NUMBER}))
    assert not Confirmation.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"number": "5678"},
        {"number": "letters"},
        {"period_to": "2026-12-31"},
        {"period_from": "2025-01-01"},
    ],
)
def test_a_bad_confirmation_request_says_why_and_issues_nothing(alice, sends, fields):
    data = {"number": NUMBER, "period_from": "2026-11-01", "period_to": "2026-11-27", **fields}
    response = alice.client.post("/confirmations/", data, follow=True)
    assert response.status_code == 200
    assert 'class="message error"' in body(response)
    assert not Confirmation.objects.exists()


def test_another_organizations_confirmation_is_404(
    alice, bob, sends, django_capture_on_commit_callbacks
):
    confirmation = issue(alice, django_capture_on_commit_callbacks)
    for url in (
        f"/confirmations/{confirmation.pk}/download/",
        f"/confirmations/{confirmation.pk}/row/",
    ):
        assert bob.client.get(url).status_code == 404
    assert bob.client.post(f"/confirmations/{confirmation.pk}/retry/").status_code == 404
    # And bob's history of the number lists none of alice's confirmations.
    assert confirmation.number not in body(bob.client.get("/recipients/", {"number": NUMBER}))
    assert confirmation.number in body(alice.client.get("/recipients/", {"number": NUMBER}))


def test_confirmations_are_numbered_apart_from_statements(
    alice, sends, django_capture_on_commit_callbacks
):
    first = issue(alice, django_capture_on_commit_callbacks)
    second = issue(alice, django_capture_on_commit_callbacks, period_from="2026-11-21")
    assert (first.number, second.number) == ("CF-2026-11-0001", "CF-2026-11-0002")


def test_verification_shows_the_confirmation_masked_and_a_wrong_code_says_so(
    db, alice, sends, client, django_capture_on_commit_callbacks
):
    confirmation = issue(alice, django_capture_on_commit_callbacks, full=True)
    code = confirmation.verification_code
    typed = f"{code[:4].lower()}-{code[4:8]}-{code[8:]}"
    response = client.get(f"/confirmations/verify/{typed}/")
    assert response.status_code == 200
    page = body(response)
    for text in (
        confirmation.number,
        "010-****-5678",
        alice.organization.name,
        "2026-11-01 ~ 2026-11-27",
        confirmation.figures["issued_at"],
    ):
        assert text in page
    assert "010-1234-5678" not in page and "11월 안내" not in page
    counts = re.findall(r"<dd>(\d+)</dd>", page)
    assert counts[:1] == ["4"]
    assert AccessEvent.objects.filter(
        action=AccessEvent.Action.STATEMENT_VERIFIED, object_id=confirmation.pk
    ).exists()
    wrong = client.get("/confirmations/verify/AAAA-BBBB-CCCC/")
    assert wrong.status_code == 404
    assert "찾을 수 없" in body(wrong) or "No delivery confirmation was found" in body(wrong)
    # A statement's page does not take a confirmation's code, nor the reverse.
    assert client.get(f"/statements/verify/{typed}/").status_code == 404
    form = client.get("/confirmations/verify/", {"code": typed})
    assert form.status_code == 302 and form["Location"].endswith(
        f"/confirmations/verify/{code[:4]}-{code[4:8]}-{code[8:]}/"
    )
    assert client.get("/confirmations/verify/", {"code": "nope"}).status_code == 400
