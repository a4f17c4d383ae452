"""How the console names a person: on the members page, beside the statements they issued,
in invitations, and printed on statements as 요청자."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser


def person_name(user: AbstractBaseUser) -> str:
    """Who asked, as people call them: a Korean name family name first and unspaced
    (김민준), another as Django writes it (Jane Doe), the login when none is set."""
    first = (getattr(user, "first_name", "") or "").strip()
    last = (getattr(user, "last_name", "") or "").strip()
    if first and last and all(_is_hangul(c) for c in first + last):
        return f"{last}{first}"
    return " ".join(part for part in (first, last) if part) or user.get_username()


def _is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3" or "\u3131" <= char <= "\u318e"
