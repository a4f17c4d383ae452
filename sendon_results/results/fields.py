"""Form fields and filter classes the results filters are built from: the page position,
repeatable values, and ids a database column can hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import django_filters
from django import forms
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from ..pagination import LAST_PAGE, Cursor, InvalidCursor

# Dates outside this range are typing mistakes, and beyond them date arithmetic overflows.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)


def date_in_range(value: dt.date | None) -> None:
    """A date filter's check: a day between EARLIEST_DATE and LATEST_DATE."""
    if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise forms.ValidationError(
            _("Choose a date between %(first)s and %(last)s.")
            % {"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()}
        )


class PagedFilterForm(forms.Form):
    key_length = 1  # how many values a position of this list has

    cursor = forms.CharField(
        label=_("Page"), required=False, max_length=1000, widget=forms.HiddenInput
    )

    def clean_cursor(self) -> Cursor | None:
        token = self.cleaned_data["cursor"]
        if not token:
            return None
        try:
            cursor = Cursor.decode(token)
            if cursor != LAST_PAGE and len(cursor.position) != self.key_length:  # another list
                raise InvalidCursor(token)
            return cursor
        except InvalidCursor:
            raise forms.ValidationError(
                _("This page link is not valid any more. Start again from the first page."),
                code="invalid_cursor",
            ) from None


class PagedFilterSet(django_filters.FilterSet):
    """A FilterSet whose form also carries the page position, which filters nothing."""

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        for name, value in self.form.cleaned_data.items():
            if name in self.filters:
                queryset = self.filters[name].filter(queryset, value)
        return queryset

    @property
    def cursor(self) -> Cursor | None:
        return self.form.cleaned_data.get("cursor")

    @staticmethod
    def without_position(query: QueryDict) -> str:
        """The query string of the same filters from their first page."""
        query = query.copy()
        query.pop("cursor", None)
        return query.urlencode()


class ManyValuesInput(forms.TextInput):
    """One text box for a parameter that may repeat (`?recipient=A&recipient=B`): it reads
    every value, and shows the chosen ones again joined by commas, which it reads back."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        if hasattr(data, "getlist"):
            return list(data.getlist(name))
        value = data.get(name)
        return list(value) if isinstance(value, list | tuple) else [] if value is None else [value]

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value) or None
        return super().format_value(value)


class ManyValuesField(forms.Field):
    """Any number of short text values, from repeated parameters or one comma-separated
    box: each value is checked on its own (length, no NUL, `item_validators`), and so is
    their number. Cleaned, a list of the distinct values as typed, in order."""

    widget = ManyValuesInput
    hidden_widget = forms.MultipleHiddenInput  # one hidden input a value, for as_hidden
    default_error_messages = {
        "too_many": _("Enter at most %(limit)s values."),
    }

    def __init__(
        self,
        *,
        item_max_length: int,
        max_values: int,
        item_validators: Iterable[Callable[[str], None]] = (),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.max_values = max_values
        # NUL first: PostgreSQL refuses it in text, and no other check should see it.
        self.item_validators: list[Callable[[str], None]] = [
            ProhibitNullCharactersValidator(),
            MaxLengthValidator(item_max_length),
            *item_validators,
        ]

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        raw = value if isinstance(value, list | tuple) else [value]
        # A dict keeps the order and drops repeats in linear time, however many are sent.
        items = (item.strip() for text in raw for item in str(text).split(","))
        return list(dict.fromkeys(item for item in items if item))

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > self.max_values:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"limit": self.max_values}
            )

    def run_validators(self, value: list[str]) -> None:
        super().run_validators(value)
        errors: list[forms.ValidationError] = []
        for item in value:
            for validator in self.item_validators:
                try:
                    validator(item)
                except forms.ValidationError as error:
                    errors.append(error)
                    break  # one message a value is enough
        if errors:
            raise forms.ValidationError(errors)


class ManyValuesFilter(django_filters.Filter):
    """Matches any of the values (`field_name__in`, or the filter's `method`)."""

    field_class = ManyValuesField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("lookup_expr", "in")
        super().__init__(*args, **kwargs)


class IdChoiceField(forms.ModelMultipleChoiceField):
    """Refuses ids no database column could hold before they reach a query (SQLite would
    raise OverflowError on them)."""

    def clean(self, value: Any) -> Any:
        for item in value or []:
            # ASCII digits only: isdigit() also takes "²", which int() refuses.
            if not (str(item).isascii() and str(item).isdigit()) or int(item) >= 2**63:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": item},
                )
        return super().clean(value)


class SenderFilter(django_filters.ModelMultipleChoiceFilter):
    # django-filter's stubs ask for its own field class, whose clean() returns a list; any
    # Django ModelMultipleChoiceField works, and this one keeps Django's QuerySet.
    field_class = IdChoiceField  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Chips like the other filters (`?sender=1&sender=2`), not a list to Ctrl-click.
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        super().__init__(*args, **kwargs)
