"""The results list's and detail page's GET parameters: the only code that knows their
names. The list, the exports (which save the list's parameters and apply them again when
they run), the expiring banner and the API all filter sends through SendRequestFilter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast, overload
from urllib.parse import urlencode

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..dates import DayField, day_start
from ..models import Channel, Delivery, Organization, SenderProfile, SendRequest, Source
from ..models.sends import DeliveryQuerySet, SendRequestQuerySet
from ..partitions import month_of, month_start, next_month
from ..periods import check_period
from ..phones import (
    STORED,
    TYPED_MAX_LENGTH,
    format_phone,
    is_typed_phone,
    normalize_phone,
)
from ..retention import cutoff, kept
from .fields import (
    ManyValuesField,
    ManyValuesFilter,
    ManyValuesInput,
    PagedFilterForm,
    PagedFilterSet,
    SenderFilter,
    date_in_range,
)

QUERY_MAX_LENGTH = 100
# A search box, not a bulk lookup: each number is one probe of the recipient index.
RECIPIENTS_MAX = 20
RESULT_CODE_MAX_LENGTH = Delivery._meta.get_field("result_code").max_length
RESULT_CODES_MAX = 50
# A result code as carriers, KakaoTalk and the platform write them (3019, E915, REQUEST).
RESULT_CODE_PATTERN = r"\A[A-Za-z0-9_-]{1,20}\Z"
ENDING_LENGTH = 4  # recipient=5678: any number ending in 5678


class _Parts(Sequence[SendRequestQuerySet]):
    """Querysets made from their bounds when first read: a list's first page reads one or
    two of a dozen months, and making the other ones' queries would cost more than their
    reading does."""

    def __init__(
        self,
        make: Callable[[dt.datetime, dt.datetime | None], SendRequestQuerySet],
        bounds: list[tuple[dt.datetime, dt.datetime | None]],
    ) -> None:
        self._make, self._bounds = make, bounds

    def __len__(self) -> int:
        return len(self._bounds)

    @overload
    def __getitem__(self, index: int) -> SendRequestQuerySet: ...
    @overload
    def __getitem__(self, index: slice) -> list[SendRequestQuerySet]: ...
    def __getitem__(self, index: int | slice) -> SendRequestQuerySet | list[SendRequestQuerySet]:
        if isinstance(index, slice):
            return [self._make(*bounds) for bounds in self._bounds[index]]
        return self._make(*self._bounds[index])


class DayFilter(django_filters.DateFilter):
    """A bound of the list's period, typed as yyyy-mm-dd (dates.DayField)."""

    field_class = DayField


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
        super().clean()
        cleaned = self.cleaned_data
        # No default period: the list shows every send kept. A future end is allowed here
        # only: the API and saved exports share this filter, and month-end bounds are
        # common there (periods.py).
        check_period(
            self,
            cleaned.get("requested_from"),
            cleaned.get("requested_to"),
            timezone.localdate(),
            allow_future=True,
            within_window=self.within_window,
        )
        return cleaned


def code_filter() -> django_filters.CharFilter:
    """`code`: one result code, on the list (sends with a recipient of that code) and on a
    send's page (its recipients of that code). Checked before the query runs: 1 to 20
    letters, digits, `-` or `_`."""
    return django_filters.CharFilter(
        label=_("Result code"),
        method="filter_code",
        max_length=RESULT_CODE_MAX_LENGTH,
        validators=[
            RegexValidator(
                RESULT_CODE_PATTERN,
                _("Enter a result code: up to 20 letters, digits, - or _ (e.g. 3019, E915)."),
            )
        ],
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("e.g. 3019"), "autocomplete": "off"}
        ),
    )


def _recipient_check(value: str) -> None:
    if value and not is_typed_phone(value):
        raise forms.ValidationError(
            _("Enter a phone number, with or without dashes (e.g. 010-1234-5678).")
        )


def recipient_filter() -> ManyValuesFilter:
    """The recipient number filter of the list and the detail page: any of the numbers, or
    of the numbers ending in four digits given alone."""
    return ManyValuesFilter(
        label=_("Recipient number"),
        method="filter_recipient",
        item_max_length=TYPED_MAX_LENGTH,
        max_values=RECIPIENTS_MAX,
        item_validators=[_recipient_check],
        widget=ManyValuesInput(
            attrs={
                "type": "search",
                "inputmode": "tel",
                "placeholder": _("Number or its last 4 digits"),
            }
        ),
    )


@dataclass(frozen=True)
class RecipientSearch:
    """The recipient filter's values as stored (digits), without repeats: whole numbers,
    and last four digits (four digits alone: no number is stored that short)."""

    numbers: list[str]
    endings: list[str]

    def __bool__(self) -> bool:
        return bool(self.numbers or self.endings)

    def __iter__(self) -> Iterator[str]:
        """Every value, whole numbers first."""
        return iter([*self.numbers, *self.endings])


def recipient_search(values: Iterable[str]) -> RecipientSearch:
    digits = list(dict.fromkeys(d for value in values if (d := normalize_phone(value))))
    return RecipientSearch(
        numbers=[d for d in digits if len(d) != ENDING_LENGTH],
        endings=[d for d in digits if len(d) == ENDING_LENGTH],
    )


class SendRequestFilter(PagedFilterSet):
    """The results list's filter, over one organization's sends. Whatever the parameters,
    it shows only sends still kept: those older than the retention window are expired and
    only wait for the nightly purge."""

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
    requested_from = DayFilter(
        label=_("From"),
        method="filter_requested_from",
        validators=[date_in_range],
    )
    requested_to = DayFilter(
        label=_("To"),
        method="filter_requested_to",
        validators=[date_in_range],
    )
    q = django_filters.CharFilter(
        label=_("Message text"),
        method="filter_body",
        max_length=QUERY_MAX_LENGTH,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    recipient = recipient_filter()
    code = code_filter()

    class Meta:
        model = SendRequest
        fields: list[str] = []
        form = ResultsFilterForm

    def __init__(
        self,
        data: QueryDict | None = None,
        queryset: SendRequestQuerySet | None = None,
        *,
        organization: Organization,
    ) -> None:
        self.organization = organization
        # The month `_in_month` is building ([start, end), the newest open): it bounds
        # the deliveries looked at too.
        self._month: tuple[dt.datetime, dt.datetime | None] | None = None
        if queryset is None:
            queryset = SendRequest.objects.for_org(self.organization)
        # Taken before kept() takes its own: the clock only moves on, so this is never
        # later than the list's cutoff, and bounding deliveries by it drops none of a send
        # the list shows.
        self.kept_since = cutoff(timezone.now())
        # The one retention rule, here so that every reader of the list (the page, the
        # API, exports when they run) shows the same sends: none from before the cutoff.
        # The clock of this run: an export asked yesterday and run today leaves out what
        # expired overnight, as the purge will delete it.
        super().__init__(data, kept(queryset))
        cast(SenderFilter, self.filters["sender"]).queryset = SenderProfile.objects.filter(
            organization=self.organization
        )

    def filter_outcome(
        self, queryset: SendRequestQuerySet, name: str, value: list[str]
    ) -> SendRequestQuerySet:
        return queryset.with_outcome(value) if value else queryset

    def filter_requested_from(
        self, queryset: SendRequestQuerySet, name: str, value: dt.date
    ) -> SendRequestQuerySet:
        return queryset.requested_between(day_start(value), None)

    def filter_requested_to(
        self, queryset: SendRequestQuerySet, name: str, value: dt.date
    ) -> SendRequestQuerySet:
        # Inclusive: everything before the next day's midnight.
        return queryset.requested_between(None, day_start(value + dt.timedelta(days=1)))

    def filter_body(
        self, queryset: SendRequestQuerySet, name: str, value: str
    ) -> SendRequestQuerySet:
        value = value.strip()
        return queryset.filter(body__icontains=value) if value else queryset

    def filter_recipient(
        self, queryset: SendRequestQuerySet, name: str, value: list[str]
    ) -> SendRequestQuerySet:
        search = recipient_search(value)
        if not search:
            return queryset
        return queryset.with_recipient(
            self.organization, search.numbers, search.endings, **self.delivery_period()
        )

    def filter_code(
        self, queryset: SendRequestQuerySet, name: str, value: str
    ) -> SendRequestQuerySet:
        if not value:
            return queryset
        # IN over the organization's deliveries of that code, which the index
        # delivery_org_code answers from the index alone: a semi-join, so no send repeats.
        sends = Delivery.objects.filter(
            organization=self.organization, result_code=value
        ).requested_between(**self.delivery_period())
        return queryset.filter(id__in=sends.values("send_request_id"))

    def delivery_period(self) -> dict[str, dt.datetime | None]:
        """The list's period as bounds on deliveries' own requested_at ({start, end}, for
        requested_between): the sends it shows were requested in it, and so were their
        deliveries, so PostgreSQL looks into those months' deliveries only. From the
        retention cutoff at the earliest, as the list shows nothing older."""
        data = self.form.cleaned_data
        start = self.kept_since
        if first := data.get("requested_from"):
            start = max(start, day_start(first))
        last = data.get("requested_to")
        end = day_start(last + dt.timedelta(days=1)) if last else None
        if self._month is not None:
            start, month_end = max(start, self._month[0]), self._month[1]
            end = min(end, month_end) if end and month_end else end or month_end
        return {"start": start, "end": end}

    def by_month(self) -> Sequence[SendRequestQuerySet]:
        """The list's sends as querysets to read one after another, in the list's order
        (for pagination.paginate): where a filter matches sends by their deliveries (a
        recipient, a result code), a month at a time, each made when it is read;
        otherwise `qs` whole.

        For a number in thousands of sends, PostgreSQL walks the newest sends and probes
        for each the deliveries of every month of the period (it cannot tell from a send
        which month its deliveries are in): a dozen indexes a send. A month's sends
        against that month's deliveries is one partition of each, and the first page of
        a busy number is read from its newest month or two. For a rare number the whole
        period in one query is quicker (one lookup of its deliveries) than a query a
        month: the caller chooses, by how many sends match."""
        data = self.form.cleaned_data
        if not (self.recipients or data.get("code")):
            return [cast(SendRequestQuerySet, self.qs)]
        period = self.delivery_period()
        first, end = period["start"], period["end"]
        assert first is not None  # never earlier than the retention cutoff
        last_month = month_of(end - dt.timedelta(microseconds=1) if end else timezone.now())
        month, bounds = month_of(first), []
        while month <= last_month:
            # The newest month stays open at its end (or the period's): a send stamped a
            # moment ahead of this clock is not lost between the parts.
            upper = month_start(next_month(month)) if month < last_month else end
            bounds.append((month_start(month), upper))
            month = next_month(month)
        return _Parts(self._in_month, bounds if self.oldest_first else bounds[::-1])

    def _in_month(self, start: dt.datetime, end: dt.datetime | None) -> SendRequestQuerySet:
        """The list's sends requested in [start, end), matched by the deliveries of the
        same moments only."""
        self._month = (start, end)
        try:
            sends = self.filter_queryset(cast(SendRequestQuerySet, self.queryset).all())
        finally:
            self._month = None
        return cast(SendRequestQuerySet, sends).requested_between(start, end)

    @property
    def result_code(self) -> str:
        """The result code chosen, or "" (narrows the deliveries of an export too)."""
        return str(self.form.cleaned_data.get("code") or "")

    @property
    def outcomes(self) -> list[str]:
        """The outcomes chosen (none: every outcome), for what narrows deliveries too."""
        return list(self.form.cleaned_data.get("outcome") or [])

    @property
    def recipients(self) -> RecipientSearch:
        """The recipient numbers and last four digits chosen, as stored (digits)."""
        return recipient_search(self.form.cleaned_data.get("recipient") or [])

    @property
    def number_hints(self) -> list[dict[str, str]]:
        """The numbers typed in part (neither a whole number nor its last four digits):
        this list can find nothing by them, so the page says what it accepts and, for the
        end of a number (more than four digits, not starting with 0 as a number's start
        does), offers the recipient history by its last four digits."""
        if not self.form.is_valid():
            return []
        hints = []
        for typed in self.form.cleaned_data.get("recipient") or []:
            digits = normalize_phone(typed)
            if len(digits) == ENDING_LENGTH or STORED.match(digits):
                continue
            # "010-1234" is the start of 010-1234-5678: its last four digits are not the
            # number's, and would find other numbers.
            is_end = len(digits) > ENDING_LENGTH and not digits.startswith("0")
            ending = digits[-ENDING_LENGTH:] if is_end else ""
            history = self._history_url(ending) if ending else ""
            hints.append({"typed": typed, "ending": ending, "history_url": history})
        return hints

    def _history_url(self, ending: str) -> str:
        """The recipient history of the numbers ending in `ending`, over this list's period
        when it has one."""
        query = {"number": ending}
        for name in ("requested_from", "requested_to"):
            if day := self.form.cleaned_data.get(name):
                query[name] = day.isoformat()
        return f"{reverse('recipient_history')}?{urlencode(query)}"

    @property
    def oldest_first(self) -> bool:
        return self.form.cleaned_data.get("order") == "oldest"

    @classmethod
    def saved(cls, query: QueryDict) -> dict[str, list[str]]:
        """The list's parameters as an export saves them, {name: [values]}: no page
        position, no empty values, and none the list does not know (`utm_source=…` from a
        shared link), so the same filter is the same export for the duplicate check."""
        known = set(cls.base_filters) | set(ResultsFilterForm.base_fields)
        return {
            name: [value for value in values if value]
            for name, values in query.lists()
            if name in known and name != "cursor" and any(values)
        }

    @classmethod
    def from_saved(
        cls, saved: dict[str, list[str]], *, organization: Organization
    ) -> SendRequestFilter:
        """The filter of saved parameters, as it applies now. The window moves on while a
        job waits: a saved filter that began inside it stays the same filter (the sends
        that expired meanwhile are still left out)."""
        data = QueryDict(mutable=True)
        for name, values in saved.items():
            data.setlist(name, values)
        filterset = cls(data, organization=organization)
        cast(ResultsFilterForm, filterset.form).within_window = False
        return filterset

    @classmethod
    def query(cls, *, requested_to: dt.date) -> str:
        """The list's query string for these filters (only those a link needs so far)."""
        return urlencode({"requested_to": requested_to.isoformat()})

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
                # A form field keeps its choices as (value, label) pairs; the stubs allow any
                # of the forms they may be given in.
                labels = dict(cast(list[tuple[str, str]], field.choices))
                shown = ", ".join(str(labels[v]) for v in value)
            elif name == "recipient":
                # As typed, written the usual way: the member's own words, already in the
                # address bar and every link that keeps the filter (masking.py).
                search = recipient_search(value)
                shown = ", ".join(
                    [format_phone(number) for number in search.numbers]
                    + [_("ending in %(digits)s") % {"digits": e} for e in search.endings]
                )
            elif isinstance(field, ManyValuesField):
                shown = ", ".join(value)
            else:
                shown = value.isoformat() if isinstance(value, dt.date) else str(value)
            remaining = [
                (key, item)
                for key, values in cast(QueryDict, self.data).lists()  # bound: a QueryDict
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


class DeliveryFilter(PagedFilterSet):
    outcome = django_filters.MultipleChoiceFilter(
        distinct=False,
        field_name="status",
        label=_("Delivery outcome"),
        choices=Delivery.Status.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    recipient = recipient_filter()
    # A failure reason's count on the detail page opens that code's deliveries only (and
    # /failures/ links a code to them).
    code = code_filter()
    # Several codes at once: links saved before `code` existed.
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
        self, queryset: DeliveryQuerySet, name: str, value: list[str]
    ) -> DeliveryQuerySet:
        search = recipient_search(value)
        return queryset.to_recipients(search.numbers, search.endings) if search else queryset

    def filter_code(self, queryset: DeliveryQuerySet, name: str, value: str) -> DeliveryQuerySet:
        return queryset.filter(result_code=value) if value else queryset

    def active_codes(self) -> list[str]:
        """The result codes chosen, by either parameter, for the filter's chip."""
        data = self.form.cleaned_data
        return list(
            dict.fromkeys(
                [*([data["code"]] if data.get("code") else []), *(data.get("result_code") or [])]
            )
        )
