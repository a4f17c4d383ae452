"""Korean phone numbers: how people type them, how they are stored (digits), and how they
are written (010-1234-5678) — in Python, and in SQL for the exports PostgreSQL formats
itself. `tests/test_phones.py` keeps the two writings equal."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import F, Func, TextField, Value

# What a person may type into a number box: digits, spaces, dashes, brackets, a leading +.
TYPED = re.compile(r"^\+?[0-9][0-9 \-()]{1,22}$")
TYPED_MAX_LENGTH = 30
# What the sending platform may store as a recipient or calling number: 010…, 02…, 031…,
# and the 8-digit business numbers 1588-xxxx, 1644-xxxx, 1800-xxxx.
STORED = re.compile(r"^(0\d{8,10}|1[568]\d{6})$")
# format_phone's rules as regular expressions, applied in turn (02 before other areas).
WRITTEN_SQL = [
    (r"^(1[568][0-9]{2})([0-9]{4})$", r"\1-\2"),
    (r"^(02)([0-9]{3,4})([0-9]{4})$", r"\1-\2-\3"),
    (r"^(0[0-9]{2})([0-9]{3,4})([0-9]{4})$", r"\1-\2-\3"),
]


def normalize_phone(text: str) -> str:
    """010-1234-5678, 010 1234 5678, +82 10-1234-5678 → 01012345678."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+82"):
        digits = "0" + digits[2:]
    return digits


def is_typed_phone(text: str) -> bool:
    """Whether a person typed something that can be a phone number (3 to 15 digits)."""
    return bool(TYPED.match(text)) and 3 <= len(normalize_phone(text)) <= 15


def format_phone(digits: str) -> str:
    """010-1234-5678, 02-123-4567, 1588-1234: the way Korean numbers are written."""
    if not digits.isdigit():
        return digits
    if len(digits) == 8 and digits[:2] in ("15", "16", "18"):
        return f"{digits[:4]}-{digits[4:]}"
    area = 2 if digits.startswith("02") else 3
    rest = digits[area:]
    if len(rest) not in (7, 8):
        return digits
    middle = len(rest) - 4
    return f"{digits[:area]}-{rest[:middle]}-{rest[middle:]}"


def format_phone_sql(field: str) -> Func:
    """format_phone in SQL (PostgreSQL): 1588-1234, 02-123-4567, 010-1234-5678."""
    expression: Any = F(field)
    for pattern, replacement in WRITTEN_SQL:
        expression = Func(
            expression,
            Value(pattern),
            Value(replacement),
            function="regexp_replace",
            output_field=TextField(),
        )
    return expression
