"""Personal data as the console shows it: a recipient's number and name masked
(`010-****-5678`, `김*수`) unless the member revealed them — in Python, and in SQL beside it
for the exports PostgreSQL formats itself (`tests/test_masking.py` keeps the twins equal) —
and which sends a member revealed, kept in their session for REVEAL_MINUTES.

Masked: every recipient's number and name, on every page, fragment, file and statement a
member gets, whatever the number looks like (a recipient's 1588 number too: the column is
masked as a whole, never by guessing whose a row is). Not masked: the organization's own
calling numbers (sender profiles, the business's and not a person's), and what the member
typed into the recipient search (their own words, already in their address bar and in
every link that keeps the filter). The ingest API answers the platform in full (README,
"Personal data").
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings
from django.db.models import Case, F, Func, IntegerField, Value, When
from django.db.models import TextField as Text
from django.db.models.functions import Concat, Left, Length, Repeat, Right

# A number's masked form, by what it is: the first pattern that matches the stored digits
# gives it (Python's re and PostgreSQL's regexp_replace read these the same). The area or
# mobile prefix and the last four digits stay, which the recipient search finds; the rest
# is a star a digit.
# \A and \Z, not ^ and $: Python's $ also matches before a final line break.
MASKED_PHONE = [
    (r"\A(1[568][0-9]{2})[0-9]{4}\Z", r"\1-****"),  # 1588-****: no middle, the last four go
    (r"\A(02)[0-9]{3}([0-9]{4})\Z", r"\1-***-\2"),
    (r"\A(02)[0-9]{4}([0-9]{4})\Z", r"\1-****-\2"),
    (r"\A(0[0-9]{2})[0-9]{3}([0-9]{4})\Z", r"\1-***-\2"),
    (r"\A(0[0-9]{2})[0-9]{4}([0-9]{4})\Z", r"\1-****-\2"),
]
# Anything else (never stored by the API, but the column allows it): stars, and the last
# four digits of a value long enough to keep its other digits hidden.
KEEP_LAST_FROM_LENGTH = 8
# A Korean name keeps its first syllable, and its last from three on: 김*, 김*수, 남**수.
# Any other name keeps the first letter of each word: "J*** S****"; one letter, none.
HANGUL_NAME = r"\A[가-힣]{2,}\Z"
HANGUL_PAIR = r"\A[가-힣]{2}\Z"
NOT_A_WORDS_FIRST_LETTER = r"(?<=[^ ])[^ ]"

# The sends a member revealed, {send id: when it ends (POSIX seconds)}, in their session.
SESSION_KEY = "revealed_sends"


def mask_phone(digits: str) -> str:
    """010-1234-5678 → 010-****-5678; 02-123-4567 → 02-***-4567; 1588-1234 → 1588-****."""
    for pattern, replacement in MASKED_PHONE:
        if re.match(pattern, digits):
            return re.sub(pattern, replacement, digits)
    keep = 4 if len(digits) >= KEEP_LAST_FROM_LENGTH else 0
    return "*" * (len(digits) - keep) + digits[len(digits) - keep :]


def mask_name(name: str) -> str:
    """김민수 → 김*수, 김민 → 김*, 남궁민수 → 남**수, John Smith → J*** S****, 김 → *."""
    if len(name) == 1:
        return "*"
    if re.match(HANGUL_PAIR, name):
        return name[0] + "*"
    if re.match(HANGUL_NAME, name):
        return name[0] + "*" * (len(name) - 2) + name[-1]
    return re.sub(NOT_A_WORDS_FIRST_LETTER, "*", name)


def mask_phone_sql(field: str) -> Case:
    """mask_phone in SQL (PostgreSQL)."""
    stars = Case(
        When(
            **{f"{field}__regex": rf"\A.{{{KEEP_LAST_FROM_LENGTH},}}\Z"},
            then=Concat(
                Repeat(Value("*"), Length(F(field)) - Value(4, output_field=IntegerField())),
                Right(F(field), 4),
                output_field=Text(),
            ),
        ),
        default=Repeat(Value("*"), Length(F(field))),
        output_field=Text(),
    )
    return Case(
        *[
            When(**{f"{field}__regex": pattern}, then=_replace(field, pattern, replacement))
            for pattern, replacement in MASKED_PHONE
        ],
        default=stars,
        output_field=Text(),
    )


def mask_name_sql(field: str) -> Case:
    """mask_name in SQL (PostgreSQL)."""
    return Case(
        When(**{f"{field}__regex": r"\A.\Z"}, then=Value("*")),
        When(
            **{f"{field}__regex": HANGUL_PAIR},
            then=Concat(Left(F(field), 1), Value("*"), output_field=Text()),
        ),
        When(
            **{f"{field}__regex": HANGUL_NAME},
            then=Concat(
                Left(F(field), 1),
                Repeat(Value("*"), Length(F(field)) - Value(2, output_field=IntegerField())),
                Right(F(field), 1),
                output_field=Text(),
            ),
        ),
        default=_replace(field, NOT_A_WORDS_FIRST_LETTER, "*", flags="g"),
        output_field=Text(),
    )


def _replace(field: str, pattern: str, replacement: str, flags: str = "") -> Func:
    arguments: list[Any] = [F(field), Value(pattern), Value(replacement)]
    if flags:
        arguments.append(Value(flags))
    return Func(*arguments, function="regexp_replace", output_field=Text())


def reveal(session: MutableMapping[str, Any], send_id: int, now: dt.datetime) -> dt.datetime:
    """Reveal a send's numbers to the session's member for REVEAL_MINUTES from now; returns
    when that ends. Ended reveals of other sends are dropped on the way."""
    until = now + dt.timedelta(minutes=settings.REVEAL_MINUTES)
    revealed = {key: ends for key, ends in _revealed(session).items() if ends > now.timestamp()}
    revealed[str(send_id)] = until.timestamp()
    session[SESSION_KEY] = revealed
    return until


def conceal(session: MutableMapping[str, Any], send_id: int) -> None:
    """Mask a send's numbers again before their time is up."""
    revealed = _revealed(session)
    if str(send_id) in revealed:
        del revealed[str(send_id)]
        session[SESSION_KEY] = revealed


def revealed_until(
    session: MutableMapping[str, Any], send_id: int, now: dt.datetime
) -> dt.datetime | None:
    """When the member's reveal of this send ends, or None when its numbers are masked."""
    ends = _revealed(session).get(str(send_id))
    if ends is None or ends <= now.timestamp():
        return None
    return dt.datetime.fromtimestamp(ends, tz=dt.UTC)


def minutes_left(until: dt.datetime, now: dt.datetime) -> int:
    """Whole minutes a reveal has left, rounded up: "4분 남음" until the last minute's end."""
    return max(1, math.ceil((until - now).total_seconds() / 60))


def _revealed(session: MutableMapping[str, Any]) -> dict[str, float]:
    value = session.get(SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}
