"""The history searches a member revealed (번호 보기), in their session for REVEAL_MINUTES,
as masking.py keeps a send's. A search is kept by a keyed hash of the organization and
the digits searched: the session holds no number."""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

SESSION_KEY = "revealed_histories"


def search_key(organization_id: int, digits: str) -> str:
    return salted_hmac(
        "recipients.reveal", f"{organization_id}:{digits}", algorithm="sha256"
    ).hexdigest()[:32]


def reveal(session: MutableMapping[str, Any], key: str, now: dt.datetime) -> dt.datetime:
    """Reveal this search's numbers for REVEAL_MINUTES from now; returns when that ends.
    Ended reveals are dropped on the way."""
    until = now + dt.timedelta(minutes=settings.REVEAL_MINUTES)
    revealed = {k: ends for k, ends in _revealed(session).items() if ends > now.timestamp()}
    revealed[key] = until.timestamp()
    session[SESSION_KEY] = revealed
    return until


def conceal(session: MutableMapping[str, Any], key: str) -> None:
    revealed = _revealed(session)
    if revealed.pop(key, None) is not None:
        session[SESSION_KEY] = revealed


def revealed_until(
    session: MutableMapping[str, Any], key: str, now: dt.datetime
) -> dt.datetime | None:
    """When the reveal of this search ends, or None when its numbers are masked."""
    ends = _revealed(session).get(key)
    if ends is None or ends <= now.timestamp():
        return None
    return dt.datetime.fromtimestamp(ends, tz=dt.UTC)


def _revealed(session: MutableMapping[str, Any]) -> dict[str, float]:
    value = session.get(SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}
