"""The dashboard's figures, from the daily tallies only (SendTally, DeliveryTally): a year of
the largest organization is a few thousand tally rows, where its sends and deliveries are
millions. Each figure is one grouped query over one organization's range of days, which
the tallies' unique key (organization, day, …) serves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..models import (
    Channel,
    Delivery,
    DeliveryTally,
    Organization,
    SenderProfile,
    SendTally,
)
from ..rates import success_rate
from ..retention import oldest_kept_day

OUTCOMES = tuple(Delivery.Status.values)  # success, failure, sending, waiting, cancelled
KAKAO = (Channel.ALIMTALK.value, Channel.FRIENDTALK.value)
TEXT = (Channel.SMS.value, Channel.LMS.value, Channel.MMS.value)
FINAL = (Delivery.Status.SUCCESS.value, Delivery.Status.FAILURE.value)
# Up to this many days a bar is a day; up to WEEKS_UNTIL a week; beyond, a calendar month:
# a year stays 12–13 bars, which read on a phone as well as on a wide screen.
DAYS_UNTIL = 45
WEEKS_UNTIL = 200
COUNTS = ("sends", "recipients", *OUTCOMES)
AMOUNTS = ("points_charged", "points_refunded")


@dataclass(frozen=True)
class Scope:
    """What the dashboard shows: one organization's days start…end (inclusive, Korea
    time), of one sender and one channel or all."""

    organization: Organization
    start: dt.date
    end: dt.date
    sender: SenderProfile | None = None
    channel: str = ""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Scope:
        """The period of the same length just before this one."""
        length = dt.timedelta(days=self.days)
        return Scope(
            self.organization,
            self.start - length,
            self.start - dt.timedelta(days=1),
            self.sender,
            self.channel,
        )


@dataclass
class Totals:
    """Sends, their messages by outcome and points, as the tallies add them up."""

    sends: int = 0
    messages: int = 0
    success: int = 0
    failure: int = 0
    sending: int = 0
    waiting: int = 0
    cancelled: int = 0
    charged: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)

    def add(self, row: Mapping[str, Any]) -> None:
        self.sends += row["sends"] or 0
        self.messages += row["recipients"] or 0
        for outcome in OUTCOMES:
            setattr(self, outcome, getattr(self, outcome) + (row[outcome] or 0))
        self.charged += row["points_charged"] or 0
        self.refunded += row["points_refunded"] or 0

    @property
    def finished(self) -> int:
        """Messages with a final result: the success rate's denominator."""
        return self.success + self.failure

    @property
    def success_rate(self) -> float | None:
        """Success over messages with a final result (sending, waiting and cancelled are
        none); None when there is none."""
        return success_rate(self.success, self.failure)

    @property
    def net(self) -> Decimal:
        return self.charged - self.refunded

    def outcome_counts(self) -> dict[str, int]:
        return {outcome: getattr(self, outcome) for outcome in OUTCOMES}


@dataclass
class Bucket:
    """One bar of the period: a day, a week or a month (cut to the period)."""

    start: dt.date
    end: dt.date
    totals: Totals = field(default_factory=Totals)


@dataclass
class Group:
    """A channel's or a sender's share of the period."""

    key: str  # the channel's value, or the sender's id
    label: str
    totals: Totals = field(default_factory=Totals)


@dataclass
class Fallback:
    """KakaoTalk messages with a final result, and those of them that went as SMS/LMS/MMS."""

    kakao: int = 0
    by_channel: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TEXT, 0))

    @property
    def fallen_back(self) -> int:
        return sum(self.by_channel.values())

    @property
    def rate(self) -> float | None:
        return 100 * self.fallen_back / self.kakao if self.kakao else None


@dataclass
class Figures:
    scope: Scope
    grain: str  # "day", "week" or "month"
    buckets: list[Bucket]
    totals: Totals
    channels: list[Group]
    senders: list[Group]
    fallback: Fallback
    # None when part of the previous period is past the retention window: its records are
    # gone, and a comparison with what is left would be a false one.
    previous: Totals | None
    previous_fallback: Fallback | None


def grain_for(days: int) -> str:
    if days <= DAYS_UNTIL:
        return "day"
    return "week" if days <= WEEKS_UNTIL else "month"


def buckets_of(start: dt.date, end: dt.date, grain: str) -> list[Bucket]:
    """The period's bars in order: days; weeks from Monday; calendar months. The first and
    last are cut to the period, so every day counts in exactly one bar."""
    buckets = []
    day = start
    while day <= end:
        if grain == "day":
            last = day
        elif grain == "week":
            last = day + dt.timedelta(days=6 - day.weekday())
        else:
            following = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            last = following - dt.timedelta(days=1)
        last = min(last, end)
        buckets.append(Bucket(day, last))
        day = last + dt.timedelta(days=1)
    return buckets


def _send_tallies(scope: Scope) -> QuerySet[SendTally]:
    tallies = SendTally.objects.filter(
        organization=scope.organization, day__gte=scope.start, day__lte=scope.end
    )
    if scope.sender is not None:
        tallies = tallies.filter(sender=scope.sender)
    if scope.channel:
        tallies = tallies.filter(channel=scope.channel)
    return tallies


def _sums() -> dict[str, Sum]:
    return {name: Sum(name) for name in (*COUNTS, *AMOUNTS)}


def _grouped(scope: Scope, by: str) -> Iterable[dict[str, Any]]:
    return _send_tallies(scope).order_by().values(by).annotate(**_sums())


def in_window(scope: Scope, today: dt.date) -> bool:
    """Whether every day of the scope's period is still kept (retention.py)."""
    return scope.start >= oldest_kept_day(today)


def collect_figures(scope: Scope, *, today: dt.date) -> Figures:
    grain = grain_for(scope.days)
    buckets = buckets_of(scope.start, scope.end, grain)
    totals = Totals()
    index = 0
    for row in sorted(_grouped(scope, "day"), key=lambda row: row["day"]):
        while row["day"] > buckets[index].end:
            index += 1
        buckets[index].totals.add(row)
        totals.add(row)

    channel_labels = dict(Channel.choices)
    channels = []
    for row in _grouped(scope, "channel"):
        group = Group(row["channel"], str(channel_labels.get(row["channel"], row["channel"])))
        group.totals.add(row)
        channels.append(group)

    rows = list(_grouped(scope, "sender_id"))
    profiles = SenderProfile.objects.filter(
        organization=scope.organization, pk__in=[row["sender_id"] for row in rows]
    ).in_bulk()
    senders = []
    for row in rows:
        group = Group(str(row["sender_id"]), str(profiles[row["sender_id"]]))
        group.totals.add(row)
        senders.append(group)

    previous_scope = scope.previous()
    comparable = in_window(previous_scope, today)
    previous = None
    if comparable:
        previous = Totals()
        previous.add(_send_tallies(previous_scope).aggregate(**_sums()))
    fallback, previous_fallback = _fallbacks(scope, previous_scope if comparable else None)
    return Figures(
        scope=scope,
        grain=grain,
        buckets=buckets,
        totals=totals,
        channels=_ranked(channels),
        senders=_ranked(senders),
        fallback=fallback,
        previous=previous,
        previous_fallback=previous_fallback,
    )


def _ranked(groups: list[Group]) -> list[Group]:
    """Most messages first; ties by name, so the order never changes between requests."""
    return sorted(groups, key=lambda group: (-group.totals.messages, group.label, group.key))


def _fallbacks(scope: Scope, previous: Scope | None) -> tuple[Fallback, Fallback | None]:
    """The fallback counts of the period and, in the same query, of the previous one."""
    start = previous.start if previous is not None else scope.start
    tallies = DeliveryTally.objects.filter(
        organization=scope.organization,
        day__gte=start,
        day__lte=scope.end,
        channel__in=KAKAO,
        status__in=FINAL,
    )
    if scope.sender is not None:
        tallies = tallies.filter(sender=scope.sender)
    if scope.channel:
        tallies = tallies.filter(channel=scope.channel)
    rows = (
        tallies.order_by()
        .values("final_channel")
        .annotate(
            now=Sum("deliveries", filter=Q(day__gte=scope.start)),
            before=Sum("deliveries", filter=Q(day__lt=scope.start)),
        )
    )
    current, earlier = Fallback(), Fallback()
    for row in rows:
        for fallback, count in ((current, row["now"] or 0), (earlier, row["before"] or 0)):
            fallback.kakao += count
            if row["final_channel"] in TEXT:
                fallback.by_channel[row["final_channel"]] += count
    return current, earlier if previous is not None else None


@dataclass(frozen=True)
class Change:
    """A headline figure against the previous period: the difference, and the change in
    percent (None when the previous figure was zero, or a rate that had no results)."""

    difference: float
    percent: float | None

    @property
    def direction(self) -> str:
        return "up" if self.difference > 0 else "down" if self.difference < 0 else "same"


def change(current: float | Decimal | None, previous: float | Decimal | None) -> Change | None:
    if current is None or previous is None:
        return None
    difference = float(current) - float(previous)
    percent = 100 * difference / float(previous) if previous else None
    return Change(difference, percent)


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    value: float | Decimal | None
    kind: str  # "count", "rate" or "points"
    change: Change | None
    # Whether a rise is good news (sends, success), bad (failures) or neither (points):
    # the colour only repeats what the words say.
    rise_is: str
    outcome: str = ""  # the list's outcome filter its link carries


def headlines(figures: Figures) -> list[Headline]:
    now, before = figures.totals, figures.previous

    def of(name: str) -> Any:
        return getattr(before, name) if before is not None else None

    return [
        Headline(
            "sends",
            str(pgettext_lazy("count", "Sends")),
            now.sends,
            "count",
            change(now.sends, of("sends")),
            "good",
        ),
        Headline(
            "messages",
            str(_("Messages")),
            now.messages,
            "count",
            change(now.messages, of("messages")),
            "good",
        ),
        Headline(
            "success_rate",
            str(_("Success rate")),
            now.success_rate,
            "rate",
            change(now.success_rate, of("success_rate")),
            "good",
            outcome="success",
        ),
        Headline(
            "failure",
            str(_("Failures")),
            now.failure,
            "count",
            change(now.failure, of("failure")),
            "bad",
            outcome="failure",
        ),
        Headline(
            "charged",
            str(_("Points charged")),
            now.charged,
            "points",
            change(now.charged, of("charged")),
            "neutral",
        ),
        Headline(
            "refunded",
            str(_("Points refunded")),
            now.refunded,
            "points",
            change(now.refunded, of("refunded")),
            "neutral",
        ),
        Headline(
            "net", str(_("Net points")), now.net, "points", change(now.net, of("net")), "neutral"
        ),
        Headline(
            "fallback_rate",
            str(_("KakaoTalk fallback rate")),
            figures.fallback.rate,
            "rate",
            change(
                figures.fallback.rate,
                figures.previous_fallback.rate if figures.previous_fallback else None,
            ),
            "bad",
        ),
    ]
