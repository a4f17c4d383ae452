"""What ingest takes in and gives back. A send and its results arrive as the API's
validation leaves them: text within its limits, phone numbers as digits, instants with an
offset, amounts with two decimals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NotRequired, TypedDict


class NewSender(TypedDict):
    kind: str
    value: str
    label: str


class NewRecipient(TypedDict):
    external_id: str
    phone: str
    name: str


class NewSend(TypedDict):
    external_id: str
    requested_at: dt.datetime
    source: str
    channel: str
    title: str
    body: str
    scheduled_at: dt.datetime | None
    points_per_message: Decimal
    fallback: bool
    sender: NewSender
    recipients: list[NewRecipient]
    # Only when given (the content hash of a send posted without it stays what it was).
    resend_of: NotRequired[str]


class NewResult(TypedDict):
    send_external_id: str
    recipient_external_id: str
    outcome: str
    result_code: str
    result_message: str
    carrier: str
    final_channel: str  # "" when the message went by the send's own channel
    completed_at: dt.datetime
    points_refunded: Decimal


class Summary(TypedDict):
    """What a batch of results did: changed a delivery, told nothing new, or waits for
    its send."""

    applied: int
    unchanged: int
    pending: int


class EarlySummary(TypedDict):
    """What became of the results that came before their send."""

    applied: int
    unchanged: int
    dropped: int
