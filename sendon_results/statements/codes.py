"""What identifies a statement: its number (ST-2026-11-0001, per organization and month,
without gaps) and the verification code printed on it (7K3F-9QHW-2M4X), as typed back."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.conf import settings
from django.utils import timezone

from ..models import Confirmation, Organization, Statement

# Crockford's base32 without look-alikes: a code read off paper is typed back right.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
# What people type for the code's letters: O for 0, I and L for 1, lower case, dashes and
# spaces between the groups.
CODE_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")


def new_verification_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """7K3F9QHW2M4X → 7K3F-9QHW-2M4X"""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize_code(text: str) -> str | None:
    """A verification code as typed (7k3f-9qhw-2m4x, 7K3F 9QHW 2M4X, O for 0, I or L for
    1) as stored, or None when it cannot be one: then there is nothing to look up."""
    code = "".join(text.split()).replace("-", "").upper().translate(CODE_LOOKALIKES)
    return code if CODE_PATTERN.fullmatch(code) else None


def next_statement_number(organization: Organization, issued_at: dt.datetime) -> str:
    """ST-2026-11-0001: the organization's next statement number in the month of
    `issued_at` (Korea time), one more than the highest taken, so there are no gaps.

    Call in the transaction that saves the number: it locks the organization's row, so
    two statements asked for at once take turns and never get the same number.
    """
    return next_number(Statement, organization, issued_at, kind="ST")


def next_number(
    model: type[Statement] | type[Confirmation],
    organization: Organization,
    issued_at: dt.datetime,
    *,
    kind: str,
) -> str:
    """The next number of a numbered document (`kind`-YYYY-MM-NNNN), as
    next_statement_number says: per organization and month, without gaps."""
    # FOR NO KEY UPDATE: it does not wait for the key-share locks that recording sends and
    # results take on the organization's row.
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    prefix = f"{kind}-{timezone.localtime(issued_at):%Y-%m}-"
    taken = model.objects.filter(organization=organization, number__startswith=prefix).values_list(
        "number", flat=True
    )
    # Parsed, not compared as text: 10000 follows 9999, and a month that already holds
    # numbers of the older, longer form goes on after the highest of them.
    last = max((int(n[len(prefix) :]) for n in taken if n[len(prefix) :].isdigit()), default=0)
    return f"{prefix}{last + 1:04d}"


def verification_url(code: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/statements/verify/{format_code(code)}/"
