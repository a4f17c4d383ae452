"""Why deliveries failed in a period: the failures by result code, grouped as permanent,
temporary or policy failures, and by carrier and by the channel they finally went by.

Read from the daily delivery tallies only (models/tallies.py): one grouped query over an
organization's days, a few hundred rows however many deliveries they count.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Sum
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..models import Channel, Delivery, DeliveryTally, Organization, SenderProfile
from ..result_codes import REQUEST_FAILED, Explanation, explain

FINAL = {Delivery.Status.SUCCESS, Delivery.Status.FAILURE}

# The groups a failure falls in, in the order the page shows them. A code we cannot
# explain (or one explained as a success or still pending) is "other".
GROUPS: dict[str, Promise] = {
    "permanent": _("Permanent failures"),
    "temporary": _("Temporary failures"),
    "policy": _("Policy and settings failures"),
    "other": _("Other failures"),
}
GROUP_HELP: dict[str, Promise] = {
    "permanent": _("The number or the template is wrong: sending again will fail again."),
    "temporary": _("The recipient could not be reached now: a later send may succeed."),
    "policy": _("A rule or a setting on the sender's side: fix it, then send again."),
    "other": _("Codes without an explanation yet: see the platform's result message."),
}
# Carriers as the platform names them, however written; the page's columns.
CARRIERS = ("SKT", "KT", "LG U+")
OTHER_CARRIER = "other"  # a carrier outside the three (an MVNO's own name)
NO_CARRIER = "none"  # never reached a carrier (the request failed, or nothing was sent)
CARRIER_ALIASES = {
    "SKT": "SKT",
    "SK": "SKT",
    "SKTELECOM": "SKT",
    "KT": "KT",
    "KTF": "KT",
    "LGU+": "LG U+",
    "LGU": "LG U+",
    "LGUPLUS": "LG U+",
    "LGT": "LG U+",
    "LG": "LG U+",
}
CARRIER_LABELS: dict[str, str | Promise] = {
    **{name: name for name in CARRIERS},
    OTHER_CARRIER: _("Other carriers"),
    NO_CARRIER: _("No carrier"),
}
# A code's row: the three carriers, then the rest (another carrier, or none).
CARRIER_COLUMNS: tuple[str | Promise, ...] = (*CARRIERS, _("Other or none"))
TOP_CODES = 3

# Codes overlap between carriers and KakaoTalk, so a code is read with the family of the
# channel a message finally went by; a failed request's code is ours, whatever the channel.
KAKAO, CARRIER, REQUEST = "kakao", "carrier", "request"
FAMILY_LABELS: dict[str, Promise] = {
    KAKAO: _("KakaoTalk"),
    CARRIER: _("Carrier"),
    REQUEST: _("Request"),
}


def carrier_key(raw: str) -> str:
    """SKT, KT, LG U+, OTHER_CARRIER or NO_CARRIER, for a carrier as the platform wrote it."""
    letters = "".join(raw.split()).replace("-", "").replace("_", "").upper()
    if not letters:
        return NO_CARRIER
    return CARRIER_ALIASES.get(letters, OTHER_CARRIER)


def share(part: int, whole: int) -> float | None:
    """part in percent of whole, to one decimal; None when there is no whole."""
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Scope:
    """What the analysis covers: an organization's Korea-time days, optionally one sender
    and one channel (the send's)."""

    organization: Organization
    start: dt.date
    end: dt.date
    sender: SenderProfile | None = None
    channel: str = ""

    def results_query(self, code: str) -> str:
        """The results list's query (results/filters.py's GET names) for the sends of this
        scope with at least one failed delivery of `code`."""
        params: list[tuple[str, str]] = [
            ("code", code),
            ("outcome", Delivery.Status.FAILURE),
            ("requested_from", self.start.isoformat()),
            ("requested_to", self.end.isoformat()),
        ]
        if self.sender is not None:
            params.append(("sender", str(self.sender.pk)))
        if self.channel:
            params.append(("channel", self.channel))
        return urlencode(params)


@dataclass
class CodeRow:
    code: str
    family: str
    explanation: Explanation | None
    group: str
    failures: int = 0
    carriers: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    share_of_failures: float | None = None
    share_of_all: float | None = None
    link: str = ""

    @property
    def family_label(self) -> Promise:
        return FAMILY_LABELS[self.family]

    @property
    def carrier_cells(self) -> list[tuple[str | Promise, int]]:
        """(column, failures) at SKT, KT, LG U+, and anywhere else (CARRIER_COLUMNS)."""
        named = [self.carriers[name] for name in CARRIERS]
        return list(zip(CARRIER_COLUMNS, [*named, self.failures - sum(named)], strict=True))

    @property
    def channel_cells(self) -> list[tuple[str, int]]:
        """(label, failures) per final channel, in Channel order."""
        return [
            (str(Channel(value).label), self.channels[value])
            for value in Channel.values
            if self.channels[value]
        ]


@dataclass
class Group:
    key: str
    rows: list[CodeRow]
    failures: int
    share_of_failures: float | None
    share_of_all: float | None

    @property
    def label(self) -> Promise:
        return GROUPS[self.key]

    @property
    def help(self) -> Promise:
        return GROUP_HELP[self.key]


@dataclass
class Breakdown:
    """Failures of one carrier or one final channel, against all its deliveries."""

    key: str
    label: str | Promise
    failures: int
    deliveries: int
    failure_rate: float | None  # failures in percent of this one's final results
    share_of_failures: float | None


@dataclass
class FailureAnalysis:
    scope: Scope
    deliveries: int  # the scope's deliveries with a final result (success or failure)
    failures: int
    groups: list[Group]
    top: list[CodeRow]
    carriers: list[Breakdown]
    channels: list[Breakdown]

    @property
    def failure_rate(self) -> float | None:
        return share(self.failures, self.deliveries)


def analyse_failures(scope: Scope) -> FailureAnalysis:
    """The failures of the scope's deliveries by code, group, carrier and final channel,
    from one grouped read of the delivery tallies."""
    tallies = DeliveryTally.objects.filter(
        organization=scope.organization, day__gte=scope.start, day__lte=scope.end
    )
    if scope.sender is not None:
        tallies = tallies.filter(sender=scope.sender)
    if scope.channel:
        tallies = tallies.filter(channel=scope.channel)
    grouped = (
        tallies.order_by()
        .values_list("status", "result_code", "final_channel", "carrier")
        .annotate(count=Sum("deliveries"))
    )

    deliveries = 0
    all_by_carrier: Counter[str] = Counter()
    all_by_channel: Counter[str] = Counter()
    rows: dict[tuple[str, str], CodeRow] = {}
    for status, code, final_channel, carrier, count in grouped:
        # Rates are of the messages with a final result: one still sending, waiting for
        # its time or cancelled has neither failed nor succeeded yet.
        if not count or status not in FINAL:
            continue
        deliveries += count
        carrier = carrier_key(carrier)
        all_by_carrier[carrier] += count
        all_by_channel[final_channel] += count
        if status != Delivery.Status.FAILURE:
            continue
        family = (
            REQUEST
            if code == REQUEST_FAILED
            else KAKAO
            if Channel.is_kakao(final_channel)
            else CARRIER
        )
        row = rows.get((code, family))
        if row is None:
            explanation = explain(code, final_channel) if code else None
            group = explanation.group if explanation else "other"
            row = rows[(code, family)] = CodeRow(
                code=code,
                family=family,
                explanation=explanation,
                group=group if group in GROUPS else "other",
            )
        row.failures += count
        row.carriers[carrier] += count
        row.channels[final_channel] += count

    failures = sum(row.failures for row in rows.values())
    results = reverse("results")
    for row in rows.values():
        row.share_of_failures = share(row.failures, failures)
        row.share_of_all = share(row.failures, deliveries)
        # A failure without a code cannot be picked out on the list: no link.
        row.link = f"{results}?{scope.results_query(row.code)}" if row.code else ""
    ordered = sorted(rows.values(), key=lambda row: (-row.failures, row.code, row.family))

    by_group: dict[str, list[CodeRow]] = defaultdict(list)
    for row in ordered:
        by_group[row.group].append(row)
    groups = []
    for key in GROUPS:
        if members := by_group.get(key):
            subtotal = sum(row.failures for row in members)
            groups.append(
                Group(
                    key, members, subtotal, share(subtotal, failures), share(subtotal, deliveries)
                )
            )

    failed_by_carrier: Counter[str] = Counter()
    failed_by_channel: Counter[str] = Counter()
    for row in ordered:
        failed_by_carrier.update(row.carriers)
        failed_by_channel.update(row.channels)
    carriers = [
        _breakdown(key, CARRIER_LABELS[key], failed_by_carrier, all_by_carrier, failures)
        for key in (*CARRIERS, OTHER_CARRIER, NO_CARRIER)
        if all_by_carrier[key]
    ]
    channels = [
        _breakdown(value, label, failed_by_channel, all_by_channel, failures)
        for value, label in Channel.choices
        if all_by_channel[value]
    ]
    return FailureAnalysis(
        scope=scope,
        deliveries=deliveries,
        failures=failures,
        groups=groups,
        top=ordered[:TOP_CODES],
        carriers=carriers,
        channels=channels,
    )


def _breakdown(
    key: str,
    label: str | Promise,
    failed: Counter[str],
    everything: Counter[str],
    failures: int,
) -> Breakdown:
    return Breakdown(
        key=key,
        label=label,
        failures=failed[key],
        deliveries=everything[key],
        failure_rate=share(failed[key], everything[key]),
        share_of_failures=share(failed[key], failures),
    )
