"""Inline SVG charts for HTML pages that must open without a network: line charts, bar charts, timelines.

Every function is pure and deterministic (the same input gives the same text),
styles itself with presentation attributes so it needs no stylesheet, and
escapes every label. Elements carry ``class`` and ``data-*`` attributes so a
page, or a test, can find a chart by title and a series by name.
"""

from __future__ import annotations

import math
from html import escape

__all__ = ["PALETTE", "bar_chart", "line_chart", "nice_ticks", "timeline"]

# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_AXIS = "#555"
_GRID = "#e4e4e4"


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str = "step",
               y_label: str = "", width: int = 640, height: int = 260) -> str:
    """One polyline per series (a single point is a circle), on shared axes with ticks and a legend.

    Points whose x or y is not finite are skipped; a series left empty is left out.
    """
    clean = {name: sorted((float(x), float(y)) for x, y in points if _finite(x) and _finite(y))
             for name, points in series.items()}
    clean = {name: points for name, points in clean.items() if points}
    if not clean:
        return _no_data(title, width, height)
    left, right, top = 60, 16, 28
    legend_rows = _legend_rows(list(clean), width - left - right)
    bottom = 36 + 16 * len(legend_rows)
    box = (left, top, width - right, height - bottom)  # x0, y0, x1, y1 of the plot area
    xs = [x for points in clean.values() for x, _ in points]
    ys = [y for points in clean.values() for _, y in points]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x_range, y_range = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])

    def at(x: float, y: float) -> tuple[float, float]:
        return _scale(x, x_range, box[0], box[2]), _scale(y, y_range, box[3], box[1])

    parts = [_open(title, width, height), _title(title, width)]
    parts += _axes(box, x_ticks, y_ticks, x_range, y_range, x_label, y_label, height)
    for index, (name, points) in enumerate(clean.items()):
        colour = PALETTE[index % len(PALETTE)]
        label = escape(name)
        if len(points) == 1:
            cx, cy = at(*points[0])
            parts.append(f'<circle class="series" data-series="{label}" cx="{_c(cx)}" cy="{_c(cy)}" r="3" '
                         f'fill="{colour}"><title>{label}: {_n(points[0][1])}</title></circle>')
            continue
        coords = " ".join(f"{_c(px)},{_c(py)}" for px, py in (at(x, y) for x, y in points))
        parts.append(f'<polyline class="series" data-series="{label}" points="{coords}" fill="none" '
                     f'stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"><title>{label}</title>'
                     f'</polyline>')
    parts += _legend(legend_rows, list(clean), left, height - 16 * len(legend_rows) + 4)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: list[tuple[str, float]], *, title: str, y_label: str = "", width: int = 640,
              height: int = 260) -> str:
    """One bar per (label, value), from zero, with its label under it; non-finite values are left out."""
    clean = [(label, float(value)) for label, value in bars if _finite(value)]
    if not clean:
        return _no_data(title, width, height)
    box = (60, 28, width - 16, height - 40)
    values = [v for _, v in clean]
    y_ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    y_range = (y_ticks[0], y_ticks[-1])
    parts = [_open(title, width, height), _title(title, width)]
    parts += _axes(box, [], y_ticks, None, y_range, "", y_label, height)
    slot = (box[2] - box[0]) / len(clean)
    zero = _scale(0.0, y_range, box[3], box[1])
    for index, (label, value) in enumerate(clean):
        x = box[0] + slot * index + slot * 0.15
        y = _scale(value, y_range, box[3], box[1])
        text = escape(label)
        parts.append(f'<rect class="bar" data-label="{text}" data-value="{_n(value)}" x="{_c(x)}" '
                     f'y="{_c(min(y, zero))}" width="{_c(slot * 0.7)}" height="{_c(abs(zero - y))}" '
                     f'fill="{PALETTE[index % len(PALETTE)]}"><title>{text}: {_n(value)}</title></rect>')
        parts.append(f'<text x="{_c(x + slot * 0.35)}" y="{box[3] + 14}" text-anchor="middle" {_FONT}>'
                     f"{escape(_clip(label, max(3, int(slot / 6.5))))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def timeline(spans: list[tuple[str, float, float]], *, title: str, width: int = 640) -> str:
    """One horizontal bar per (label, start, end) in seconds, on a shared time axis; height follows the rows."""
    clean = [(label, float(start), float(max(start, end))) for label, start, end in spans
             if _finite(start) and _finite(end)]
    row = 22
    if not clean:
        return _no_data(title, width, 80)
    left, right, top = 150, 70, 28
    height = top + row * len(clean) + 30
    box = (left, top, width - right, top + row * len(clean))
    start = min(s for _, s, _ in clean)
    ticks = _time_ticks(max(e for _, _, e in clean) - start)
    t_range = (ticks[0], ticks[-1])
    parts = [_open(title, width, height), _title(title, width)]
    for tick in ticks:
        x = _scale(tick, t_range, box[0], box[2])
        parts.append(f'<line x1="{_c(x)}" y1="{box[1]}" x2="{_c(x)}" y2="{box[3]}" stroke="{_GRID}"/>')
        parts.append(f'<text x="{_c(x)}" y="{box[3] + 14}" text-anchor="middle" {_FONT} fill="{_AXIS}">'
                     f"{escape(_duration(tick))}</text>")
    for index, (label, begin, end) in enumerate(clean):
        x0 = _scale(begin - start, t_range, box[0], box[2])
        x1 = _scale(end - start, t_range, box[0], box[2])
        y = box[1] + row * index
        text = escape(label)
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 + 4:g}" text-anchor="end" {_FONT}>'
                     f"{escape(_clip(label, 22))}</text>")
        parts.append(f'<rect class="span" data-label="{text}" data-start="{_n(begin)}" data-end="{_n(end)}" '
                     f'x="{_c(x0)}" y="{y + 4}" width="{_c(max(x1 - x0, 1.5))}" height="{row - 8}" '
                     f'fill="{PALETTE[index % len(PALETTE)]}"><title>{text}: {escape(_duration(end - begin))}'
                     f"</title></rect>")
        parts.append(f'<text x="{_c(max(x1, x0 + 1.5) + 4)}" y="{y + row / 2 + 4:g}" {_FONT} fill="{_AXIS}">'
                     f"{escape(_duration(end - begin))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def nice_ticks(low: float, high: float, *, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) that cover ``low``..``high``; never fewer than two."""
    if high < low:
        low, high = high, low
    if high == low:  # a flat line still needs a range to sit in
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = [round(first, 12)]
    while ticks[-1] < high - step * 1e-9 or len(ticks) < 2:  # the last tick reaches ``high``
        ticks.append(round(first + step * len(ticks), 12))
    return ticks


def _time_ticks(total: float) -> list[float]:
    """Ticks from zero at a step a clock reads well: seconds, minutes, hours."""
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
    step = next((s for s in steps if total / s <= 6), math.ceil(total / 6 / 86400) * 86400)
    return [float(step * i) for i in range(max(2, math.ceil(total / step - 1e-9) + 1))]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scale(value: float, domain: tuple[float, float], start: float, end: float) -> float:
    low, high = domain
    return start + (value - low) / (high - low) * (end - start)


def _c(value: float) -> str:
    """A coordinate, to a hundredth of a pixel."""
    return _n(round(value, 2))


def _n(value: float) -> str:
    """A number as short, stable text: six significant digits, no "-0"."""
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def _tick(value: float) -> str:
    return f"{value:.4g}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.3g}s" if seconds < 10 and seconds != int(seconds) else f"{seconds:.0f}s"
    if seconds < 7200:
        minutes, rest = divmod(int(round(seconds)), 60)
        return f"{minutes}m {rest:02d}s" if rest else f"{minutes}m"
    hours, rest = divmod(int(round(seconds)) // 60, 60)
    return f"{hours}h {rest:02d}m" if rest else f"{hours}h"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _open(title: str, width: int, height: int) -> str:
    text = escape(title)
    return (f'<svg class="chart" data-title="{text}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{text}">')


def _title(title: str, width: int) -> str:
    return (f'<text class="title" x="{width / 2:g}" y="16" text-anchor="middle" font-family="system-ui, '
            f'sans-serif" font-size="13" font-weight="600">{escape(title)}</text>')


def _no_data(title: str, width: int, height: int) -> str:
    return (f"{_open(title, width, height)}{_title(title, width)}"
            f'<text class="no-data" x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" {_FONT} '
            f'fill="{_AXIS}">no data</text></svg>')


def _axes(box: tuple[float, float, float, float], x_ticks: list[float], y_ticks: list[float],
          x_range: tuple[float, float] | None, y_range: tuple[float, float], x_label: str, y_label: str,
          height: int) -> list[str]:
    """Grid lines, tick labels, the two axis lines and their labels."""
    x0, y0, x1, y1 = box
    parts = []
    for tick in y_ticks:
        y = _scale(tick, y_range, y1, y0)
        parts.append(f'<line x1="{x0}" y1="{_c(y)}" x2="{x1}" y2="{_c(y)}" stroke="{_GRID}"/>')
        parts.append(f'<text class="tick" x="{x0 - 6}" y="{_c(y + 4)}" text-anchor="end" {_FONT} '
                     f'fill="{_AXIS}">{escape(_tick(tick))}</text>')
    for tick in x_ticks if x_range else []:
        x = _scale(tick, x_range, x0, x1)
        parts.append(f'<line x1="{_c(x)}" y1="{y1}" x2="{_c(x)}" y2="{y1 + 4}" stroke="{_AXIS}"/>')
        parts.append(f'<text class="tick" x="{_c(x)}" y="{y1 + 16}" text-anchor="middle" {_FONT} '
                     f'fill="{_AXIS}">{escape(_tick(tick))}</text>')
    parts.append(f'<path class="axis" d="M{x0},{y0} V{y1} H{x1}" fill="none" stroke="{_AXIS}"/>')
    if x_label:
        parts.append(f'<text class="axis-label" x="{(x0 + x1) / 2:g}" y="{y1 + 30}" text-anchor="middle" '
                     f'{_FONT} fill="{_AXIS}">{escape(x_label)}</text>')
    if y_label:
        middle = (y0 + y1) / 2
        parts.append(f'<text class="axis-label" x="14" y="{middle:g}" text-anchor="middle" {_FONT} '
                     f'fill="{_AXIS}" transform="rotate(-90 14 {middle:g})">{escape(y_label)}</text>')
    return parts


def _legend_width(name: str) -> int:
    return 24 + 7 * min(len(name), 40)


def _legend_rows(names: list[str], room: float) -> list[list[int]]:
    """Series indices per legend row, wrapping when a row would run past ``room`` pixels."""
    rows: list[list[int]] = [[]]
    used = 0
    for index, name in enumerate(names):
        needed = _legend_width(name)
        if rows[-1] and used + needed > room:
            rows.append([])
            used = 0
        rows[-1].append(index)
        used += needed
    return rows


def _legend(rows: list[list[int]], names: list[str], left: float, top: float) -> list[str]:
    parts = ['<g class="legend">']
    for number, indices in enumerate(rows):
        x, y = left, top + 16 * number
        for index in indices:
            colour = PALETTE[index % len(PALETTE)]
            parts.append(f'<rect x="{x:g}" y="{y:g}" width="14" height="4" fill="{colour}"/>')
            parts.append(f'<text x="{x + 18:g}" y="{y + 6:g}" {_FONT}>{escape(_clip(names[index], 40))}</text>')
            x += _legend_width(names[index])
    parts.append("</g>")
    return parts
