"""Chart geometry as plain shapes, drawn into inline SVG by one template macro.

The dashboard must work offline and behind firewalls, so there is no chart
library to load: charts are computed here (scales, ticks, bars, whiskers)
and rendered server-side. Shapes carry text and attribute values only as
data, which the template escapes, so a feature called `<script>` stays text
inside an SVG too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

Formatter = Callable[[Any], str]

_TAGS = {"rect", "line", "text", "circle", "polyline", "path"}
_ATTR = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Shape:
    tag: str
    attrs: tuple[tuple[str, str], ...]
    text: str = ""
    title: str = ""


def shape(tag: str, text: str = "", title: str = "", **attrs: Any) -> Shape:
    if tag not in _TAGS:
        raise ValueError(f"unsupported SVG element {tag!r}")
    pairs = []
    for k, v in attrs.items():
        name = "class" if k == "cls" else k.replace("_", "-")
        if not _ATTR.match(name):
            raise ValueError(f"unsupported SVG attribute {name!r}")
        pairs.append((name, _num(v) if isinstance(v, float) else str(v)))
    return Shape(tag, tuple(pairs), text, title)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label: str
    shapes: tuple[Shape, ...]
    kind: str = ""


@dataclass(frozen=True)
class Point:
    value: float | None
    low: float | None = None
    high: float | None = None


def usable(v: Any) -> TypeGuard[float]:
    """A finite real number (bools excluded); narrows `float | None` to `float` for mypy."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def nice_ticks(top: float, target: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top`: 0, 2, 4, 6, 8 for 6.43."""
    if not usable(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = 10 * magnitude
    for m in (1, 2, 2.5, 5, 10):
        if m * magnitude >= raw * (1 - 1e-9):
            step = m * magnitude
            break
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(n + 1)]


def _domain(points: Sequence[Point], fixed: float | None) -> float:
    if fixed is not None:
        return fixed
    values = [p.value for p in points if usable(p.value)]
    highs = [p.high for p in points if usable(p.high)]
    top = max(values + highs, default=0.0)
    if values:
        top = min(top, 2.5 * max(values))
    return top if top > 0 else 1.0


@dataclass(frozen=True)
class Panel:
    title: str
    points: Sequence[Point]
    fmt: Formatter
    domain_max: float | None = None
    tick_fmt: Formatter | None = None


def row_panels(
    labels: Sequence[str],
    panels: Sequence[Panel],
    *,
    ok: Sequence[bool],
    label: str,
    label_width: int = 160,
    panel_width: int = 300,
    row_height: int = 30,
) -> Chart:
    """Rows (features, models, turn buckets) against side-by-side metric panels.

    Cost per token next to cost per success is the article's "efficiency
    paradox": the cheapest row on the left is often the dearest on the right.
    Whiskers are the intervals; rows with too few sessions are greyed.
    """
    top, gap, value_w = 30, 24, 78
    axis_y = top + row_height * len(labels)
    shapes: list[Shape] = []
    for r, name in enumerate(labels):
        cls = "row-label" + ("" if ok[r] else " insufficient")
        y = top + r * row_height + row_height / 2 + 4
        text = name if len(name) <= 22 else name[:21] + "…"
        shapes.append(shape("text", text, name, x=label_width - 10, y=y, cls=cls))
    for i, panel in enumerate(panels):
        x0 = label_width + i * (panel_width + gap)
        plot_w = panel_width - value_w
        ticks = nice_ticks(_domain(panel.points, panel.domain_max))
        dmax = panel.domain_max or ticks[-1]

        def sx(v: float, x0: float = x0, plot_w: float = plot_w, dmax: float = dmax) -> float:
            return x0 + plot_w * max(0.0, min(v, dmax)) / dmax

        shapes.append(shape("text", panel.title, x=x0, y=top - 12, cls="panel-title"))
        for t in ticks:
            if t > dmax * (1 + 1e-9):
                continue
            shapes.append(shape("line", x1=sx(t), x2=sx(t), y1=top, y2=axis_y, cls="grid"))
            tick = (panel.tick_fmt or panel.fmt)(t)
            shapes.append(shape("text", tick, x=sx(t), y=axis_y + 14, cls="tick"))
        for r, p in enumerate(panel.points):
            yc = top + r * row_height + row_height / 2
            state = "" if ok[r] else " insufficient"
            tip = f"{labels[r]}: {panel.fmt(p.value)}"
            if usable(p.low) or usable(p.high):
                tip += f" ({panel.fmt(p.low)} – {panel.fmt(p.high)})"
            if usable(p.value):
                w = sx(p.value) - x0
                shapes.append(
                    shape("rect", "", tip, x=x0, y=yc - 6, width=w, height=12, cls="bar" + state)
                )
            shapes.extend(_whisker(p, sx, yc, x0 + plot_w, state, tip))
            shapes.append(
                shape(
                    "text",
                    panel.fmt(p.value),
                    x=x0 + panel_width - 6,
                    y=yc + 4,
                    cls="value" + state,
                )
            )
    width = label_width + len(panels) * (panel_width + gap) - gap + 4
    return Chart(width, axis_y + 22, label, tuple(shapes), "row-panels")


def _whisker(
    p: Point, sx: Callable[[float], float], yc: float, edge: float, state: str, tip: str
) -> list[Shape]:
    if not usable(p.value) or p.low is None or p.high is None:
        return []
    lo = sx(p.low) if usable(p.low) else sx(0.0)
    hi = sx(p.high) if usable(p.high) else edge
    out = [
        shape("line", "", tip, x1=lo, x2=hi, y1=yc, y2=yc, cls="whisker" + state),
        shape("line", x1=lo, x2=lo, y1=yc - 5, y2=yc + 5, cls="whisker" + state),
    ]
    if usable(p.high) and hi < edge - 0.5:
        out.append(shape("line", x1=hi, x2=hi, y1=yc - 5, y2=yc + 5, cls="whisker" + state))
    else:
        tip_x, back = _num(edge), _num(edge - 6)
        arrow = f"M{back},{_num(yc - 4)} L{tip_x},{_num(yc)} L{back},{_num(yc + 4)}"
        out.append(
            shape("path", "", "interval continues beyond the axis", d=arrow, cls="whisker" + state)
        )
    out.append(shape("circle", "", tip, cx=sx(p.value), cy=yc, r=3.5, cls="dot" + state))
    return out


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point | None]
    ok: Sequence[bool]


def trend(
    x_labels: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    *,
    label: str,
    width: int = 1150,
    height: int = 280,
) -> Chart:
    """Lines of a metric over periods; hollow grey dots where the sample is too small."""
    legend = len(series) > 1
    left, right, top, bottom = 70, 16, 34 if legend else 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    pts = [
        p if ok else Point(p.value)
        for s in series
        for p, ok in zip(s.points, s.ok, strict=True)
        if p is not None
    ]
    ticks = nice_ticks(_domain(pts, None))
    dmax = ticks[-1]
    n = max(len(x_labels), 1)

    def sx(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def sy(v: float) -> float:
        return top + plot_h * (1 - max(0.0, min(v, dmax)) / dmax)

    shapes: list[Shape] = []
    for t in ticks:
        shapes.append(shape("line", x1=left, x2=left + plot_w, y1=sy(t), y2=sy(t), cls="grid"))
        shapes.append(shape("text", fmt(t), x=left - 6, y=sy(t) + 4, cls="tick y"))
    every = max(1, math.ceil(n / max(2, plot_w // 75)))
    for i, xl in enumerate(x_labels):
        if i % every == 0:
            shapes.append(shape("text", xl, x=sx(i), y=top + plot_h + 18, cls="tick"))
    lx = left
    for k, s in enumerate(series):
        color = f"s{k % 8}"
        if legend:
            shapes.append(shape("rect", x=lx, y=8, width=10, height=10, cls=f"swatch {color}"))
            shapes.append(shape("text", s.name, x=lx + 14, y=17, cls="legend"))
            lx += 24 + 7 * min(len(s.name), 28)
        prev: tuple[int, Point] | None = None
        for i, p in enumerate(s.points):
            if p is None or not usable(p.value):
                prev = None
                continue
            if prev is not None:
                j, q = prev
                assert q.value is not None
                faint = "" if s.ok[i] and s.ok[j] else " faint"
                shapes.append(
                    shape(
                        "line",
                        x1=sx(j),
                        y1=sy(q.value),
                        x2=sx(i),
                        y2=sy(p.value),
                        cls=f"line {color}{faint}",
                    )
                )
            prev = (i, p)
        for i, p in enumerate(s.points):
            if p is None or not usable(p.value):
                continue
            state = "" if s.ok[i] else " insufficient"
            tip = f"{s.name}, {x_labels[i]}: {fmt(p.value)}"
            if usable(p.low) and usable(p.high):
                tip += f" ({fmt(p.low)} – {fmt(p.high)})"
                if s.ok[i]:
                    shapes.append(
                        shape(
                            "line",
                            x1=sx(i),
                            x2=sx(i),
                            y1=sy(p.low),
                            y2=sy(p.high),
                            cls=f"band {color}",
                        )
                    )
            shapes.append(
                shape(
                    "circle", "", tip, cx=sx(i), cy=sy(p.value), r=3.5, cls=f"point {color}{state}"
                )
            )
    return Chart(width, height, label, tuple(shapes), "trend")


def stacked_rows(
    labels: Sequence[str],
    part_names: Sequence[str],
    values: Sequence[Sequence[float]],
    fmt: Formatter,
    *,
    label: str,
    kinds: Sequence[str],
    label_width: int = 160,
    plot_width: int = 520,
    row_height: int = 34,
) -> Chart:
    """Each row's cost split into its parts (llm, retries, escalation...), one scale.

    `kinds` name each part's CSS class, so escalation has one colour on every page."""
    width = label_width + plot_width + 90
    totals = [sum(v for v in row if usable(v)) for row in values]
    dmax = nice_ticks(max(totals, default=0.0))[-1]
    shapes: list[Shape] = []
    lx, ly = label_width, 8
    for k, name in enumerate(part_names):
        step = 26 + 7 * len(name)
        if lx + step > width and lx > label_width:
            lx, ly = label_width, ly + 18
        shapes.append(shape("rect", x=lx, y=ly, width=10, height=10, cls=f"swatch {kinds[k]}"))
        shapes.append(shape("text", name, x=lx + 14, y=ly + 9, cls="legend"))
        lx += step
    top = ly + 26
    for r, (name, row) in enumerate(zip(labels, values, strict=True)):
        y = top + r * row_height
        shapes.append(shape("text", name, name, x=label_width - 10, y=y + 17, cls="row-label"))
        x = float(label_width)
        for k, v in enumerate(row):
            if not usable(v) or v <= 0:
                continue
            w = plot_width * v / dmax
            share = v / totals[r] if totals[r] else 0.0
            tip = f"{name} · {part_names[k]}: {fmt(v)} ({share * 100:.0f}%)"
            shapes.append(
                shape("rect", "", tip, x=x, y=y + 5, width=w, height=18, cls=f"seg {kinds[k]}")
            )
            x += w
        shapes.append(shape("text", fmt(totals[r]), x=x + 6, y=y + 18, cls="value left"))
    height = top + row_height * len(labels) + 6
    return Chart(width, height, label, tuple(shapes), "stacked")
