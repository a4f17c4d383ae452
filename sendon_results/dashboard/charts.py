"""The geometry of the dashboard's charts: numbers in, boxes, points and axis ticks out, in
the coordinates of an SVG viewBox. Templates (templates/dashboard/) draw them; nothing here
knows tallies, requests or HTML.

Every mark carries the link and the words it stands for, so that a chart is as usable by
keyboard and screen reader as the table beside it."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Space around the plot, in viewBox units: room for the y-axis numbers and the x labels.
LEFT = 64
RIGHT = 12
TOP = 14
BOTTOM = 34
X_LABEL_SPACING = 64  # an x label at most every this many units, so they never overlap
ROW_HEIGHT = 30  # a horizontal bar's row
LABEL_UNITS = 22  # a horizontal bar's name, in half-widths (a Hangul syllable is two)


@dataclass(frozen=True)
class Segment:
    """One value of a bar: its series (a CSS class), its link and what it says."""

    value: float
    css: str
    href: str
    label: str


@dataclass(frozen=True)
class Slot:
    """One position on the x axis: its short label and its values, stacked or side by side."""

    label: str
    segments: Sequence[Segment]


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    css: str
    href: str
    label: str


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    href: str
    label: str


@dataclass
class Plot:
    """The frame every column and line chart shares."""

    width: int
    height: int
    ticks: list[Tick] = field(default_factory=list)  # the y axis, bottom up
    x_labels: list[Tick] = field(default_factory=list)
    empty: bool = True

    @property
    def left(self) -> int:
        return LEFT

    @property
    def right(self) -> int:
        return self.width - RIGHT

    @property
    def top(self) -> int:
        return TOP

    @property
    def baseline(self) -> int:
        return self.height - BOTTOM

    @property
    def label_y(self) -> int:
        return self.baseline + 18

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2

    @property
    def middle(self) -> float:
        return (self.top + self.baseline) / 2


@dataclass
class ColumnChart(Plot):
    boxes: list[Box] = field(default_factory=list)


@dataclass
class LineChart(Plot):
    path: str = ""
    points: list[Point] = field(default_factory=list)


def nice_step(rough: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) at or above `rough`."""
    if rough <= 0:
        return 1
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= rough * (1 - 1e-9):
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def _scale(maximum: float, *, whole: bool, intervals: int = 4) -> tuple[float, float]:
    """The axis' top and its step: round numbers, whole ones for counts."""
    step = nice_step(maximum / intervals) if maximum > 0 else 1
    if whole:
        step = max(1, math.ceil(step))
    top = step * max(1, math.ceil(maximum / step - 1e-9))
    return top, step


def _ticks(
    low: float, top: float, step: float, y: Callable[[float], float], text: Callable[[float], str]
) -> list[Tick]:
    count = round((top - low) / step)
    return [Tick(_r(y(low + i * step)), text(low + i * step)) for i in range(count + 1)]


def _x_labels(labels: Sequence[str], centres: Sequence[float], plot_width: float) -> list[Tick]:
    """Every label when they fit, else every n-th (always the first)."""
    if not labels:
        return []
    fitting = max(1, int(plot_width // X_LABEL_SPACING))
    every = math.ceil(len(labels) / fitting)
    return [Tick(_r(centres[i]), labels[i]) for i in range(0, len(labels), every)]


def _r(value: float) -> float:
    return round(value, 1)


def column_chart(
    slots: Sequence[Slot],
    *,
    stacked: bool,
    number: Callable[[float], str],
    whole: bool = True,
    width: int = 960,
    height: int = 280,
) -> ColumnChart:
    """Columns over the slots: each slot's segments stacked (bottom up, in order) or side
    by side. The y axis starts at zero."""
    chart = ColumnChart(width, height)
    heights = [
        sum(s.value for s in slot.segments)
        if stacked
        else max((s.value for s in slot.segments), default=0)
        for slot in slots
    ]
    maximum = max(heights, default=0)
    chart.empty = maximum <= 0
    top, step = _scale(maximum, whole=whole)
    span = chart.baseline - chart.top

    def y(value: float) -> float:
        return chart.baseline - span * value / top

    chart.ticks = _ticks(0, top, step, y, number)
    plot_width = chart.right - chart.left
    slot_width = plot_width / max(1, len(slots))
    centres = [chart.left + slot_width * (i + 0.5) for i in range(len(slots))]
    chart.x_labels = _x_labels([slot.label for slot in slots], centres, plot_width)
    for centre, slot in zip(centres, slots, strict=True):
        if stacked:
            bar = max(1.0, slot_width * 0.7)
            bottom = 0.0
            for segment in slot.segments:
                if segment.value > 0:
                    upper = y(bottom + segment.value)
                    chart.boxes.append(
                        _box(centre - bar / 2, upper, bar, y(bottom) - upper, segment)
                    )
                    bottom += segment.value
        else:
            bar = max(1.0, slot_width * 0.8 / max(1, len(slot.segments)))
            first = centre - bar * len(slot.segments) / 2
            for i, segment in enumerate(slot.segments):
                if segment.value > 0:
                    upper = y(segment.value)
                    chart.boxes.append(
                        _box(first + i * bar, upper, bar * 0.9, chart.baseline - upper, segment)
                    )
    return chart


def _box(x: float, y: float, width: float, height: float, segment: Segment) -> Box:
    # At least half a unit high: a count of one in a column of a million still shows.
    height = max(height, 0.5)
    return Box(_r(x), _r(y), _r(width), _r(height), segment.css, segment.href, segment.label)


def line_chart(
    values: Sequence[float | None],
    labels: Sequence[str],
    hrefs: Sequence[str],
    spoken: Sequence[str],
    *,
    number: Callable[[float], str],
    width: int = 960,
    height: int = 240,
) -> LineChart:
    """A percentage per slot, joined where consecutive slots have one (a slot without is a
    gap, not a zero). The y axis ends at 100 and starts at the round ten below the lowest
    value, so that 97 % and 99 % do not look alike."""
    chart = LineChart(width, height)
    present = [v for v in values if v is not None]
    chart.empty = not present
    low = max(0.0, math.floor((min(present, default=90) - 1) / 10) * 10)
    step = nice_step((100 - low) / 5)
    span = chart.baseline - chart.top

    def y(value: float) -> float:
        return chart.baseline - span * (value - low) / (100 - low)

    chart.ticks = _ticks(low, 100, step, y, number)
    plot_width = chart.right - chart.left
    slot_width = plot_width / max(1, len(values))
    centres = [chart.left + slot_width * (i + 0.5) for i in range(len(values))]
    chart.x_labels = _x_labels(labels, centres, plot_width)
    commands: list[str] = []
    joined = False
    for centre, value, href, words in zip(centres, values, hrefs, spoken, strict=True):
        if value is None:
            joined = False
            continue
        point = Point(_r(centre), _r(y(value)), href, words)
        chart.points.append(point)
        commands.append(f"{'L' if joined else 'M'}{point.x} {point.y}")
        joined = True
    chart.path = " ".join(commands)
    return chart


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar chart: a name, its segments and the figure it ends with."""

    label: str
    href: str
    segments: Sequence[Segment]
    figure: str


@dataclass(frozen=True)
class Row:
    y: float
    label: str  # shortened to fit
    full_label: str
    href: str
    boxes: list[Box]
    figure: str
    figure_x: float


@dataclass
class BarChart:
    width: int
    height: int
    bar_left: int
    rows: list[Row]

    @property
    def empty(self) -> bool:
        return not self.rows


def bar_chart(bars: Sequence[Bar], *, width: int = 600, label_width: int = 168) -> BarChart:
    """Horizontal bars, each as long as its total against the longest, segments left to
    right, the figure after the bar."""
    figure_width = 64
    length = width - label_width - figure_width - 8
    maximum = max((sum(s.value for s in bar.segments) for bar in bars), default=0)
    rows = []
    for i, bar in enumerate(bars):
        y = i * ROW_HEIGHT
        x = float(label_width)
        boxes = []
        for segment in bar.segments:
            if segment.value > 0 and maximum > 0:
                size = max(0.5, length * segment.value / maximum)
                boxes.append(
                    Box(
                        _r(x),
                        y + 7,
                        _r(size),
                        ROW_HEIGHT - 14,
                        segment.css,
                        segment.href,
                        segment.label,
                    )
                )
                x += size
        rows.append(Row(y, shorten(bar.label), bar.label, bar.href, boxes, bar.figure, _r(x + 6)))
    return BarChart(width, max(ROW_HEIGHT, len(bars) * ROW_HEIGHT), label_width, rows)


def shorten(text: str, units: int = LABEL_UNITS) -> str:
    """The text cut to `units` half-widths (wide characters, Hangul, count two), with "…"."""
    used = 0
    for i, char in enumerate(text):
        used += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used > units:
            return text[: max(0, i - 1)] + "…"
    return text
