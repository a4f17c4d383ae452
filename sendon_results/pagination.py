"""Keyset pagination: every page costs the same, the hundredth as the first.

A cursor names the last row seen and which way to go from it; the "last page" cursor
names no row and walks back from the end. Cursors are signed, so a hand-edited one is
refused with a message instead of silently showing other rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

PAGE_SIZE = 50
CURSOR_SALT = "sendon_results.cursor"

Direction = Literal["next", "prev"]


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    direction: Direction
    position: tuple[str, ...]  # the key fields of a row, as strings

    def encode(self) -> str:
        return signing.dumps([self.direction[0], *self.position], salt=CURSOR_SALT, compress=True)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            direction, *position = signing.loads(token, salt=CURSOR_SALT)
        except (signing.BadSignature, ValueError, TypeError) as error:
            raise InvalidCursor(token) from error
        if direction not in ("n", "p") or not all(isinstance(v, str) for v in position):
            raise InvalidCursor(token)
        return cls("next" if direction == "n" else "prev", tuple(position))


LAST_PAGE = Cursor("prev", ())


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def last_cursor(self) -> str | None:
        return LAST_PAGE.encode() if self.next_cursor else None


def paginate(
    queryset: QuerySet[Any] | Sequence[QuerySet[Any]],
    *,
    key: tuple[str, ...],
    descending: bool,
    cursor: Cursor | None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of `queryset` ordered by `key` (unique as a whole, id last).

    `queryset` may come in parts: querysets of consecutive ranges of the key, in the order
    the user reads, read one after another until the page is full.
    `descending` is the order the user reads in; a "prev" cursor walks the other way
    and the rows are turned round before they are shown.
    """
    parts = [queryset] if isinstance(queryset, QuerySet) else queryset
    backwards = cursor is not None and cursor.direction == "prev"
    at_end = cursor == LAST_PAGE
    scan_descending = descending != backwards
    beyond: Q | None = None
    if cursor is not None and not at_end:
        if len(cursor.position) != len(key):
            raise InvalidCursor("position does not match the key")
        model = parts[0].model
        try:
            values = [
                model._meta.get_field(name).to_python(value)
                for name, value in zip(key, cursor.position, strict=True)
            ]
        except ValidationError as error:
            raise InvalidCursor("position is not a row key") from error
        beyond = _beyond(key, values, descending=scan_descending)
    ordering = [f"-{name}" if scan_descending else name for name in key]
    rows: list[Any] = []
    for part in reversed(parts) if backwards else parts:
        if beyond is not None:
            part = part.filter(beyond)
        rows += part.order_by(*ordering)[: size + 1 - len(rows)]
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return Page(rows, None, None)

    def cursor_at(row: Model, direction: Direction) -> str:
        return Cursor(direction, tuple(_key_string(row, name) for name in key)).encode()

    has_next = not at_end and (more if not backwards else True)
    has_prev = cursor is not None and (more if backwards else True)
    return Page(
        rows,
        next_cursor=cursor_at(rows[-1], "next") if has_next else None,
        prev_cursor=cursor_at(rows[0], "prev") if has_prev else None,
    )


def _beyond(key: tuple[str, ...], values: list[Any], *, descending: bool) -> Q:
    """Rows strictly after `values` in the scan order, written so the index bounds the scan.

    `(a < x) OR (a = x AND id < y)` alone is not used as an index bound by PostgreSQL;
    the redundant `a <= x` in front of it is.
    """
    op = "lt" if descending else "gt"
    first, *rest = key
    if not rest:
        return Q(**{f"{first}__{op}": values[0]})
    return Q(**{f"{first}__{op}e": values[0]}) & (
        Q(**{f"{first}__{op}": values[0]})
        | Q(**{first: values[0]}) & _beyond(tuple(rest), values[1:], descending=descending)
    )


def _key_string(row: Model, name: str) -> str:
    value = getattr(row, name)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
