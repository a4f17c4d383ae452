"""The results list's and detail page's GET parameters: the only code that knows their names."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

import django_filters
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Channel, Delivery, SenderProfile, SendRequest, Source
from .pagination import LAST_PAGE, Cursor, InvalidCursor
from .retention import korea_day_start, oldest_kept_day

QUERY_MAX_LENGTH = 100
# Dates outside this range are typing mistakes, and beyond them date arithmetic overflows.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-()]{1,22}$")


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
    within_window = True  # dates before the retention window are refused
    order = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[("", _("Newest first")), ("oldest", _("Oldest first"))],
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("requested_from"), cleaned.get("requested_to")
        oldest = oldest_kept_day(timezone.localdate())
        if self.within_window and start and start < oldest:
            self.add_error(
                "requested_from",
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


class IdChoiceField(forms.ModelMultipleChoiceField):
    """Refuses ids no database column could hold before they reach a query (SQLite would
    raise OverflowError on them)."""

    def clean(self, value: Any) -> Any:
        for item in value or []:
            if not str(item).isdigit() or int(item) >= 2**63:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": item},
                )
        return super().clean(value)


class SenderFilter(django_filters.ModelMultipleChoiceFilter):
    field_class = IdChoiceField


def _sender_profiles(request: HttpRequest | None) -> QuerySet[SenderProfile]:
    if request is None:
        return SenderProfile.objects.none()
    return SenderProfile.objects.filter(organization=request.organization)


class SendRequestFilter(PagedFilterSet):
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
    sender = SenderFilter(distinct=False, label=_("Sender"), queryset=_sender_profiles)
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
    recipient = django_filters.CharFilter(
        label=_("Recipient number"),
        method="filter_recipient",
        max_length=30,
        validators=[_recipient_check],
        widget=forms.TextInput(attrs={"type": "search", "inputmode": "tel"}),
    )

    class Meta:
        model = SendRequest
        fields: list[str] = []
        form = ResultsFilterForm

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
        self, queryset: QuerySet[SendRequest], name: str, value: str
    ) -> QuerySet[SendRequest]:
        digits = normalize_phone(value)
        return queryset.with_recipient(self.request.organization, digits) if digits else queryset

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
    recipient = django_filters.CharFilter(
        label=_("Recipient number"),
        method="filter_recipient",
        max_length=30,
        validators=[_recipient_check],
        widget=forms.TextInput(attrs={"type": "search", "inputmode": "tel"}),
    )

    class Meta:
        model = Delivery
        fields: list[str] = []
        form = PagedFilterForm

    def filter_recipient(
        self, queryset: QuerySet[Delivery], name: str, value: str
    ) -> QuerySet[Delivery]:
        digits = normalize_phone(value)
        return queryset.filter(recipient=digits) if digits else queryset
