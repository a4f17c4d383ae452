from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Value

from sendon_results.models import Organization
from sendon_results.phones import (
    STORED,
    format_phone,
    format_phone_sql,
    is_typed_phone,
    normalize_phone,
)

WRITTEN = [
    ("01012345678", "010-1234-5678"),
    ("0111234567", "011-123-4567"),
    ("0212345678", "02-1234-5678"),
    ("021234567", "02-123-4567"),
    ("0317654321", "031-765-4321"),
    ("15881234", "1588-1234"),
    ("16441234", "1644-1234"),
    ("12", "12"),
    ("0101234567890", "0101234567890"),  # too long to be a Korean number: left as it is
    ("+82101234", "+82101234"),  # not digits: left as it is
]


@pytest.mark.parametrize(("digits", "shown"), WRITTEN)
def test_format_phone(digits, shown):
    assert format_phone(digits) == shown


@pytest.mark.skipif(connection.vendor != "postgresql", reason="regexp_replace is PostgreSQL's")
def test_the_sql_twin_writes_every_number_as_python_does(db):
    organization = Organization.objects.create(name="twin")
    for digits, shown in WRITTEN:
        written = (
            Organization.objects.filter(pk=organization.pk)
            .annotate(number=Value(digits), shown=format_phone_sql("number"))
            .values_list("shown", flat=True)
            .get()
        )
        assert written == shown == format_phone(digits), digits


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("010-1234-5678", "01012345678"),
        ("010 1234 5678", "01012345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("02-123-4567", "021234567"),
        ("02)123-4567", "021234567"),
    ],
)
def test_normalize_phone(typed, digits):
    assert normalize_phone(typed) == digits
    assert is_typed_phone(typed)


@pytest.mark.parametrize(
    "typed", ["", "12", "abc", "010-1234-5678-9999-1234", "010–1234", "1" * 16]
)
def test_what_cannot_be_a_typed_number(typed):
    assert not is_typed_phone(typed)


@pytest.mark.parametrize(
    ("digits", "stored"),
    [
        ("01012345678", True),
        ("021234567", True),
        ("15881234", True),
        ("19881234", False),  # not a business number prefix
        ("1012345678", False),  # the leading 0 lost
        ("010123", False),
    ],
)
def test_what_the_platform_may_store(digits, stored):
    assert bool(STORED.match(digits)) is stored
