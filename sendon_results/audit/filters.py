"""The access record's filters (/audit/ and its CSV): person, action, period — the only
code that knows these GET parameter names."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Model, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from ..accounts.people import person_name
from ..dates import day_start
from ..models import AccessEvent, Organization
from ..results.fields import IdChoiceField, PagedFilterForm, PagedFilterSet, date_in_range
from ..results.filters import DayFilter


class PersonChoiceField(IdChoiceField):
    def label_from_instance(self, obj: Model) -> str:
        user = cast(AbstractBaseUser, obj)
        name, username = person_name(user), user.get_username()
        return f"{name} ({username})" if name != username else username


class PersonFilter(django_filters.ModelMultipleChoiceFilter):
    # As results.fields.SenderFilter: ids checked before they reach a query.
    field_class = PersonChoiceField  # type: ignore[assignment]


class AccessRecordForm(PagedFilterForm):
    key_length = 2  # (at, id)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error(
                "date_to",
                _("The end date is before the start date (%(start)s).")
                % {"start": start.isoformat()},
            )
        return cleaned


class AccessEventFilter(PagedFilterSet):
    """One organization's access record, filtered by person, action and period."""

    person = PersonFilter(
        field_name="user",
        distinct=False,
        label=_("Person"),
        queryset=get_user_model()._default_manager.none(),
    )
    action = django_filters.MultipleChoiceFilter(
        distinct=False,
        label=_("Action"),
        choices=AccessEvent.Action.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    date_from = DayFilter(label=_("From"), method="filter_date_from", validators=[date_in_range])
    date_to = DayFilter(label=_("To"), method="filter_date_to", validators=[date_in_range])

    class Meta:
        model = AccessEvent
        fields: list[str] = []
        form = AccessRecordForm

    def __init__(self, data: QueryDict | None = None, *, organization: Organization) -> None:
        self.organization = organization
        super().__init__(data, AccessEvent.objects.for_org(organization))
        # The organization's members, by name: whose events an owner may pick out.
        members = (
            get_user_model()
            ._default_manager.filter(memberships__organization=organization)
            .order_by("last_name", "first_name", "username", "id")
        )
        cast(PersonFilter, self.filters["person"]).queryset = members

    def filter_date_from(
        self, queryset: QuerySet[AccessEvent], name: str, value: dt.date
    ) -> QuerySet[AccessEvent]:
        return queryset.filter(at__gte=day_start(value))

    def filter_date_to(
        self, queryset: QuerySet[AccessEvent], name: str, value: dt.date
    ) -> QuerySet[AccessEvent]:
        # Inclusive: everything before the next day's midnight.
        return queryset.filter(at__lt=day_start(value + dt.timedelta(days=1)))

    def chosen(self) -> dict[str, list[str]]:
        """The filters in use, as the access record keeps them when the record is
        exported: {name: [values]} (people by id and username)."""
        if not self.form.is_valid():
            return {}
        cleaned = self.form.cleaned_data
        chosen: dict[str, list[str]] = {}
        if cleaned.get("person"):
            chosen["person"] = [f"{user.pk} {user.get_username()}" for user in cleaned["person"]]
        if cleaned.get("action"):
            chosen["action"] = list(cleaned["action"])
        for name in ("date_from", "date_to"):
            if cleaned.get(name):
                chosen[name] = [cleaned[name].isoformat()]
        return chosen
