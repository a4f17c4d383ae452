"""The results list's and detail page's GET parameters: the only code that knows their names."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import django_filters
from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    Channel,
    Delivery,
    Organization,
    SenderProfile,
    SendRequest,
    Source,
    format_phone,
)
from .pagination import LAST_PAGE, Cursor, InvalidCursor
from .retention import kept, korea_day_start, oldest_kept_day

QUERY_MAX_LENGTH = 100
# Dates outside this range are typing mistakes, and beyond them date arithmetic overflows.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-()]{1,22}$")
PHONE_MAX_LENGTH = 30
# A search box, not a bulk lookup: each number is one probe of the recipient index.
RECIPIENTS_MAX = 20
RESULT_CODE_MAX_LENGTH = Delivery._meta.get_field("result_code").max_length
RESULT_CODES_MAX = 50


def normalize_phone(text: str) -> str:
    """010-1234-5678, 010 1234 5678, +82 10-1234-5678 → 01012345678."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+82"):
        digits = "0" + digits[2:]
    return digits


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


class ResultsFilterForm(PagedFilterForm):
    key_length = 2  # (requested_at, id)
    # Dates before the retention window are refused: nothing before it is shown (the
    # FilterSet narrows every list to kept sends), so such a date could only find nothing
    # and pass for "no sends". A saved export's filter turns this off: the window moves on
    # while the job waits, and its filter stays the filter the member asked for.
    within_window = True
    order = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[("", _("Newest first")), ("oldest", _("Oldest first"))],
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("requested_from"), cleaned.get("requested_to")
        oldest = oldest_kept_day(timezone.localdate())
        for name, day in (("requested_from", start), ("requested_to", end)):
            if self.within_window and day and day < oldest:
                self.add_error(
                    name,
                    _("Send records are kept for %(days)s days: choose %(oldest)s or later.")
                    % {"days": settings.RETENTION_DAYS, "oldest": oldest.isoformat()},
                )
        if start and end and end < start:
            self.add_error(
                "requested_to",
                _("The end date is before the start date (%(start)s).")
                % {"start": start.isoformat()},
            )
        return cleaned


def _date_field_checks(value: dt.date | None) -> None:
    if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise forms.ValidationError(
            _("Choose a date between %(first)s and %(last)s.")
            % {"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()}
        )


def _recipient_check(value: str) -> None:
    if value and (not PHONE_PATTERN.match(value) or not 3 <= len(normalize_phone(value)) <= 15):
        raise forms.ValidationError(
            _("Enter a phone number, with or without dashes (e.g. 010-1234-5678).")
        )


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
        self.item_validators = [
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


def recipient_filter() -> ManyValuesFilter:
    """The recipient number filter of the list and the detail page: any of the numbers."""
    return ManyValuesFilter(
        label=_("Recipient number"),
        method="filter_recipient",
        item_max_length=PHONE_MAX_LENGTH,
        max_values=RECIPIENTS_MAX,
        item_validators=[_recipient_check],
        widget=ManyValuesInput(attrs={"type": "search", "inputmode": "tel"}),
    )


def recipient_numbers(values: Iterable[str]) -> list[str]:
    """The recipient filter's values as stored (digits only), without repeats."""
    return list(dict.fromkeys(digits for value in values if (digits := normalize_phone(value))))


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
    field_class = IdChoiceField


class SendRequestFilter(PagedFilterSet):
    """The results list's filter, over one organization's sends (`organization`, or the
    request's). Whatever the parameters, it shows only sends still kept: those older than
    the retention window are expired and only wait for the nightly purge."""

    # distinct=False throughout: no filter joins, so rows never repeat, and DISTINCT would
    # make PostgreSQL sort every matching send before it could return the first page.
    status = django_filters.MultipleChoiceFilter(
        distinct=False,
        label=_("Processing status"),
        choices=SendRequest.Status.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    outcome = django_filters.MultipleChoiceFilter(
        distinct=False,
        label=_("Delivery outcome"),
        choices=Delivery.Status.choices,
        widget=forms.CheckboxSelectMultiple,
        method="filter_outcome",
    )
    # The organization's profiles, set per instance in __init__.
    sender = SenderFilter(distinct=False, label=_("Sender"), queryset=SenderProfile.objects.none())
    channel = django_filters.MultipleChoiceFilter(
        distinct=False,
        label=_("Channel"),
        choices=Channel.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    source = django_filters.MultipleChoiceFilter(
        distinct=False,
        label=_("Source"),
        choices=Source.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    requested_from = django_filters.DateFilter(
        label=_("From"),
        method="filter_requested_from",
        validators=[_date_field_checks],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    requested_to = django_filters.DateFilter(
        label=_("To"),
        method="filter_requested_to",
        validators=[_date_field_checks],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    q = django_filters.CharFilter(
        label=_("Message text"),
        method="filter_body",
        max_length=QUERY_MAX_LENGTH,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    recipient = recipient_filter()

    class Meta:
        model = SendRequest
        fields: list[str] = []
        form = ResultsFilterForm

    def __init__(
        self,
        data: Any = None,
        queryset: QuerySet[SendRequest] | None = None,
        *,
        request: HttpRequest | None = None,
        organization: Organization | None = None,
        prefix: str | None = None,
    ) -> None:
        self.organization = organization or getattr(request, "organization", None)
        if queryset is None:
            queryset = SendRequest.objects.for_org(self.organization)
        # The one retention rule, here so that every reader of the list (the page, the
        # API, exports when they run) shows the same sends: none from before the cutoff.
        # The clock of this run: an export asked yesterday and run today leaves out what
        # expired overnight, as the purge will delete it.
        queryset = kept(queryset)
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.filters["sender"].queryset = SenderProfile.objects.filter(
            organization=self.organization
        )

    def filter_outcome(
        self, queryset: QuerySet[SendRequest], name: str, value: list[str]
    ) -> QuerySet[SendRequest]:
        return queryset.with_outcome(value) if value else queryset

    def filter_requested_from(
        self, queryset: QuerySet[SendRequest], name: str, value: dt.date
    ) -> QuerySet[SendRequest]:
        return queryset.requested_between(korea_day_start(value), None)

    def filter_requested_to(
        self, queryset: QuerySet[SendRequest], name: str, value: dt.date
    ) -> QuerySet[SendRequest]:
        # Inclusive: everything before the next day's midnight.
        return queryset.requested_between(None, korea_day_start(value + dt.timedelta(days=1)))

    def filter_body(
        self, queryset: QuerySet[SendRequest], name: str, value: str
    ) -> QuerySet[SendRequest]:
        value = value.strip()
        return queryset.filter(body__icontains=value) if value else queryset

    def filter_recipient(
        self, queryset: QuerySet[SendRequest], name: str, value: list[str]
    ) -> QuerySet[SendRequest]:
        numbers = recipient_numbers(value)
        return queryset.with_recipient(self.organization, numbers) if numbers else queryset

    @property
    def outcomes(self) -> list[str]:
        """The outcomes chosen (none: every outcome), for what narrows deliveries too."""
        return list(self.form.cleaned_data.get("outcome") or [])

    @property
    def recipients(self) -> list[str]:
        """The recipient numbers chosen, as stored (digits)."""
        return recipient_numbers(self.form.cleaned_data.get("recipient") or [])

    @property
    def oldest_first(self) -> bool:
        return self.form.cleaned_data.get("order") == "oldest"

    def active_filters(self) -> list[dict[str, str]]:
        """Each filter in use: its label, its value as shown, and the link that drops it."""
        if not self.form.is_valid():
            return []
        active = []
        for name, field in self.form.fields.items():
            value = self.form.cleaned_data.get(name)
            if name in ("cursor", "order") or value in (None, "") or _is_empty(value):
                continue
            if isinstance(field, forms.ModelMultipleChoiceField):
                shown = ", ".join(str(obj) for obj in value)
            elif isinstance(field, forms.MultipleChoiceField):
                labels = dict(field.choices)
                shown = ", ".join(str(labels[v]) for v in value)
            elif name == "recipient":
                shown = ", ".join(format_phone(number) for number in recipient_numbers(value))
            elif isinstance(field, ManyValuesField):
                shown = ", ".join(value)
            else:
                shown = value.isoformat() if isinstance(value, dt.date) else str(value)
            remaining = [
                (key, item)
                for key, values in self.data.lists()
                if key not in (name, "cursor")
                for item in values
                if item
            ]
            active.append(
                {"label": str(field.label), "value": shown, "drop_url": f"?{urlencode(remaining)}"}
            )
        return active


def _is_empty(value: object) -> bool:
    # An empty choice is [] from a choice field and an empty QuerySet from a model field.
    return isinstance(value, list | QuerySet) and len(value) == 0


def period_presets(today: dt.date) -> list[dict[str, object]]:
    """The period filter's quick picks, in Korea time."""
    return [
        {"label": _("Today"), "start": today, "end": today},
        {"label": _("7 days"), "start": today - dt.timedelta(days=6), "end": today},
        {"label": _("30 days"), "start": today - dt.timedelta(days=29), "end": today},
        {"label": _("This month"), "start": today.replace(day=1), "end": today},
    ]


class DeliveryFilter(PagedFilterSet):
    outcome = django_filters.MultipleChoiceFilter(
        distinct=False,
        field_name="status",
        label=_("Delivery outcome"),
        choices=Delivery.Status.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    recipient = recipient_filter()
    # A failure reason's count on the detail page opens that code's deliveries only.
    result_code = ManyValuesFilter(
        label=_("Result code"),
        item_max_length=RESULT_CODE_MAX_LENGTH,
        max_values=RESULT_CODES_MAX,
    )
    # With the code: carrier and KakaoTalk codes overlap, so a reason is a code and the
    # channel the message finally went by.
    final_channel = django_filters.MultipleChoiceFilter(
        distinct=False,
        label=_("Sent by"),
        choices=Channel.choices,
        widget=forms.MultipleHiddenInput,
    )

    class Meta:
        model = Delivery
        fields: list[str] = []
        form = PagedFilterForm

    def filter_recipient(
        self, queryset: QuerySet[Delivery], name: str, value: list[str]
    ) -> QuerySet[Delivery]:
        numbers = recipient_numbers(value)
        return queryset.filter(recipient__in=numbers) if numbers else queryset
