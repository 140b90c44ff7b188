"""Charts drawn on the server as inline SVG: bars, stacked shares, histograms, lines over time.

Server-side SVG needs no script and no library, scales with the page (a viewBox at 100% width)
and prints. Each chart is a `<figure>` whose SVG has a `<title>` and `<desc>` for screen readers,
numbers written on the marks, a native hover tooltip (`<title>`) on each mark, and a table of the
same numbers in a `<details>` element, so every figure can be read without JavaScript or sight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tiergate_gateway.pages.html import Cell, Markup, esc, fmt_int, fmt_percent, table

WIDTH = 480
"""ViewBox width: small enough that text stays legible when a phone scales the chart down."""
FONT = 13
_LIGHT_COLOURS = frozenset({"#E69F00", "#F0E442", "#56B4E9", "#999999", "#CC79A7"})

ValueFormat = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a bar chart."""

    label: str
    value: float
    colour: str
    note: str = ""
    """Shown after the label (e.g. "baseline")."""


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a line chart: (time, value) points in time order."""

    name: str
    colour: str
    points: tuple[tuple[datetime, float], ...]
    dashed: bool = False


def _text_colour(fill: str) -> str:
    """Black on light fills, white on dark ones, so numbers on marks stay readable."""
    return "#1a1a1a" if fill.upper() in _LIGHT_COLOURS else "#ffffff"


def _num(value: float) -> str:
    """SVG coordinates with two decimals at most: enough for any screen, short in the file."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _svg(chart_id: str, title: str, desc: str, height: float, marks: str) -> Markup:
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {_num(height)}" width="100%" role="img" '
        f'aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui,sans-serif" font-size="{FONT}">'
        f'<title id="{esc(chart_id)}-t">{esc(title)}</title><desc id="{esc(chart_id)}-d">{esc(desc)}</desc>'
        f"{marks}</svg>"
    )


def _figure(chart_id: str, title: str, svg: Markup, data_table: Markup, legend: Markup | str = "") -> Markup:
    return Markup(
        f'<figure class="chart" id="{esc(chart_id)}"><figcaption>{esc(title)}</figcaption>{svg}{legend}'
        f"<details><summary>Numbers</summary>{data_table}</details></figure>"
    )


def legend(colours: Mapping[str, str]) -> Markup:
    """Series names beside their colour swatches (HTML, so it reflows on narrow screens)."""
    items = "".join(
        f'<li><i style="background:{esc(colour)}" aria-hidden="true"></i>{esc(name)}</li>'
        for name, colour in colours.items()
    )
    return Markup(f'<ul class="legend">{items}</ul>')


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, value_format: ValueFormat) -> Markup:
    """Horizontal bars, label above each bar and its value after it (long names need no rotation)."""
    label_h, bar_h, gap = 16.0, 18.0, 10.0
    row_h = label_h + bar_h + gap
    room = WIDTH - 110  # the longest bar leaves room for its value
    top = max((bar.value for bar in bars), default=0.0)
    marks: list[str] = []
    for index, bar in enumerate(bars):
        y = index * row_h
        length = room * bar.value / top if top > 0 and bar.value > 0 else 0.0
        label = bar.label + (f" ({bar.note})" if bar.note else "")
        value = value_format(bar.value)
        marks.append(
            f'<text x="0" y="{_num(y + 12)}">{esc(label)}</text>'
            f'<rect class="bar" x="0" y="{_num(y + label_h)}" width="{_num(max(length, 1.0))}" '
            f'height="{_num(bar_h)}" fill="{esc(bar.colour)}"><title>{esc(label)}: {esc(value)}</title></rect>'
            f'<text x="{_num(length + 5)}" y="{_num(y + label_h + 13.5)}" font-weight="600">{esc(value)}</text>'
        )
    height = max(len(bars) * row_h, row_h)
    svg = _svg(chart_id, title, desc, height, "".join(marks))
    rows = [(bar.label + (f" ({bar.note})" if bar.note else ""), value_format(bar.value)) for bar in bars]
    return _figure(chart_id, title, svg, table(["", "Value"], rows, numeric={1}))


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[tuple[str, Mapping[str, float]]],
    colours: Mapping[str, str],
) -> Markup:
    """One 100% bar per row split into series shares (e.g. tiers per task), shares written inside.

    `rows` are (label, {series: amount}); `colours` orders the series and names the legend.
    """
    label_h, bar_h, gap = 16.0, 22.0, 10.0
    row_h = label_h + bar_h + gap
    marks: list[str] = []
    table_rows: list[list[Cell]] = []
    for index, (label, amounts) in enumerate(rows):
        y = index * row_h
        total = sum(amounts.values())
        marks.append(f'<text x="0" y="{_num(y + 12)}">{esc(label)} · {esc(fmt_int(round(total)))}</text>')
        x = 0.0
        cells: list[Cell] = [label]
        for series, colour in colours.items():
            amount = amounts.get(series, 0.0)
            share = 100 * amount / total if total > 0 else 0.0
            cells.append(f"{fmt_int(round(amount))} ({fmt_percent(share)})" if amount else "")
            if amount <= 0:
                continue
            width = WIDTH * amount / total
            tip = f"{label}: {series} {fmt_int(round(amount))} ({fmt_percent(share)})"
            marks.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(y + label_h)}" width="{_num(width)}" '
                f'height="{_num(bar_h)}" fill="{esc(colour)}"><title>{esc(tip)}</title></rect>'
            )
            if width >= 40:
                marks.append(
                    f'<text x="{_num(x + width / 2)}" y="{_num(y + label_h + 15.5)}" text-anchor="middle" '
                    f'font-size="12" fill="{_text_colour(colour)}">{esc(fmt_percent(share, 0))}</text>'
                )
            x += width
        if total <= 0:
            marks.append(f'<text x="0" y="{_num(y + label_h + 15.5)}" fill="#5a5a5a" font-size="12">no requests</text>')
        cells.append(fmt_int(round(total)))
        table_rows.append(cells)
    height = max(len(rows) * row_h, row_h)
    svg = _svg(chart_id, title, desc, height, "".join(marks))
    headers: list[Cell] = ["", *colours, "Total"]
    data = table(headers, table_rows, numeric=set(range(1, len(headers))))
    return _figure(chart_id, title, svg, data, legend(colours))


def bucket_labels(bounds: Sequence[float], count: int) -> list[str]:
    """Names of histogram buckets: "≤b" for each upper bound, "> last" for the rest."""
    labels = [f"≤{_compact(bound)}" for bound in bounds[:count]]
    if count > len(bounds):
        labels.append(f">{_compact(bounds[-1])}" if bounds else "all")
    labels.extend("?" for _ in range(count - len(labels)))
    return labels


def _compact(value: float) -> str:
    """A short axis number: 250, 1.5k, 12k."""
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def histogram(
    chart_id: str, title: str, desc: str, bounds: Sequence[float], counts: Sequence[int], colour: str, *, unit: str
) -> Markup:
    """Vertical bars per bucket with each count above its bar; buckets in order of their bounds."""
    labels = bucket_labels(bounds, len(counts))
    plot_top, plot_h, axis_h = 18.0, 120.0, 34.0
    slot = WIDTH / max(len(counts), 1)
    top = max(counts, default=0)
    total = sum(counts)
    step = 1 if len(counts) <= 12 else math.ceil(len(counts) / 12)
    marks: list[str] = [
        f'<line x1="0" x2="{WIDTH}" y1="{_num(plot_top + plot_h)}" y2="{_num(plot_top + plot_h)}" stroke="#999"/>'
    ]
    for index, (label, count) in enumerate(zip(labels, counts, strict=True)):
        x = index * slot
        height = plot_h * count / top if top > 0 else 0.0
        y = plot_top + plot_h - height
        share = 100 * count / total if total else 0.0
        if count > 0:
            marks.append(
                f'<rect class="bar" x="{_num(x + 2)}" y="{_num(y)}" width="{_num(max(slot - 4, 1))}" '
                f'height="{_num(max(height, 1))}" fill="{esc(colour)}">'
                f"<title>{esc(label)} {esc(unit)}: {count:,} ({esc(fmt_percent(share))})</title></rect>"
                f'<text x="{_num(x + slot / 2)}" y="{_num(y - 4)}" text-anchor="middle" font-size="11">{count:,}</text>'
            )
        if index % step == 0:
            marks.append(
                f'<text x="{_num(x + slot / 2)}" y="{_num(plot_top + plot_h + 15)}" text-anchor="middle" '
                f'font-size="11" fill="#5a5a5a">{esc(label)}</text>'
            )
    marks.append(
        f'<text x="{WIDTH / 2}" y="{_num(plot_top + plot_h + axis_h - 4)}" text-anchor="middle" font-size="11" '
        f'fill="#5a5a5a">{esc(unit)} (upper bound of each bucket)</text>'
    )
    svg = _svg(chart_id, title, desc, plot_top + plot_h + axis_h, "".join(marks))
    rows = [
        (f"{label} {unit}", f"{count:,}", fmt_percent(100 * count / total if total else None))
        for label, count in zip(labels, counts, strict=True)
    ]
    return _figure(chart_id, title, svg, table(["Bucket", "Requests", "Share"], rows, numeric={1, 2}))


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    lines: Sequence[Line],
    *,
    value_format: ValueFormat,
    time_format: Callable[[datetime], str],
) -> Markup:
    """Series over real time (gaps in time stay gaps on the axis), a dot with a tooltip per point."""
    left, right, plot_top, plot_h, axis_h = 64.0, 12.0, 10.0, 160.0, 28.0
    plot_w = WIDTH - left - right
    times = sorted({at for line in lines for at, _ in line.points})
    top = max((value for line in lines for _, value in line.points), default=0.0)
    top = top if top > 0 else 1.0
    first = times[0].timestamp() if times else 0.0
    span = (times[-1].timestamp() - first) if len(times) > 1 else 0.0

    def x_of(at: datetime) -> float:
        return left + (plot_w * (at.timestamp() - first) / span if span > 0 else plot_w / 2)

    def y_of(value: float) -> float:
        return plot_top + plot_h * (1 - value / top)

    marks: list[str] = []
    for fraction in (0.0, 0.5, 1.0):
        y = y_of(top * fraction)
        marks.append(
            f'<line x1="{_num(left)}" x2="{_num(WIDTH - right)}" y1="{_num(y)}" y2="{_num(y)}" stroke="#ddd"/>'
            f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" text-anchor="end" font-size="11" fill="#5a5a5a">'
            f"{esc(value_format(top * fraction))}</text>"
        )
    ticks = [times[0], times[-1]] if len(times) > 1 else times[:1]
    for tick_index, at in enumerate(ticks):
        anchor = "middle" if len(ticks) == 1 else ("start" if tick_index == 0 else "end")
        marks.append(
            f'<text x="{_num(x_of(at))}" y="{_num(plot_top + plot_h + 18)}" text-anchor="{anchor}" font-size="11" '
            f'fill="#5a5a5a">{esc(time_format(at))}</text>'
        )
    for line in lines:
        if not line.points:
            continue
        path = " ".join(
            f"{'M' if index == 0 else 'L'}{_num(x_of(at))},{_num(y_of(value))}"
            for index, (at, value) in enumerate(line.points)
        )
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        marks.append(
            f'<path class="series" d="{path}" fill="none" stroke="{esc(line.colour)}" stroke-width="2"{dash}/>'
        )
        for at, value in line.points:
            tip = f"{line.name} at {time_format(at)}: {value_format(value)}"
            marks.append(
                f'<circle cx="{_num(x_of(at))}" cy="{_num(y_of(value))}" r="3" fill="{esc(line.colour)}">'
                f"<title>{esc(tip)}</title></circle>"
            )
    svg = _svg(chart_id, title, desc, plot_top + plot_h + axis_h, "".join(marks))
    by_series = [dict(line.points) for line in lines]
    rows = [
        [time_format(at), *(value_format(points[at]) if at in points else "" for points in by_series)] for at in times
    ]
    headers: list[Cell] = ["Time", *(line.name for line in lines)]
    data = table(headers, rows, numeric=set(range(1, len(headers))))
    return _figure(chart_id, title, svg, data, legend({line.name: line.colour for line in lines}))
