"""Stacked bar charts as SVG geometry, drawn by the template `_chart.html`.

A chart is computed here (pure: positions in SVG units, tick values, labels) and the
template writes the `<svg>`; no JavaScript draws anything. Each series has a colour and
a fill pattern of its own (solid, hatched, dotted...), and the legend names both, so the
series can be told apart without colour; the page shows the same figures as a table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40
SERIES_SHOWN = 7  # more series than this: the smallest are summed as "others"
X_LABELS = 12  # at most this many day labels under the bars
OTHERS = "others"


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: int  # index into the legend: its colour and pattern
    name: str
    day: str
    value: float


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class XLabel:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class LegendItem:
    series: int
    name: str
    total: float


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    width: int
    height: int
    left: int
    bottom: float  # the y of the x axis
    right: float
    segments: list[Segment]
    ticks: list[Tick]
    labels: list[XLabel]
    legend: list[LegendItem]

    @property
    def empty(self) -> bool:
        return not self.segments


def stacked_bars(
    days: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, unit: str
) -> Chart:
    """One bar per day, one segment per series (in the order given: largest first)."""
    shown = _fold(series)
    totals = [sum(values[i] for values in shown.values()) for i in range(len(days))]
    step, top = nice_scale(max(totals, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = slot * 0.7
    scale = plot_h / top
    segments = []
    for i, day in enumerate(days):
        base = float(HEIGHT - BOTTOM)
        for index, (name, values) in enumerate(shown.items()):
            value = values[i]
            if value <= 0:
                continue
            height = value * scale
            base -= height
            x = LEFT + i * slot + (slot - bar) / 2
            segments.append(Segment(x, base, bar, height, index, name, day, value))
    ticks = [
        Tick(HEIGHT - BOTTOM - k * step * scale, _label(k * step))
        for k in range(round(top / step) + 1)
    ]
    every = math.ceil(len(days) / X_LABELS) if days else 1
    labels = [
        XLabel(LEFT + i * slot + slot / 2, day) for i, day in enumerate(days) if i % every == 0
    ]
    legend = [LegendItem(i, name, sum(values)) for i, (name, values) in enumerate(shown.items())]
    return Chart(title, unit, WIDTH, HEIGHT, LEFT, float(HEIGHT - BOTTOM), float(WIDTH - RIGHT),
                 segments, ticks, labels, legend)  # fmt: skip


def _fold(series: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """The first SERIES_SHOWN series as they are; the rest summed as one."""
    names = list(series)
    shown = {name: list(series[name]) for name in names[:SERIES_SHOWN]}
    rest = names[SERIES_SHOWN:]
    if rest:
        shown[OTHERS] = [sum(values) for values in zip(*(series[n] for n in rest), strict=True)]
    return shown


def nice_scale(maximum: float, ticks: int = 4) -> tuple[float, float]:
    """(step, top): a round tick step (1, 2 or 5 times a power of ten) and the axis top,
    a multiple of it at or above `maximum`, with about `ticks` steps."""
    if maximum <= 0:
        return 1.0, float(ticks)
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return step, math.ceil(maximum / step - 1e-9) * step


def _label(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"
