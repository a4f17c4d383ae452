"""A send's recipient rows, built in Python (results/rows.py), say exactly what the
template they replaced said: every outcome, result code, fallback, refund, name, masked
and revealed, in both languages."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import engines
from django.utils import timezone, translation

from sendon_results.masking import mask_name, mask_phone
from sendon_results.models import Delivery, SendRequest
from sendon_results.phones import format_phone
from sendon_results.result_codes import REQUEST_FAILED
from sendon_results.results.rows import delivery_row

# The rows as templates/results/detail.html wrote them before they were built in Python
# (its number and name through filters that masked them unless revealed: shown_number and
# shown_name here, set by that rule).
TEMPLATE = (Path(__file__).parent / "delivery_rows_before.html").read_text()

RESULTS = [
    ("success", "1000", ""),
    ("failure", "3019", ""),
    ("failure", "3019", "번호 없음"),
    ("failure", "E915", ""),
    ("failure", REQUEST_FAILED, "발신번호 미등록 <script>"),
    ("failure", REQUEST_FAILED, ""),
    ("failure", "9999", "알 수 없는 코드 & 메시지"),
    ("failure", "9999", ""),
    ("sending", "", ""),
    ("waiting", "", ""),
    ("cancelled", "", ""),
]
POINTS = [
    (Decimal("0"), Decimal("0")),
    (Decimal("9.00"), Decimal("0")),
    (Decimal("12.5"), Decimal("12.5")),
    (Decimal("1234.565"), Decimal("0.01")),
    (Decimal("1000000"), Decimal("999.995")),
]


def _deliveries() -> list[Delivery]:
    moment = dt.datetime(2026, 11, 30, 23, 59, 30, tzinfo=dt.UTC)  # the next day in Korea
    rows = []
    for n, ((status, code, message), (charged, refunded), channel, name) in enumerate(
        itertools.product(RESULTS, POINTS, ["sms", "alimtalk"], ["", "김민수", "<b>박</b>"])
    ):
        rows.append(
            Delivery(
                recipient=f"0101234{n % 10000:04d}",
                recipient_name=name,
                status=status,
                result_code=code,
                result_message=message,
                final_channel=channel,
                carrier="" if status in ("waiting", "cancelled") else "SKT",
                completed_at=moment if status in ("success", "failure") else None,
                points_charged=charged,
                points_refunded=refunded,
            )
        )
    return rows


def _normalized(html: str) -> str:
    """Whitespace around tags dropped; an apostrophe the same escaped or not (the
    template leaves our own words as they are, the rows escape them)."""
    html = re.sub(r"\s*(<[^>]+>)\s*", r"\1", " ".join(html.split()))
    return html.replace("&#x27;", "'")


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("revealed", [False, True])
@pytest.mark.parametrize("scheduled", [False, True])
def test_a_recipients_row_is_the_templates_row(language, revealed, scheduled):
    send = SendRequest(
        channel="alimtalk",
        scheduled_at=timezone.now().replace(microsecond=0) if scheduled else None,
    )
    deliveries = _deliveries()
    for delivery in deliveries:
        delivery.shown_number = (  # type: ignore[attr-defined]
            format_phone(delivery.recipient) if revealed else mask_phone(delivery.recipient)
        )
        delivery.shown_name = (  # type: ignore[attr-defined]
            delivery.recipient_name if revealed else mask_name(delivery.recipient_name)
        )
    with translation.override(language):
        expected = (
            engines["django"]
            .from_string(TEMPLATE)
            .render({"rows": deliveries, "send": send, "revealed": revealed})
        )
        built = "".join(delivery_row(d, send, revealed=revealed) for d in deliveries)
    assert _normalized(built) == _normalized(expected)
    assert len(deliveries) == 330 and built.count("<tr>") == 330
    assert "<script>" not in built and "<b>" not in built  # the platform's texts escaped
    assert ("&lt;b&gt;박&lt;/b&gt;" in built) is revealed
