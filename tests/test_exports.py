from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone, translation
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape

from sendon_results import jobs, tasks
from sendon_results.exports import build, rows, writers
from sendon_results.exports.requests import run_export
from sendon_results.models import Delivery, Export, SendRequest
from sendon_results.result_codes import REQUEST_FAILED_EXPLANATION
from tests.factories import make_send

KST = ZoneInfo("Asia/Seoul")
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\tcmd", "\r=1+1"]


def ask(account, query: str = "", *, capture, **choices) -> Export:
    """Ask for an export from the list page, as the form does, and let the task run."""
    data = {"kind": "sends", "file_format": "xlsx", "split": "", "query": query, **choices}
    with capture(execute=True):
        response = account.client.post("/exports/new/", data)
    assert response.status_code == 302
    return Export.objects.filter(created_by=account.user).latest("id")


def workbook(export: Export):
    export.refresh_from_db()
    assert export.state == Export.State.DONE, export.error
    with export.file.open("rb") as file:
        return load_workbook(io.BytesIO(file.read()))


@pytest.fixture
def history(alice):
    at = dt.datetime(2026, 11, 20, 14, 3, tzinfo=KST)
    sends = [
        make_send(
            alice.organization,
            sender=alice.phone,
            requested_at=at - dt.timedelta(days=i),
            body=f"[한빛] 안내 {i}\n둘째 줄",
            outcomes=["success", "failure", "success"],
        )
        for i in range(5)
    ]
    sends.append(
        make_send(
            alice.organization,
            sender=alice.kakao,
            channel="alimtalk",
            status="failed",
            requested_at=at - dt.timedelta(days=30),
            outcomes=["failure"],
            source="web",
        )
    )
    return sends


def test_sends_layout_reads_back_with_types_and_korean(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(alice, "requested_from=2026-11-01", capture=django_capture_on_commit_callbacks)
    book = workbook(export)
    assert book.sheetnames == ["발송결과"]
    sheet = book.active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:8] == (
        "발송 요청 일시",
        "예약 일시",
        "채널",
        "발송 경로",
        "발신정보",
        "제목",
        "메시지 본문",
        "처리상태",
    )
    assert len(rows) - 1 == 5 == export.row_count  # the October send is outside the filter
    first = rows[1]
    assert first[0] == dt.datetime(2026, 11, 20, 14, 3)  # Korea wall-clock time
    assert first[2] == "SMS" and first[7] == "처리완료"
    assert first[6] == "[한빛] 안내 0\n둘째 줄"
    assert first[8:11] == (3, 2, 1)  # recipients, success, failure as numbers
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:R6"
    assert round(sheet.column_dimensions["G"].width) == 61  # 60 characters, and padding
    assert sheet["A2"].is_date
    # Named by the period asked for (to today, left open), not by the rows' first and last day.
    assert export.file_name == f"발송결과_2026-11-01_{timezone.localdate().isoformat()}.xlsx"


def test_deliveries_layout_keeps_to_the_outcome_filter(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(
        alice, "outcome=failure", kind="deliveries", capture=django_capture_on_commit_callbacks
    )
    rows = list(workbook(export).active.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert "수신번호" in header and "결과 코드" in header
    assert len(data) == Delivery.objects.filter(status="failure").count() == 6
    outcome = header.index("발송 현황")
    assert {row[outcome] for row in data} == {"실패"}
    explanation = data[0][header.index("결과")]
    assert explanation == "발신번호 미등록"  # 3019 over SMS, explained
    assert export.file_name.startswith("수신자별_발송결과_")


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_formula_like_text_stays_text(alice, file_format, django_capture_on_commit_callbacks):
    for i, body in enumerate(FORMULAS):
        make_send(alice.organization, sender=alice.phone, body=body, external_id=f"f{i}")
    export = ask(alice, file_format=file_format, capture=django_capture_on_commit_callbacks)
    if file_format == "xlsx":
        sheet = workbook(export).active
        cells = [row[6] for row in sheet.iter_rows(min_row=2)]
        # openpyxl leaves the _x000D_ escape of inline strings as it is; Excel and
        # LibreOffice read it as the carriage return it stands for.
        assert sorted(unescape(c.value) for c in cells) == sorted(FORMULAS)
        assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    else:
        export.refresh_from_db()
        text = export.file.open("rb").read().decode("utf-8-sig")
        bodies = [row[6] for row in list(csv.reader(io.StringIO(text)))[1:]]
        assert sorted(bodies) == sorted(f"'{body}" for body in FORMULAS)


def test_csv_has_a_byte_order_mark_and_every_row(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(
        alice, kind="deliveries", file_format="csv", capture=django_capture_on_commit_callbacks
    )
    export.refresh_from_db()
    raw = export.file.open("rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "발송 요청 일시"
    assert len(rows) - 1 == Delivery.objects.count() == export.row_count
    assert rows[1][0] == "2026-11-20 14:03:00"


def test_empty_filter_gives_headers_and_says_zero_rows(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(alice, "status=cancelled", capture=django_capture_on_commit_callbacks)
    rows = list(workbook(export).active.iter_rows(values_only=True))
    assert len(rows) == 1 and rows[0][0] == "발송 요청 일시"
    assert export.row_count == 0
    assert "0행: 머리글만" in alice.client.get("/exports/").content.decode()


def test_over_the_sheet_limit_the_export_goes_on_in_a_second_sheet(
    alice, history, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(writers, "XLSX_MAX_DATA_ROWS", 4)
    book = workbook(ask(alice, capture=django_capture_on_commit_callbacks))
    assert book.sheetnames == ["발송결과", "발송결과 (2)"]
    assert [book[name].max_row - 1 for name in book.sheetnames] == [4, 2]


def test_split_by_channel_gives_a_sheet_each(alice, history, django_capture_on_commit_callbacks):
    book = workbook(ask(alice, split="channel", capture=django_capture_on_commit_callbacks))
    assert sorted(book.sheetnames) == ["발송결과 - SMS", "발송결과 - 알림톡"]
    assert book["발송결과 - 알림톡"].max_row == 2


def test_download_names_the_file_in_korean_for_every_browser(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    response = alice.client.get(f"/exports/{export.pk}/download/")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''%EB%B0%9C%EC%86%A1%EA%B2%B0%EA%B3%BC_" in disposition
    assert b"".join(response.streaming_content)[:2] == b"PK"


def test_another_member_or_organization_gets_404(
    alice, bob, history, django_capture_on_commit_callbacks
):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    export.state = Export.State.FAILED
    export.save()
    for url in (
        f"/exports/{export.pk}/download/",
        f"/exports/{export.pk}/row/",
        f"/exports/{export.pk}/notice/",
    ):
        assert bob.client.get(url).status_code == 404, url
    assert bob.client.post(f"/exports/{export.pk}/retry/").status_code == 404
    assert f'id="export-{export.pk}"' in alice.client.get("/exports/").content.decode()
    assert f'id="export-{export.pk}"' not in bob.client.get("/exports/").content.decode()
    assert Export.objects.get(pk=export.pk).state == Export.State.FAILED


def test_a_double_click_starts_one_job(alice, history, django_capture_on_commit_callbacks):
    first = ask(alice, "status=completed", capture=django_capture_on_commit_callbacks)
    second = ask(alice, "status=completed", capture=django_capture_on_commit_callbacks)
    assert first.pk == second.pk
    third = ask(alice, "status=failed", capture=django_capture_on_commit_callbacks)
    assert third.pk != first.pk


def test_a_task_that_fails_halfway_leaves_a_failed_job_and_no_file(
    alice, history, monkeypatch, settings, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(writers, "PROGRESS_EVERY", 2)

    def broken_progress(written: int) -> None:
        raise OSError(28, "No space left on device")

    real_write = writers.write_xlsx
    monkeypatch.setattr(
        build,
        "write_xlsx",
        lambda path, rows, **kw: real_write(path, rows, **{**kw, "on_progress": broken_progress}),
    )
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    export.refresh_from_db()
    assert export.state == Export.State.FAILED
    assert "디스크 공간이 부족" in export.error
    assert not export.file
    assert list((Path(settings.MEDIA_ROOT) / "tmp").iterdir()) == []  # no half-written file
    page = alice.client.get("/exports/").content.decode()
    assert "디스크 공간이 부족" in page and "다시 시도" in page
    assert alice.client.get(f"/exports/{export.pk}/download/").status_code == 302

    monkeypatch.setattr(build, "write_xlsx", real_write)
    with django_capture_on_commit_callbacks(execute=True):
        alice.client.post(f"/exports/{export.pk}/retry/")
    export.refresh_from_db()
    assert export.state == Export.State.DONE and export.row_count == 6


def test_a_redelivered_job_starts_over(
    alice, history, settings, django_capture_on_commit_callbacks
):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    Export.objects.filter(pk=export.pk).update(state=Export.State.RUNNING, progress=40)
    temp = Path(settings.MEDIA_ROOT) / "tmp" / f"export-{export.pk}-dead.part"
    temp.write_bytes(b"half a file")
    run_export(export.pk)
    export.refresh_from_db()
    assert export.state == Export.State.DONE and not temp.exists()


def test_a_restarted_worker_takes_up_the_jobs_it_held_when_it_died(
    alice, history, django_capture_on_commit_callbacks
):
    mine = ask(alice, capture=django_capture_on_commit_callbacks, kind="deliveries")
    others = ask(alice, capture=django_capture_on_commit_callbacks, kind="sends")
    Export.objects.filter(pk=mine.pk).update(state=Export.State.RUNNING, worker="celery@a")
    Export.objects.filter(pk=others.pk).update(state=Export.State.RUNNING, worker="celery@b")
    assert tasks.requeue_orphans("celery@a") == 1  # the task runs eagerly here
    mine.refresh_from_db()
    others.refresh_from_db()
    assert mine.state == Export.State.DONE and mine.file
    assert others.state == Export.State.RUNNING  # its worker is alive, or will say so


def test_a_stuck_job_is_marked_failed_by_the_sweep_not_by_a_page_view(
    alice, history, settings, django_capture_on_commit_callbacks
):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    Export.objects.filter(pk=export.pk).update(
        state=Export.State.RUNNING,
        started_at=timezone.now() - dt.timedelta(seconds=settings.EXPORT_TIME_LIMIT + 601),
    )
    alice.client.get("/exports/")
    export.refresh_from_db()
    assert export.state == Export.State.RUNNING  # a GET writes nothing
    assert tasks.fail_stuck_jobs.delay().get() == 1  # beat's sweep, every ten minutes
    assert settings.CELERY_BEAT_SCHEDULE["fail-stuck-jobs"]["task"] == tasks.fail_stuck_jobs.name
    export.refresh_from_db()
    assert export.state == Export.State.FAILED
    assert "허용된 시간을 넘겨" in alice.client.get("/exports/").content.decode()


def test_an_expired_file_says_so(alice, history, django_capture_on_commit_callbacks):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = alice.client.get(f"/exports/{export.pk}/download/")
    assert response.status_code == 410
    assert "이 파일은 만료되었습니다" in response.content.decode()


def test_the_list_page_says_when_the_export_is_ready(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(alice, "channel=sms", capture=django_capture_on_commit_callbacks)
    html = alice.client.get("/results/?channel=sms").content.decode()
    assert "내보낼 파일이 준비되었습니다" in html
    assert f"/exports/{export.pk}/download/" in html


def test_an_export_of_an_invalid_filter_is_refused(alice, history):
    response = alice.client.post(
        "/exports/new/", {"kind": "sends", "file_format": "xlsx", "query": "status=bogus"}
    )
    assert response.status_code == 302
    assert not Export.objects.exists()
    assert "검색 조건을 먼저 고치세요" in alice.client.get(response.url).content.decode()


@pytest.mark.libreoffice
def test_libreoffice_opens_the_file_and_gives_back_every_row(
    alice, history, tmp_path, django_capture_on_commit_callbacks
):
    if not shutil.which("soffice"):
        pytest.fail("LibreOffice is missing: run `make system-packages`")
    make_send(alice.organization, sender=alice.phone, body='=HYPERLINK("http://x","y")')
    export = ask(alice, kind="deliveries", capture=django_capture_on_commit_callbacks)
    export.refresh_from_db()
    source = tmp_path / "export.xlsx"
    source.write_bytes(export.file.open("rb").read())
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    rows = list(csv.reader((tmp_path / "export.csv").open(encoding="utf-8")))
    assert len(rows) - 1 == export.row_count == Delivery.objects.count()
    assert any(row[4] == '=HYPERLINK("http://x","y")' for row in rows)  # shown, not evaluated


def test_the_ready_notice_is_shown_once(alice, history, django_capture_on_commit_callbacks):
    ask(alice, capture=django_capture_on_commit_callbacks)
    assert "내보낼 파일이 준비되었습니다" in alice.client.get("/results/").content.decode()
    assert "내보낼 파일이 준비되었습니다" not in alice.client.get("/results/").content.decode()


@pytest.mark.parametrize("kind", ["sends", "deliveries"])
def test_postgresql_copy_writes_the_same_csv_as_python(alice, history, tmp_path, kind):
    """CSV on PostgreSQL goes through COPY, the database formatting each cell: it must give
    exactly what the Python writer gives, cell for cell."""
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's: runs in the PostgreSQL pass of .ci/run")
    for i, body in enumerate(FORMULAS):
        make_send(
            alice.organization,
            sender=alice.kakao,
            channel="alimtalk",
            body=body,
            external_id=f"=x{i}",
            scheduled_at=timezone.now(),
            fallback=True,
            outcomes=["failure", "sending", "success"],
            recipients=["15881234", "021234567", "0317654321"],
        )
    Delivery.objects.filter(status="failure").update(
        result_code="3020", recipient_name="-이름", result_message="@원문"
    )
    Delivery.objects.filter(status="sending").update(result_code="9999", result_message="=원문")
    # Messages that never went out, and a request that failed as a whole: its reason is
    # each message's result, or our words where the platform gave none.
    make_send(
        alice.organization,
        outcomes=["waiting", "cancelled", "failure", "failure"],
        sender=alice.phone,
        status="failed",
        body="예약\n취소",
    )
    failed = Delivery.objects.filter(status="failure", send_request__body="예약\n취소")
    failed.update(result_code="REQUEST", result_message="=발신번호 인증이 만료되었습니다.")
    failed.filter(pk=failed.first().pk).update(result_message="")
    export = Export(
        organization=alice.organization,
        created_by=alice.user,
        kind=kind,
        filters={},
        expires_at=timezone.now(),
    )
    with translation.override("ko"):
        writers.write_csv(tmp_path / "python.csv", rows.export_rows(export))
        count = writers.copy_csv(tmp_path / "copy.csv", rows.export_rows(export))
    python = list(csv.reader((tmp_path / "python.csv").open(encoding="utf-8-sig", newline="")))
    copied = list(csv.reader((tmp_path / "copy.csv").open(encoding="utf-8-sig", newline="")))
    assert count == len(copied) - 1 > 6
    assert copied == python
    # Byte for byte, line ends too: CRLF after each record, LF inside a cell.
    assert (tmp_path / "copy.csv").read_bytes() == (tmp_path / "python.csv").read_bytes()
    if kind == "deliveries":
        with translation.override("ko"):
            ours = str(REQUEST_FAILED_EXPLANATION.summary)
        results = {row[9] for row in copied if row[8] == "REQUEST"}
        assert results == {"'=발신번호 인증이 만료되었습니다.", ours}


def waiting_export(account) -> Export:
    """A job of all sends as Excel, not started yet (run it with run_export)."""
    return Export.objects.create(
        organization=account.organization,
        created_by=account.user,
        kind="sends",
        file_format="xlsx",
        filters={},
        expires_at=timezone.now() + dt.timedelta(days=7),
    )


def test_a_job_failed_while_running_is_never_published(alice, history, monkeypatch):
    export = waiting_export(alice)
    real_write = writers.write_xlsx

    def marked_failed_meanwhile(path, rows, **kwargs):
        written = real_write(path, rows, **kwargs)
        Export.objects.filter(pk=export.pk).update(state=Export.State.FAILED, error="time limit")
        return written

    monkeypatch.setattr(build, "write_xlsx", marked_failed_meanwhile)
    run_export(export.pk)
    export.refresh_from_db()
    assert export.state == Export.State.FAILED and not export.file


def test_a_run_overtaken_by_a_redelivery_neither_publishes_nor_fails_the_job(
    alice, history, monkeypatch
):
    export = waiting_export(alice)
    real_write = writers.write_xlsx

    def claimed_again_meanwhile(path, rows, **kwargs):
        written = real_write(path, rows, **kwargs)
        Export.objects.filter(pk=export.pk).update(attempt="a-later-run")
        return written

    monkeypatch.setattr(build, "write_xlsx", claimed_again_meanwhile)
    run_export(export.pk)
    export.refresh_from_db()
    assert export.state == Export.State.RUNNING and export.attempt == "a-later-run"
    assert not export.file

    def disk_full(path, rows, **kwargs):
        Export.objects.filter(pk=export.pk).update(attempt="yet-another-run")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build, "write_xlsx", disk_full)
    run_export(export.pk)
    export.refresh_from_db()
    assert export.state == Export.State.RUNNING and not export.error  # the later run decides


def test_two_clicks_on_try_again_run_the_job_once(
    alice, history, django_capture_on_commit_callbacks
):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    Export.objects.filter(pk=export.pk).update(state=Export.State.FAILED)
    assert jobs.reset_for_retry(export) is True
    assert jobs.reset_for_retry(export) is False


def test_an_unreachable_queue_fails_the_job_not_the_page(
    alice, history, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from sendon_results import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_export, "delay", broker_down)
    data = {"kind": "sends", "file_format": "xlsx", "split": "", "query": ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.client.post("/exports/new/", data)
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.state == Export.State.FAILED and "대기열" in export.error
    assert "다시 시도" in alice.client.get("/exports/").content.decode()


@pytest.fixture
def reservations(alice, history):
    """A reservation still waiting, a cancelled one, and one released with every outcome."""
    at = dt.datetime(2026, 11, 21, 9, 0, tzinfo=KST)
    sends = {
        "reserved": (["waiting"] * 3, "reserved", at, at + dt.timedelta(days=3)),
        "cancelled": (["cancelled"] * 2, "cancelled", at - dt.timedelta(hours=1), at),
        "released": (
            ["success", "failure", "sending", "waiting", "cancelled"],
            "in_progress",
            at - dt.timedelta(hours=2),
            at - dt.timedelta(hours=2),
        ),
    }
    return {
        name: make_send(
            alice.organization,
            sender=alice.phone,
            external_id=name,
            outcomes=outcomes,
            status=status,
            requested_at=requested_at,
            scheduled_at=scheduled_at,
        )
        for name, (outcomes, status, requested_at, scheduled_at) in sends.items()
    }


def test_waiting_and_cancelled_have_columns_of_their_own_in_the_sends_layout(
    alice, reservations, django_capture_on_commit_callbacks
):
    export = ask(alice, capture=django_capture_on_commit_callbacks)
    rows = list(workbook(export).active.iter_rows(values_only=True))
    header = rows[0]
    assert header[8:14] == ("수신자", "성공", "실패", "발송중", "대기", "취소")
    by_id = {row[header.index("플랫폼 ID")]: row for row in rows[1:]}
    assert len(by_id) == export.row_count == SendRequest.objects.count() == 9
    for send in SendRequest.objects.all():
        row = by_id[send.external_id]
        assert row[8:14] == (
            send.recipient_count,
            send.success_count,
            send.failure_count,
            send.sending_count,
            send.waiting_count,
            send.cancelled_count,
        )
        assert sum(row[9:14]) == row[8]  # a cancelled message is neither success nor failure
    assert by_id["reserved"][8:14] == (3, 0, 0, 0, 3, 0)
    assert by_id["cancelled"][8:14] == (2, 0, 0, 0, 0, 2)


def test_waiting_and_cancelled_messages_say_so_in_the_recipients_layout(
    alice, reservations, django_capture_on_commit_callbacks
):
    export = ask(alice, kind="deliveries", capture=django_capture_on_commit_callbacks)
    rows = list(workbook(export).active.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    outcome, carrier = header.index("발송 현황"), header.index("통신사")
    labels = {
        "success": "성공",
        "failure": "실패",
        "sending": "발송중",
        "waiting": "대기",
        "cancelled": "취소",
    }
    shown = Counter(row[outcome] for row in data)
    in_database = Counter(
        labels[status] for status in Delivery.objects.values_list("status", flat=True)
    )
    assert shown == in_database and shown["대기"] == 4 and shown["취소"] == 3
    # The progress bar's total counted every outcome, not three of five.
    assert export.total_rows == export.row_count == len(data) == Delivery.objects.count()
    assert all(row[carrier] is None for row in data if row[outcome] in ("대기", "취소"))

    waiting = ask(
        alice, "outcome=waiting", kind="deliveries", capture=django_capture_on_commit_callbacks
    )
    rows = list(workbook(waiting).active.iter_rows(values_only=True))[1:]
    assert {row[outcome] for row in rows} == {"대기"}
    assert len(rows) == waiting.total_rows == Delivery.objects.filter(status="waiting").count()


def test_a_repeated_recipient_means_any_of_the_numbers_in_both_layouts(
    alice, django_capture_on_commit_callbacks
):
    at = timezone.now() - dt.timedelta(days=1)
    for external_id, numbers in {
        "A": ["01011112222", "01033334444"],
        "B": ["01055556666"],
        "C": ["01077778888"],
    }.items():
        outcomes = ["success"] * len(numbers)
        make_send(
            alice.organization,
            sender=alice.phone,
            external_id=external_id,
            requested_at=at,
            outcomes=outcomes,
            recipients=numbers,
        )
    query = "recipient=010-1111-2222&recipient=01055556666"

    sends = ask(alice, query, capture=django_capture_on_commit_callbacks)
    rows = list(workbook(sends).active.iter_rows(values_only=True))
    assert sorted(row[-1] for row in rows[1:]) == ["A", "B"] and sends.row_count == 2

    recipients = ask(alice, query, kind="deliveries", capture=django_capture_on_commit_callbacks)
    rows = list(workbook(recipients).active.iter_rows(values_only=True))
    number = rows[0].index("수신번호")
    # Masked, as every export asked for without full numbers (tests/test_masking.py).
    assert sorted(row[number] for row in rows[1:]) == ["010-****-2222", "010-****-6666"]
    assert recipients.row_count == recipients.total_rows == 2
    # One number given twice is one number; numbers in one box separated by commas, too.
    same = ask(
        alice,
        "recipient=010-5555-6666, 01011112222&recipient=01011112222",
        kind="deliveries",
        capture=django_capture_on_commit_callbacks,
    )
    assert same.row_count == same.total_rows == 2
    described = recipients.description
    assert {"수신번호": "010-1111-2222, 010-5555-6666"}.items() <= {
        item["label"]: item["value"] for item in described
    }.items()


def record_ends(raw: bytes) -> list[bytes]:
    """The line ends of a CSV file that end records (outside quoted cells)."""
    ends, quoted = [], False
    for index, byte in enumerate(raw):
        if byte == ord('"'):
            quoted = not quoted
        elif byte == ord("\n") and not quoted:
            ends.append(raw[index - 1 : index + 1] if raw[index - 1] == ord("\r") else b"\n")
    return ends


@pytest.mark.parametrize("kind", ["sends", "deliveries"])
def test_every_csv_record_ends_in_crlf(alice, history, kind, django_capture_on_commit_callbacks):
    """The same on SQLite (csv.writer) and PostgreSQL (COPY, its LF rewritten); line breaks
    inside a cell stay as they were typed."""
    export = ask(alice, kind=kind, file_format="csv", capture=django_capture_on_commit_callbacks)
    export.refresh_from_db()
    raw = export.file.open("rb").read()
    assert record_ends(raw) == [b"\r\n"] * (export.row_count + 1)
    assert raw.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[1][6 if kind == "sends" else 4] == "[한빛] 안내 0\n둘째 줄"


def test_the_exports_page_query_count_does_not_grow_with_rows(
    alice, history, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """Each row describes its filter (sender, channel) from what was stored when it was
    asked for: no query per row, and no write on a GET."""
    ask(alice, f"sender={alice.phone.pk}&channel=sms", capture=django_capture_on_commit_callbacks)
    # session, user, membership with its organization, the exports
    with django_assert_num_queries(4):
        alice.client.get("/exports/")
    senders = f"sender={alice.kakao.pk}&sender={alice.phone.pk}"
    for day in range(1, 21):
        ask(
            alice,
            f"{senders}&requested_to=2026-11-{day:02d}",
            capture=django_capture_on_commit_callbacks,
        )
    with django_assert_num_queries(4) as captured:
        html = alice.client.get("/exports/").content.decode()
    writes = ("INSERT", "UPDATE", "DELETE")
    assert not [query for query in captured.captured_queries if query["sql"].startswith(writes)]
    assert html.count('class="badge export-done"') == 21
    assert f"발신정보: {alice.phone} · 채널: SMS" in html  # the first row's
    both = (f"발신정보: {alice.kakao}, {alice.phone}", f"발신정보: {alice.phone}, {alice.kakao}")
    assert sum(html.count(senders) for senders in both) == 20
    assert "파일은 7일 동안 보관됩니다" in html


def test_the_exports_page_says_how_long_files_are_kept(alice, settings):
    settings.EXPORT_EXPIRY_DAYS = 3
    assert "파일은 3일 동안 보관됩니다" in alice.client.get("/exports/").content.decode()


# File names: the period asked for, as every page writes a day


def test_the_file_is_named_by_the_period_asked_for_not_by_its_rows(
    alice, history, django_capture_on_commit_callbacks
):
    # The rows fall on 2026-11-16 to 2026-11-20; the name is the month asked for.
    export = ask(
        alice,
        "requested_from=2026-11-01&requested_to=2026-11-30",
        capture=django_capture_on_commit_callbacks,
    )
    workbook(export)
    assert export.file_name == "발송결과_2026-11-01_2026-11-30.xlsx"
    # Typed another way, and with nothing in it: still the period asked for.
    empty = ask(
        alice,
        "requested_from=2026.11.21&requested_to=20261130&channel=mms",
        kind="deliveries",
        file_format="csv",
        capture=django_capture_on_commit_callbacks,
    )
    empty.refresh_from_db()
    assert empty.row_count == 0
    assert empty.file_name == "수신자별_발송결과_2026-11-21_2026-11-30.csv"
    response = alice.client.get(f"/exports/{export.pk}/download/")
    assert (
        "%EB%B0%9C%EC%86%A1%EA%B2%B0%EA%B3%BC_2026-11-01_2026-11-30.xlsx"
        in (response["Content-Disposition"])
    )


def test_without_a_period_the_file_is_named_by_the_lists_own(
    alice, history, settings, django_capture_on_commit_callbacks
):
    export = ask(alice, "channel=sms", capture=django_capture_on_commit_callbacks)
    workbook(export)
    today = timezone.localdate()
    oldest = today - dt.timedelta(days=settings.RETENTION_DAYS)  # every send kept
    assert export.file_name == f"발송결과_{oldest.isoformat()}_{today.isoformat()}.xlsx"


def test_requested_period_fills_what_is_left_out():
    today = dt.date(2026, 12, 6)
    assert build.requested_period({"requested_to": ["2026-11-30"]}, today) == (
        dt.date(2025, 12, 6),
        dt.date(2026, 11, 30),
    )
    assert build.requested_period({"requested_from": ["20261101"]}, today) == (
        dt.date(2026, 11, 1),
        today,
    )
    # A month-end bound to come (the list allows it) stays the period asked for.
    assert build.requested_period(
        {"requested_from": ["2026-12-01"], "requested_to": ["2026-12-31"]}, today
    ) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))


def test_the_failed_numbers_file_is_named_by_the_sends_day(alice):
    at = dt.datetime(2026, 11, 20, 23, 30, tzinfo=KST)  # 14:30 UTC: the day is Korea's
    send = make_send(alice.organization, sender=alice.phone, requested_at=at, outcomes=["failure"])
    response = alice.client.post(f"/results/{send.pk}/failed/")
    assert response.status_code == 200
    name = f"%EC%8B%A4%ED%8C%A8_%EB%B2%88%ED%98%B8_{send.pk}_2026-11-20.xlsx"  # 실패_번호
    assert name in response["Content-Disposition"]


def test_the_lookup_workbook_is_named_by_the_period_looked_up(alice):
    from tests.test_lookups import _download_token, upload, xlsx

    _, page = upload(alice.client, xlsx([["01011112222"]]), period="7")
    response = alice.client.post("/recipients/lookup/download/", {"lookup": _download_token(page)})
    today = timezone.localdate()
    first = today - dt.timedelta(days=6)
    name = f"%EB%B2%88%ED%98%B8%EC%9D%BC%EA%B4%84%EC%A1%B0%ED%9A%8C_{first}_{today}.xlsx"
    assert name in response["Content-Disposition"]
