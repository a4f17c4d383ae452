"""번호 일괄 조회 (/recipients/lookup/): an uploaded list's last outcomes, through the real
URLs, with the files a member's Excel or a Korean CSV export really makes."""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sendon_results.lookups import sheets
from sendon_results.lookups.outcomes import last_outcomes
from sendon_results.lookups.sheets import CFB_SIGNATURE, MAX_BYTES, MAX_NUMBERS
from sendon_results.models import AccessEvent, Delivery, Membership
from tests.factories import MembershipFactory, make_send

URL = "/recipients/lookup/"
DOWNLOAD_URL = "/recipients/lookup/download/"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows: list[list[object]], *, merge: str | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(
    client: Client, content: bytes, name: str = "list.xlsx", **data: object
) -> tuple[int, str]:
    data.setdefault("period", "30")
    response = client.post(URL, {"file": SimpleUploadedFile(name, content), **data})
    return response.status_code, response.content.decode()


def ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def client_of(organization: object, role: str) -> Client:
    client = Client()
    client.force_login(MembershipFactory(organization=organization, role=role).user)
    return client


@pytest.fixture
def history(alice):
    """010-1111-2222: a failure 40 days ago (outside 30 days), a failure 10 days ago and a
    success 2 days ago by AlimTalk falling back to SMS. 010-3333-4444: only 40 days ago."""
    make_send(alice.organization, outcomes=["success"], recipients=["01011112222"])
    old = make_send(
        alice.organization,
        outcomes=["failure", "success"],
        recipients=["01011112222", "01033334444"],
        requested_at=ago(40),
    )
    middle = make_send(
        alice.organization, outcomes=["failure"], recipients=["01011112222"], requested_at=ago(10)
    )
    latest = make_send(
        alice.organization,
        outcomes=["success"],
        recipients=["01011112222"],
        requested_at=ago(2),
        channel="alimtalk",
    )
    Delivery.objects.filter(send_request=latest).update(final_channel="sms", result_code="1000")
    # The first send above is an hour old: the latest is two days old, so it is not.
    Delivery.objects.filter(recipient="01011112222").exclude(
        send_request__in=[old, middle, latest]
    ).delete()
    return {"old": old, "middle": middle, "latest": latest}


def direct_last(organization: object, number: str, since: dt.datetime) -> Delivery | None:
    return (
        Delivery.objects.filter(
            organization=organization, recipient=number, send_request__requested_at__gte=since
        )
        .order_by("-send_request__requested_at", "-send_request_id", "-id")
        .first()
    )


# The page and what it finds


def test_the_page_explains_what_it_reads(alice):
    response = alice.client.get(URL)
    page = response.content.decode()
    assert response.status_code == 200
    assert "번호 일괄 조회" in page
    assert "10,000" in page and "CP949" in page
    assert 'href="/recipients/lookup/"' in page  # in the menu


def test_last_outcome_in_the_period_matches_a_direct_query(alice, history):
    status, page = upload(alice.client, xlsx([["전화번호"], ["010-1111-2222"], ["01033334444"]]))
    assert status == 200
    expected = direct_last(alice.organization, "01011112222", ago(30))
    assert expected is not None and expected.send_request_id == history["latest"].pk
    assert f'href="/results/{history["latest"].pk}/"' in page
    assert f'href="/results/{history["middle"].pk}/"' not in page
    assert f'href="/results/{history["old"].pk}/"' not in page
    assert "알림톡 → SMS" in page or "AlimTalk → SMS" in page
    assert "<code>1000</code>" in page
    # 010-3333-4444 was sent to 40 days ago only.
    assert direct_last(alice.organization, "01033334444", ago(30)) is None
    assert page.count("기간 내 발송 없음") >= 2  # the summary and the row
    # The whole retention period finds the old one.
    status, page = upload(alice.client, xlsx([["01033334444"]]), period="kept")
    assert f'href="/results/{history["old"].pk}/"' in page


def test_dates_pick_the_period(alice, history):
    first = timezone.localdate() - dt.timedelta(days=12)
    last = timezone.localdate() - dt.timedelta(days=5)
    status, page = upload(
        alice.client,
        xlsx([["01011112222"]]),
        period="30",  # left as it was: the typed dates win
        period_from=first.isoformat(),
        period_to=last.isoformat(),
    )
    assert status == 200
    assert f'href="/results/{history["middle"].pk}/"' in page
    assert f"{first.isoformat()} ~ {last.isoformat()}" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"period": "custom", "period_from": "2000-01-01"}, "보관"),
        ({"period": "custom", "period_from": "2026-13-45"}, "날짜"),
        # A day to come is refused, as on every page but the results list (periods.py).
        ({"period": "custom", "period_to": "2099-12-31"}, "또는 그 이전"),
    ],
)
def test_a_bad_period_is_refused_on_the_form(alice, data, message):
    status, page = upload(alice.client, xlsx([["01011112222"]]), **data)
    assert status == 400
    assert 'class="field-error"' in page and message in page


def test_an_end_before_the_start_is_refused_on_the_form(alice):
    start, end = timezone.localdate(ago(3)), timezone.localdate(ago(10))
    status, page = upload(
        alice.client,
        xlsx([["01011112222"]]),
        period="custom",
        period_from=start.isoformat(),
        period_to=end.isoformat(),
    )
    assert status == 400
    assert f"끝 날짜가 시작 날짜({start.isoformat()})보다 앞섭니다" in page


def test_both_queries_agree(alice, history):
    """DISTINCT ON (PostgreSQL) and the first row per number (SQLite) pick the same."""
    numbers = ["01011112222", "01033334444", "01099990000"]
    picked = last_outcomes(alice.organization, numbers, ago(365), ago(-1), distinct_on=False)
    assert picked["01011112222"].send_id == history["latest"].pk
    assert picked["01033334444"].send_id == history["old"].pk
    assert "01099990000" not in picked
    if connection.features.can_distinct_on_fields:
        assert (
            last_outcomes(alice.organization, numbers, ago(365), ago(-1), distinct_on=True)
            == picked
        )


def test_another_organizations_deliveries_never_show(alice, bob):
    theirs = make_send(bob.organization, outcomes=["failure"], recipients=["01055556666"])
    status, page = upload(alice.client, xlsx([["01055556666"]]))
    assert status == 200
    assert f"/results/{theirs.pk}/" not in page
    assert "기간 내 발송 없음" in page
    status, page = upload(bob.client, xlsx([["01055556666"]]))
    assert f"/results/{theirs.pk}/" in page


# Reading the file


def test_a_cp949_csv_as_korean_excel_saves_it(alice, history):
    text = "이름,휴대폰\r\n김하늘,010-1111-2222\r\n박서윤,010-3333-4444\r\n"
    status, page = upload(alice.client, text.encode("cp949"), "고객.csv")
    assert status == 200
    assert "B열" in page or "column B" in page
    assert f'href="/results/{history["latest"].pk}/"' in page
    assert "2개 번호" in page


def test_a_utf8_csv_with_its_bom(alice, history):
    status, page = upload(alice.client, "\ufeffphone\n01011112222\n".encode(), "list.csv")
    assert status == 200
    assert f'href="/results/{history["latest"].pk}/"' in page


def test_blanks_and_duplicates_are_counted(alice):
    rows = [["01011112222"], [None], ["010-1111-2222"], [""], ["01033334444"], [None], [None]]
    status, page = upload(alice.client, xlsx(rows))
    assert status == 200
    assert "2개 번호" in page
    assert "빈 칸 2개" in page  # the two after the last number are the sheet's end
    assert "중복 1개" in page


def test_numbers_that_lost_their_leading_zero_or_became_floats(alice, history):
    rows = [[1011112222], [1033334444.0], ["1012345678.0"], ["1.01235E+09"], ["홍길동"]]
    status, page = upload(alice.client, xlsx(rows))
    assert status == 200
    assert f'href="/results/{history["latest"].pk}/"' in page  # 1011112222 → 01011112222
    assert "3개 번호" in page
    assert "앞자리 0" in page and "3개" in page
    # The exponent form lost digits, and a name is no number: listed by their rows.
    assert "2개 값은 전화번호가 아니어서" in page
    assert "행 4, 5" in page


def test_a_header_of_another_name_is_skipped(alice):
    status, page = upload(alice.client, xlsx([["고객 번호"], ["01011112222"]]))
    assert status == 200
    assert "1개 번호" in page and "고객 번호" in page


def test_ten_thousand_numbers_are_accepted_and_one_more_refused(alice):
    numbers = [[f"010{i:08d}"] for i in range(MAX_NUMBERS)]
    status, page = upload(alice.client, xlsx(numbers))
    assert status == 200
    assert "10,000개 번호" in page
    status, page = upload(alice.client, xlsx([*numbers, ["01099999999"]]))
    assert status == 400
    assert "10,000개" in page and "나누어" in page


def _encrypted_workbook() -> bytes:
    """The start of what Excel writes for a workbook with a password: an OLE2 compound
    file whose directory names the EncryptionInfo and EncryptedPackage streams."""
    header = CFB_SIGNATURE + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00" + bytes(488)
    directory = "EncryptionInfo".encode("utf-16-le") + bytes(50)
    directory += "EncryptedPackage".encode("utf-16-le") + bytes(50)
    return header + directory + bytes(1024)


def _zip_of(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "list.xlsx", "PNG"),
        (_encrypted_workbook(), "list.xlsx", "암호"),
        (CFB_SIGNATURE + bytes(600), "list.xls", ".xls"),
        (_zip_of("word/document.xml"), "list.xlsx", "스프레드시트"),
        (b"PK\x03\x04 broken", "list.xlsx", "스프레드시트"),
        (bytes(range(256)) * 4, "list.csv", "스프레드시트"),
        (b"", "list.csv", "비어"),
        (xlsx([["01011112222"], ['=A1&""']]), "list.xlsx", "A2"),
        (xlsx([["전화번호"], ["01011112222"], ["01033334444"]], merge="A2:A3"), "l.xlsx", "A2:A3"),
        ('번호\n=HYPERLINK("x")\n'.encode("cp949"), "list.csv", "A2"),
    ],
    ids=[
        "png",
        "encrypted",
        "xls",
        "docx",
        "broken-zip",
        "binary",
        "empty",
        "formula",
        "merged",
        "csv-formula",
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message(alice, content, name, message):
    before = AccessEvent.objects.count()
    status, page = upload(alice.client, content, name)
    assert status == 400
    assert 'class="field-error"' in page
    assert message in page
    assert "lookup-table" not in page
    assert AccessEvent.objects.count() == before  # nothing looked up, nothing recorded


def test_a_formula_outside_the_number_column_is_no_matter(alice):
    status, page = upload(alice.client, xlsx([["01011112222", "=1+1"]]))
    assert status == 200


def test_a_file_over_10_mb_is_refused_and_never_written_to_disk(alice, monkeypatch):
    def no_disk(*args, **kwargs):
        raise AssertionError("the upload went to a temporary file")

    monkeypatch.setattr("django.core.files.uploadedfile.TemporaryUploadedFile.__init__", no_disk)
    status, page = upload(alice.client, b"0" * (MAX_BYTES + 1), "big.csv")
    assert status == 400 and "10MB" in page.replace(" ", "")
    # 3 MB, above Django's 2.5 MB in memory: still kept in memory, and read.
    padding = "01011112222\n" + ("," + "x" * 100_000 + "\n") * 31
    status, page = upload(alice.client, padding.encode(), "big.csv")
    assert status == 200 and "1개 번호" in page


def test_no_file_is_asked_for(alice):
    response = alice.client.post(URL, {"period": "30"})
    assert response.status_code == 400
    assert "파일을 선택" in response.content.decode()


# Personal data


def test_numbers_are_masked_unless_a_role_that_may_asks(alice, history):
    content = xlsx([["01011112222"]])
    viewer = client_of(alice.organization, Membership.Role.VIEWER)
    for client, data, shown in [
        (viewer, {"reveal": "on"}, "010-****-2222"),  # a viewer's tick is ignored
        (alice.client, {}, "010-****-2222"),
        (alice.client, {"reveal": "on"}, "010-1111-2222"),
    ]:
        status, page = upload(client, content, **data)
        assert status == 200
        assert shown in page
        if "*" in shown:
            assert "010-1111-2222" not in page and "01011112222" not in page
    _, page = upload(viewer, content)
    assert "전체 번호 보기" not in page
    assert DOWNLOAD_URL not in page  # a viewer may not export


def test_each_lookup_is_in_the_access_record_without_the_numbers(alice, history):
    upload(alice.client, xlsx([["01011112222"], ["01033334444"]]), reveal="on")
    event = AccessEvent.objects.latest("id")
    assert event.action == AccessEvent.Action.SENDS_SEARCHED
    assert event.user == alice.user and event.organization == alice.organization
    assert event.detail["rows"] == 2 and event.detail["found"] == 1
    assert event.detail["numbers"] == "revealed"
    assert "1111" not in str(event.detail) and "3333" not in str(event.detail)


def test_numbers_never_reach_the_logs(alice, history, caplog):
    with caplog.at_level(logging.DEBUG):
        upload(alice.client, xlsx([["01011112222"], ["01033334444"]]))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "1111" not in logged and "3333" not in logged


# The workbook


def _download_token(page: str) -> str:
    marker = 'name="lookup" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def _read(content: bytes) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    return list(workbook.active.iter_rows(values_only=True))


def test_the_workbook_read_back(alice, history):
    _, page = upload(alice.client, xlsx([["번호"], ["01033334444"], ["010-1111-2222"]]))
    token = _download_token(page)
    response = alice.client.post(DOWNLOAD_URL, {"lookup": token})
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert "attachment" in response["Content-Disposition"]
    rows = _read(response.content)
    assert rows[0][:5] == ("행", "수신번호", "마지막 발송 요청 일시", "채널", "발송 현황")
    assert rows[1][:2] == (2, "010-****-4444") and rows[1][4] == "기간 내 발송 없음"
    latest = history["latest"]
    assert rows[2][:2] == (3, "010-****-2222")
    requested = timezone.localtime(latest.requested_at).replace(tzinfo=None)
    assert abs(rows[2][2] - requested) < dt.timedelta(seconds=1)  # Excel keeps milliseconds
    assert rows[2][4] == "성공" and rows[2][5] == "1000"
    assert rows[2][8].endswith(f"/results/{latest.pk}/")
    event = AccessEvent.objects.latest("id")
    assert event.action == AccessEvent.Action.EXPORT_DOWNLOADED
    assert event.detail["rows"] == 2 and event.detail["numbers"] == "masked"


def test_full_numbers_in_the_workbook_need_a_reason(alice, history):
    _, page = upload(alice.client, xlsx([["01011112222"]]))
    token = _download_token(page)
    refused = alice.client.post(DOWNLOAD_URL, {"lookup": token, "unmasked": "on"})
    assert refused.status_code == 400
    assert "사유" in refused.content.decode()
    assert token in refused.content.decode()  # the form again, no new upload needed
    response = alice.client.post(
        DOWNLOAD_URL, {"lookup": token, "unmasked": "on", "reason": "고객 문의 응대"}
    )
    assert response.status_code == 200
    assert _read(response.content)[1][1] == "010-1111-2222"
    event = AccessEvent.objects.latest("id")
    assert event.detail["numbers"] == "revealed" and event.detail["reason"] == "고객 문의 응대"


def test_a_result_message_like_a_formula_stays_text(alice):
    send = make_send(alice.organization, outcomes=["failure"], recipients=["01011112222"])
    Delivery.objects.filter(send_request=send).update(result_code="=CMD()", result_message="@x")
    _, page = upload(alice.client, xlsx([["01011112222"]]))
    response = alice.client.post(DOWNLOAD_URL, {"lookup": _download_token(page)})
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    cell = workbook.active["F2"]
    assert cell.value == "=CMD()" and cell.data_type == "s"


def test_the_download_is_the_members_own_and_short_lived(alice, history, time_machine):
    now = timezone.now()
    time_machine.move_to(now - dt.timedelta(minutes=31))
    _, page = upload(alice.client, xlsx([["01011112222"]]))
    token = _download_token(page)
    time_machine.move_to(now - dt.timedelta(minutes=25))
    operator = client_of(alice.organization, Membership.Role.OPERATOR)
    response = operator.post(DOWNLOAD_URL, {"lookup": token})
    assert response.status_code == 400  # another member's lookup
    viewer = client_of(alice.organization, Membership.Role.VIEWER)
    assert viewer.post(DOWNLOAD_URL, {"lookup": token}).status_code == 403
    assert alice.client.post(DOWNLOAD_URL, {"lookup": token[:-3] + "abc"}).status_code == 400
    time_machine.move_to(now - dt.timedelta(minutes=10))
    assert alice.client.post(DOWNLOAD_URL, {"lookup": token}).status_code == 200
    time_machine.move_to(now)
    expired = alice.client.post(DOWNLOAD_URL, {"lookup": token})
    assert expired.status_code == 400
    assert "30분" in expired.content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(db):
    response = Client().get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert reverse("recipient_lookup") == URL


def test_a_cell_far_to_the_right_and_endless_blank_rows_are_bounded(alice, monkeypatch):
    """A value in the sheet's last column makes every row 16,384 cells wide to a reader
    that fills rows out: only the first columns are read, and rows only so far."""
    rows: list[list[object]] = [["01011112222"], ["01033334444"]]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    sheet["XFD3"] = "far away"
    buffer = io.BytesIO()
    workbook.save(buffer)
    status, page = upload(alice.client, buffer.getvalue())
    assert status == 200 and "2개 번호" in page
    monkeypatch.setattr(sheets, "MAX_ROWS", 3)
    status, page = upload(alice.client, xlsx([[""]] * 2 + rows))
    assert status == 400
    assert "3개가 넘는 행" in page
