"""Masking by default: recipients' numbers and names masked on every page, fragment, file
and statement a member gets until an operator reveals one send's for REVEAL_MINUTES or asks
for an export in full with a reason; the search still finds whole numbers, and last four
digits find numbers. The walk of a viewer scans every byte it is given."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.db.models import Value
from django.test import Client
from django.utils import timezone, translation
from openpyxl import load_workbook

from sendon_results.api.keys import create_key
from sendon_results.exports import rows, writers
from sendon_results.masking import mask_name, mask_name_sql, mask_phone, mask_phone_sql
from sendon_results.models import (
    AccessEvent,
    Delivery,
    Export,
    Membership,
    Organization,
    SendRequest,
    Statement,
)
from sendon_results.phones import format_phone
from tests.conftest import Account
from tests.factories import MembershipFactory, make_send

KST = ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=KST)
Role = Membership.Role

# --- The rules ----------------------------------------------------------------------------

PHONES = [
    ("01012345678", "010-****-5678"),
    ("0111234567", "011-***-4567"),
    ("0212345678", "02-****-5678"),
    ("021234567", "02-***-4567"),
    ("0317654321", "031-***-4321"),
    ("05012345678", "050-****-5678"),
    ("15881234", "1588-****"),  # a recipient's business number: the column is masked whole
    ("16441234", "1644-****"),
    # Never stored by the API, but the column allows them: stars, the last four of a long one.
    ("0101234567890", "*********7890"),
    ("19881234", "****1234"),
    ("+82101234", "*****1234"),
    ("1234567", "*******"),
    ("12", "**"),
    ("", ""),
    # Python's $ matches before a final line break; the rules must not, as SQL's does not.
    ("01012345678\n", "********678\n"),
]
NAMES = [
    ("김민수", "김*수"),
    ("김민", "김*"),
    ("남궁민수", "남**수"),
    ("김", "*"),
    ("John Smith", "J*** S****"),
    ("Alexander", "A********"),
    ("Maria  de la Cruz", "M****  d* l* C***"),
    ("김 민수", "김 민*"),
    ("김민수A", "김***"),
    ("李小龍", "李**"),
    ("=cmd", "=***"),  # still formula-like: the writers put their ' before it
    (" 앞", " 앞"),
    ("", ""),
    ("김민\n", "김**"),
    ("🙂 웃음", "🙂 웃*"),
]


@pytest.mark.parametrize(("digits", "masked"), PHONES)
def test_mask_phone(digits, masked):
    assert mask_phone(digits) == masked


@pytest.mark.parametrize(("name", "masked"), NAMES)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL twins are PostgreSQL's")
def test_the_sql_twins_mask_as_python_does(db):
    organization = Organization.objects.create(name="twin")
    one = Organization.objects.filter(pk=organization.pk)
    for digits, masked in PHONES:
        shown = one.annotate(v=Value(digits), m=mask_phone_sql("v")).values_list("m", flat=True)
        assert shown.get() == masked == mask_phone(digits), repr(digits)
    for name, masked in NAMES:
        shown = one.annotate(v=Value(name), m=mask_name_sql("v")).values_list("m", flat=True)
        assert shown.get() == masked == mask_name(name), repr(name)


def test_a_delivery_names_itself_masked(alice):
    send = make_send(alice.organization, sender=alice.phone, recipients=["01027182818"])
    assert str(send.deliveries.get()) == "010-****-2818 성공"


# --- A world: alice's organization with an operator and a viewer ----------------------------

# Recipients whose numbers and names the scan looks for in every form they can be written.
PEOPLE = [
    ("01027182818", "홍길동"),
    ("0113141592", "탁묵"),
    ("15778899", ""),
    ("0226535897", "남궁민수"),
    ("029323846", "Jane Doe"),
    ("0312643383", "Zelda"),
    ("05043218765", ""),
]


class World:
    def __init__(self) -> None:
        self.alice = Account("alice-org")
        self.bob = Account("bob-org")
        organization = self.alice.organization
        self.operator = self.client_of(Role.OPERATOR)
        self.viewer = self.client_of(Role.VIEWER)
        at = NOW - dt.timedelta(days=3)
        self.small = self.send(
            PEOPLE[:3], at, outcomes=["success", "failure", "success"], body="[한빛] 안내"
        )
        self.kakao = self.send(
            PEOPLE[3:5],
            at - dt.timedelta(hours=1),
            outcomes=["failure", "success"],
            sender=self.alice.kakao,
            channel="alimtalk",
        )
        many = [
            *PEOPLE[5:],
            *((f"010{5000 + 37 * i:04d}{6000 + 53 * i:04d}", "") for i in range(60)),
        ]
        self.big = self.send(
            many, at - dt.timedelta(hours=2), outcomes=["success"] * 61 + ["failure"]
        )
        # Enough sends for a second page of the list.
        for i in range(50):
            make_send(
                organization,
                sender=self.alice.phone,
                requested_at=at - dt.timedelta(days=1, minutes=i),
                recipients=[f"010{7100 + i:04d}{3300 + 7 * i:04d}"],
            )
        # Bob's number ends as one of alice's: the search by last four stays in alice's.
        self.bobs = make_send(
            self.bob.organization,
            sender=self.bob.phone,
            recipients=["01099992818"],
            requested_at=at,
        )
        Delivery.objects.filter(recipient="01099992818").update(recipient_name="변사또")

    def client_of(self, role: str) -> Client:
        client = Client()
        client.force_login(MembershipFactory(organization=self.alice.organization, role=role).user)
        return client

    def send(
        self, people: list[tuple[str, str]], at: dt.datetime, *, outcomes: list[str], **fields
    ) -> SendRequest:
        fields.setdefault("sender", self.alice.phone)
        send = make_send(
            self.alice.organization,
            requested_at=at,
            outcomes=outcomes,
            recipients=[number for number, _ in people],
            **fields,
        )
        for number, name in people:
            send.deliveries.filter(recipient=number).update(recipient_name=name)
        return send


@pytest.fixture
def world(db) -> Iterator[World]:
    with time_machine.travel(NOW, tick=False):
        yield World()


# --- The scan -----------------------------------------------------------------------------

SEPARATOR = r"[\s\-.()]{0,3}"


def _spread(digits: str) -> str:
    return SEPARATOR.join(digits)


class Secrets:
    """Every recipient number in every way it can be written (digits, dashes, spaces, +82:
    whatever is written, the digits masking hides appear beside the last four), and every
    recipient name, whole and word by word."""

    def __init__(self, deliveries: Iterable[Delivery]) -> None:
        self.numbers: dict[str, re.Pattern[str]] = {}
        self.names: set[str] = set()
        for delivery in deliveries:
            number = delivery.recipient
            # What the mask hides, with what it shows next to it: 1234 and 5678 of
            # 010-1234-5678; all of 1588-1234.
            shown = format_phone(number)
            hidden = shown.split("-", 1)[1] if not shown.startswith("1") else shown
            self.numbers[number] = re.compile(_spread(hidden.replace("-", "")))
            name = delivery.recipient_name
            if name:
                self.names.add(name)
                self.names.update(word for word in name.split() if len(word) >= 3)

    def found_in(self, text: str, *, typed: str = "") -> list[str]:
        """The numbers and names `text` gives away; a number the request itself holds (the
        member typed it into the search) may be shown back."""
        found = [
            number
            for number, pattern in self.numbers.items()
            if number not in typed and pattern.search(text)
        ]
        return found + [name for name in self.names if _name_in(name, text)]


def _name_in(name: str, text: str) -> bool:
    """A Latin name as a word of its own (a page's random CSRF token or CSP nonce may hold
    "Doe" by chance); a Korean one anywhere, as particles follow it (홍길동님)."""
    if name.isascii():
        return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None
    return name in text


def typed_numbers(url: str) -> str:
    """The digits of the recipient search in a URL's query, joined."""
    query = parse_qsl(urlsplit(url).query)
    values = [value for name, value in query if name == "recipient"]
    return " ".join(re.sub(r"\D", "", part) for value in values for part in value.split(","))


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "hx-get") and value:
                self.found.append(value)


NOT_FOLLOWED = ("/logout/", "/language/", "/admin/", "/static/", "/login/", "/api/")


def walk(
    client: Client, seeds: list[str], follow: Callable[[str], bool], limit: int = 300
) -> Iterator[tuple[str, bytes, str]]:
    """GET every page reachable from the seeds within the console through links that
    `follow` allows, each as a page and as an htmx fragment: (url, body, content type)."""
    queue, seen = list(seeds), set()
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code in (200, 302, 400, 403, 404), (url, response.status_code)
            body = b"".join(response) if response.streaming else response.content
            kind = response.get("Content-Type", "")
            yield url, body, kind
            if "html" in kind:
                parser = Links()
                parser.feed(body.decode())
                for link in parser.found:
                    target = urljoin(url, link.replace("&amp;", "&"))
                    parts = urlsplit(target)
                    if parts.netloc or parts.path.startswith(NOT_FOLLOWED) or not follow(target):
                        continue
                    queue.append(target)


def file_texts(body: bytes, kind: str, tmp_path: Path) -> list[str]:
    """What a program reading the file sees, and every byte inside it."""
    if "pdf" in kind:
        path = tmp_path / "file.pdf"
        path.write_bytes(body)
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout
        return [text, body.decode("latin-1")]
    if "spreadsheetml" in kind:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            parts = [archive.read(name).decode("utf-8", "replace") for name in archive.namelist()]
        book = load_workbook(io.BytesIO(body))
        cells = [
            "\t".join("" if v is None else str(v) for v in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        ]
        return ["\n".join(cells), *parts]
    return [body.decode("utf-8-sig")]


def test_a_viewer_is_given_no_number_and_no_name_anywhere(
    world, tmp_path, django_capture_on_commit_callbacks
):
    secrets = Secrets(Delivery.objects.all())
    sends = [world.small, world.kakao, world.big]
    # An operator issues a statement listing the sends, which the viewer may download; and
    # asks for an export, which the viewer may not.
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        world.operator.post(
            "/statements/",
            {"period_from": "2026-11-01", "period_to": "2026-11-26", "appendix": "on"},
        )
        world.operator.post(
            "/exports/new/", {"kind": "deliveries", "file_format": "xlsx", "query": ""}
        )
    statement = Statement.objects.get(organization=world.alice.organization)
    assert statement.state == Statement.State.DONE, statement.error
    export = Export.objects.get(organization=world.alice.organization)

    seeds = [
        "/results/",
        "/results/?status=completed&status=failed",
        "/results/?outcome=failure",
        "/results/?channel=alimtalk&source=api",
        f"/results/?sender={world.alice.phone.pk}&q=" + "안내",
        "/results/?recipient=2818",
        "/results/?recipient=2818,5897&order=oldest",
        "/results/?recipient=010-2718-2818",  # typed in full: shown back as typed, nothing more
        "/results/?requested_from=2026-11-20&requested_to=2026-11-27",
        "/results/?recipient=call-me",  # a 400 with the page
        "/statements/",
        f"/statements/{statement.pk}/row/",
        f"/statements/{statement.pk}/download/",
    ]
    for send in sends:
        seeds += [
            f"/results/{send.pk}/",
            f"/results/{send.pk}/?outcome=failure",
            f"/results/{send.pk}/?recipient=2818&recipient=8765",
            f"/results/{send.pk}/?recipient=0312643383",
            f"/results/{send.pk}/?outcome=success&outcome=failure&result_code=3019&final_channel=sms",
        ]
    # Every link of the pages but two kinds, pages like those the walk gets anyway: the
    # detail pages of the fifty sends of one recipient that make the list's second page, and
    # the list under other filters (the quick periods, a filter dropped: the seeds have
    # filters enough) — its pages are followed.
    shown = {f"/results/{send.pk}/" for send in sends}

    def follow(url: str) -> bool:
        path, query = urlsplit(url).path, urlsplit(url).query
        if path == "/results/":
            return "cursor=" in query
        return not re.fullmatch(r"/results/\d+/", path) or path in shown

    masked = {"010-****-2818", "011-***-1592", "1577-****", "02-****-5897", "02-***-3846"}
    masked |= {"031-***-3383", "050-****-8765", "홍*동", "탁*", "남**수", "J*** D**", "Z****"}
    pages, masked_seen = 0, set()
    with time_machine.travel(NOW, tick=False):
        for url, body, kind in walk(world.viewer, seeds, follow):
            pages += 1
            typed = typed_numbers(url)
            for text in file_texts(body, kind, tmp_path):
                assert not secrets.found_in(text, typed=typed), (url, secrets.found_in(text))
                masked_seen |= {form for form in masked if form in text}
            assert b"\xeb\xb2\x88\xed\x98\xb8 \xeb\xb3\xb4\xea\xb8\xb0" not in body  # 번호 보기
        # What the viewer may not make or take.
        assert world.viewer.get("/exports/").status_code == 403
        assert world.viewer.get(f"/exports/{export.pk}/download/").status_code == 403
        for data in ({}, {"unmasked": "on", "reason": "고객 문의 회신"}):
            asked = world.viewer.post(
                "/exports/new/", {"kind": "deliveries", "file_format": "csv", "query": "", **data}
            )
            assert asked.status_code == 403
        assert world.viewer.post(f"/results/{world.small.pk}/reveal/").status_code == 403
        # Still masked after trying.
        page = world.viewer.get(f"/results/{world.small.pk}/").content.decode()
        assert not secrets.found_in(page)
    assert pages > 60
    assert masked_seen == masked  # the pages did show the recipients, masked

    # The operator's default export, as Excel and as CSV (COPY on PostgreSQL), is masked too.
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        world.operator.post(
            "/exports/new/", {"kind": "deliveries", "file_format": "csv", "query": ""}
        )
    for export in Export.objects.filter(organization=world.alice.organization):
        export.refresh_from_db()
        assert export.state == Export.State.DONE and not export.unmasked, export.error
        with time_machine.travel(NOW, tick=False):
            response = world.operator.get(f"/exports/{export.pk}/download/")
        body = b"".join(response)
        texts = file_texts(body, response["Content-Type"], tmp_path)
        for text in texts:
            assert not secrets.found_in(text), (export.file_format, secrets.found_in(text))
        assert "010-****-2818" in texts[0] and "홍*동" in texts[0]
    # And the scan does find numbers where they are: the same walk's detail page, revealed.
    with time_machine.travel(NOW, tick=False):
        world.operator.post(f"/results/{world.small.pk}/reveal/")
        page = world.operator.get(f"/results/{world.small.pk}/").content.decode()
    assert set(secrets.found_in(page)) >= {"01027182818", "0113141592", "15778899", "홍길동"}


# --- Revealing one send's numbers ---------------------------------------------------------


def detail(client: Client, send: SendRequest, query: str = "", **headers) -> str:
    response = client.get(f"/results/{send.pk}/{query}", headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_an_operator_sees_one_sends_numbers_for_reveal_minutes(world, settings):
    settings.REVEAL_MINUTES = 5
    operator = world.operator
    with time_machine.travel(NOW, tick=False) as clock:
        html = detail(operator, world.small)
        assert "010-****-2818" in html and "홍*동" in html and "홍길동" not in html
        assert "번호 보기" in html and "다시 가리기" not in html

        response = operator.post(f"/results/{world.small.pk}/reveal/?outcome=success")
        assert response.status_code == 302
        assert response["Location"] == f"/results/{world.small.pk}/?outcome=success"
        html = detail(operator, world.small)
        assert "010-2718-2818" in html and "홍길동" in html and "1577-8899" in html
        assert "번호 공개 중 (5분 남음)" in html and "다시 가리기" in html
        # The fragment htmx swaps in says the same, and asks for itself again when it ends.
        fragment = detail(operator, world.small, "?outcome=success", HX_Request="true")
        assert "010-2718-2818" in fragment and 'hx-trigger="load delay:300s"' in fragment
        # Only that send: the others stay masked.
        assert "02-****-5897" in detail(operator, world.kakao)
        assert "남궁민수" not in detail(operator, world.kakao)

        clock.shift(dt.timedelta(minutes=4, seconds=1))
        html = detail(operator, world.small)
        assert "010-2718-2818" in html and "번호 공개 중 (1분 남음)" in html

        clock.shift(dt.timedelta(seconds=59))  # five minutes on: masked again
        html = detail(operator, world.small)
        assert "010-****-2818" in html and "010-2718-2818" not in html and "번호 보기" in html


def test_hiding_again_and_a_role_taken_away_mask_the_numbers(world):
    with time_machine.travel(NOW, tick=False):
        world.operator.post(f"/results/{world.small.pk}/reveal/")
        assert "010-2718-2818" in detail(world.operator, world.small)
        response = world.operator.post(f"/results/{world.small.pk}/conceal/")
        assert response.status_code == 302
        assert "010-****-2818" in detail(world.operator, world.small)

        world.operator.post(f"/results/{world.small.pk}/reveal/")
        membership = Membership.objects.get(
            organization=world.alice.organization, role=Role.OPERATOR
        )
        membership.role = Role.VIEWER
        membership.save()
        html = detail(world.operator, world.small)
        assert "010-****-2818" in html and "010-2718-2818" not in html and "번호 보기" not in html


def test_revealing_is_for_the_organization_worked_in_and_is_recorded(world):
    # Bob's owner sees none of alice's; a send of another of one's organizations is 404
    # while working in the other.
    assert world.bob.client.post(f"/results/{world.small.pk}/reveal/").status_code == 404
    MembershipFactory(user=world.alice.user, organization=world.bob.organization, role=Role.OWNER)
    world.alice.client.post("/organizations/switch/", {"organization": world.bob.organization.pk})
    assert world.alice.client.post(f"/results/{world.small.pk}/reveal/").status_code == 404
    world.alice.client.post("/organizations/switch/", {"organization": world.alice.organization.pk})
    assert world.alice.client.post(f"/results/{world.small.pk}/reveal/").status_code == 302
    # GET does not reveal.
    assert world.alice.client.get(f"/results/{world.small.pk}/reveal/").status_code == 405
    event = AccessEvent.objects.filter(action=AccessEvent.Action.NUMBERS_REVEALED).get()
    assert (event.user, event.object_id) == (world.alice.user, world.small.pk)
    assert "27182818" not in re.sub(r"\D", "", str(event.detail))  # no number in the record


# --- Searching by the last four digits ------------------------------------------------------


def listed(client: Client, query: str) -> set[int]:
    response = client.get(f"/results/?{query}")
    assert response.status_code == 200, response.content.decode()[-2000:]
    return {send.pk for send in response.context["page"].rows}


def test_the_last_four_digits_find_numbers_within_the_organization(world):
    viewer = world.viewer
    assert listed(viewer, "recipient=2818") == {world.small.pk}
    assert listed(viewer, "recipient=28-18") == {world.small.pk}
    assert listed(viewer, "recipient=2818,5897") == {world.small.pk, world.kakao.pk}
    assert listed(viewer, "recipient=2818&recipient=02-2653-5897") == {
        world.small.pk,
        world.kakao.pk,
    }
    assert listed(viewer, "recipient=01027182818") == {world.small.pk}  # whole, as before
    assert listed(viewer, "recipient=0000") == set()
    html = viewer.get("/results/?recipient=2818,02-2653-5897").content.decode()
    assert "수신번호: <strong>02-2653-5897, 끝자리 2818</strong>" in html
    # The send's page narrows its recipients the same way.
    response = viewer.get(f"/results/{world.big.pk}/?recipient=3383")
    assert [d.recipient for d in response.context["page"].rows] == ["0312643383"]
    # And the platform's API, which filters with the list's own filter.
    _key, secret = create_key(
        organization=world.alice.organization, name="p", user=world.alice.user
    )
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    found = api.get("/api/v1/send-requests?recipient=2818").json()["results"]
    assert [send["external_id"] for send in found] == [world.small.external_id]


def test_a_per_recipient_export_of_last_four_digits_holds_those_recipients(
    world, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        world.operator.post(
            "/exports/new/",
            {"kind": "deliveries", "file_format": "xlsx", "query": "recipient=2818&recipient=3383"},
        )
    export = Export.objects.get()
    assert export.state == Export.State.DONE, export.error
    sheet = load_workbook(export.file.open("rb")).active
    recipients = [row[5] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(recipients) == ["010-****-2818", "031-***-3383"]
    assert export.row_count == export.total_rows == 2
    assert {"label": "수신번호", "value": "끝자리 2818, 끝자리 3383"} in export.description


def test_the_search_by_last_four_digits_reads_its_index(world):
    organization = world.alice.organization
    sends = SendRequest.objects.for_org(organization).with_recipient(organization, [], ["2818"])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql, params = sends.values("id").query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            sql, params = sends.values("id").query.sql_with_params()
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(str(row) for row in cursor.fetchall())
    # PostgreSQL names each month's copy of the index after its columns.
    assert "delivery_org_recipient_end" in plan or "organization_id_right" in plan, plan


# --- Exports with full numbers ------------------------------------------------------------


def test_an_export_in_full_needs_a_reason_and_says_so(world, django_capture_on_commit_callbacks):
    operator = world.operator
    asked = {"kind": "deliveries", "file_format": "xlsx", "query": "recipient=2818"}
    page = operator.get("/results/").content.decode()
    assert "전체 번호 포함" in page and "다운로드 사유" in page
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        for reason in ("", "    ", "짧음", "가" * 201):
            response = operator.post("/exports/new/", {**asked, "unmasked": "on", "reason": reason})
            assert response.status_code == 302
            assert response["Location"] == "/results/?recipient=2818"
            assert not Export.objects.exists(), reason
        response = operator.post(
            "/exports/new/", {**asked, "unmasked": "on", "reason": "  고객 문의 회신  "}
        )
    export = Export.objects.get()
    assert export.unmasked and export.reason == "고객 문의 회신"
    assert export.state == Export.State.DONE, export.error
    sheet = load_workbook(export.file.open("rb")).active
    assert [row[5:7] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        ("010-2718-2818", "홍길동")
    ]
    with time_machine.travel(NOW, tick=False):
        page = operator.get("/exports/").content.decode()
    assert "전체 번호 포함" in page and "사유: 고객 문의 회신" in page
    # The same filter masked is another export, not the one just made.
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        operator.post("/exports/new/", {**asked, "reason": "무시되는 사유"})
    masked = Export.objects.latest("id")
    assert masked.pk != export.pk and not masked.unmasked and masked.reason == ""


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_masks_as_the_python_writer_does(world, tmp_path, full):
    for (number, _), (name, _) in zip(PHONES[:12], NAMES, strict=False):
        make_send(world.alice.organization, sender=world.alice.phone, recipients=[number])
        Delivery.objects.filter(recipient=number).update(recipient_name=name)
    export = Export(
        organization=world.alice.organization,
        created_by=world.alice.user,
        kind="deliveries",
        filters={},
        unmasked=full,
        expires_at=timezone.now(),
    )
    with translation.override("ko"):
        writers.write_csv(tmp_path / "python.csv", rows.export_rows(export))
        writers.copy_csv(tmp_path / "copy.csv", rows.export_rows(export))
    assert (tmp_path / "copy.csv").read_bytes() == (tmp_path / "python.csv").read_bytes()
    copied = list(csv.reader((tmp_path / "copy.csv").open(encoding="utf-8-sig", newline="")))
    numbers = {row[5] for row in copied[1:]}
    assert ("010-2718-2818" in numbers) is full and ("010-****-2818" in numbers) is not full
    assert ("'=***" in {row[6] for row in copied[1:]}) is not full


def test_the_api_answers_the_platform_in_full(world):
    """The platform's key is not a member: it reads back the numbers it sent (README)."""
    _key, secret = create_key(
        organization=world.alice.organization, name="p", user=world.alice.user
    )
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    body = api.get(f"/api/v1/send-requests/{world.small.external_id}").json()
    assert {(d["phone"], d["name"]) for d in body["deliveries"]} >= {("01027182818", "홍길동")}
