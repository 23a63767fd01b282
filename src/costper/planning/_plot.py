"""The break-even chart: cost per success against monthly volume, API vs self-hosted.

SVG is written by hand (no dependency, crisp, diff-able); PNG needs
matplotlib, an optional extra (`pip install 'costper[plot]'`), so the base
install stays small. Both axes are logarithmic because the self-hosted cost
per success falls by orders of magnitude as a fixed lease is spread thinner,
with a jump each time another GPU is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from costper.errors import InputError
from costper.planning._breakeven import Comparison, Deployment, row

WIDTH, HEIGHT = 820, 540
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 50, 110  # the legend sits below the plot, off the lines
COLOURS = {"api": "#1f77b4", "self": "#d62728"}


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    dashed: bool
    points: list[tuple[float, float]]


def volume_range(c: Comparison) -> tuple[float, float]:
    vols = [float(r.requests) for r in c.rows]
    for b in (c.compute, c.per_success):
        if b.requests:
            vols.append(float(b.requests))
    return min(vols) / 10, max(vols) * 10


def sample_volumes(d: Deployment, lo: float, hi: float, n: int = 240) -> list[float]:
    """Log-spaced volumes plus both sides of every GPU step in range (at most 400)."""
    step = math.log10(hi / lo) / (n - 1)
    vols = {lo * 10 ** (i * step) for i in range(n)}
    cap = float(d.requests_per_gpu)
    k = max(1, math.ceil(lo / cap))
    while k * cap < hi and k < 400:
        vols.update({k * cap, k * cap + max(1.0, k * cap * 1e-6)})
        k += 1
    return sorted(v for v in vols if lo <= v <= hi)


def series(c: Comparison) -> list[Series]:
    d = c.deployment
    lo, hi = volume_range(c)
    vols = sample_volumes(d, lo, hi)
    rows = [row(d, Decimal(repr(v))) for v in vols]
    sa, ss = float(d.api_success_rate), float(d.self_success)
    return [
        Series(
            "API, all-in",
            COLOURS["api"],
            False,
            [(float(r.requests), float(r.api_per_success)) for r in rows],
        ),
        Series(
            "self-hosted, all-in",
            COLOURS["self"],
            False,
            [(float(r.requests), float(r.self_per_success)) for r in rows],
        ),
        Series(
            "API, compute only",
            COLOURS["api"],
            True,
            [(float(r.requests), float(r.api_compute) / (float(r.requests) * sa)) for r in rows],
        ),
        Series(
            "self-hosted, compute only",
            COLOURS["self"],
            True,
            [(float(r.requests), float(r.self_compute) / (float(r.requests) * ss)) for r in rows],
        ),
    ]


def _ticks(lo: float, hi: float) -> list[float]:
    return [
        10.0**e
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        if lo <= 10.0**e <= hi
    ]


def _label(v: float, money: bool) -> str:
    if not money:
        for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
            if v >= size:
                return f"{v / size:g}{unit}"
        return f"{v:g}"
    return f"{v:g}"


def svg(c: Comparison) -> str:
    all_series = series(c)
    ys = [y for s in all_series for _, y in s.points if y > 0]
    xlo, xhi = volume_range(c)
    ylo, yhi = 10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + pw * math.log10(x / xlo) / math.log10(xhi / xlo)

    def py(y: float) -> float:
        return TOP + ph * (1 - math.log10(y / ylo) / math.log10(yhi / ylo))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">'
        "Cost per success against monthly requests: API vs self-hosted</text>",
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>',
    ]
    for t in _ticks(xlo, xhi):
        out.append(
            f'<line x1="{px(t):.1f}" y1="{TOP}" x2="{px(t):.1f}" y2="{TOP + ph}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{px(t):.1f}" y="{TOP + ph + 18}" text-anchor="middle">'
            f"{_label(t, False)}</text>"
        )
    for t in _ticks(ylo, yhi):
        out.append(
            f'<line x1="{LEFT}" y1="{py(t):.1f}" x2="{LEFT + pw}" y2="{py(t):.1f}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{py(t) + 4:.1f}" text-anchor="end">{_label(t, True)}</text>'
        )
    out.append(
        f'<text x="{LEFT + pw / 2}" y="{TOP + ph + 38}" text-anchor="middle">requests a month</text>'
    )
    out.append(
        f'<text x="18" y="{TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + ph / 2})">cost per success</text>'
    )
    marks = [(c.compute, "compute"), (c.per_success, "per success")]
    if c.compute.requests == c.per_success.requests:
        marks = [(c.compute, "compute and per success")]
    for i, (b, name) in enumerate(marks):
        if b.requests and xlo <= b.requests <= xhi:
            x = px(float(b.requests))
            text = f"break-even ({name}): {b.requests:,}"
            out.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#2ca02c" '
                f'stroke-dasharray="2 3"><title>{escape(text)}</title></line>'
            )
            out.append(
                f'<text x="{x + 4:.1f}" y="{TOP + ph - 8 - 14 * i}" fill="#2ca02c">'
                f"{escape(text)}</text>"
            )
    for s in all_series:
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points if y > 0)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<polyline fill="none" stroke="{s.colour}" stroke-width="2"{dash} points="{pts}">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
    for i, s in enumerate(all_series):  # two columns under the axis label
        x, y = LEFT + 40 + (i // 2) * 300, TOP + ph + 62 + (i % 2) * 18
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<line class="legend" x1="{x}" y1="{y}" x2="{x + 30}" y2="{y}" '
            f'stroke="{s.colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text class="legend" x="{x + 36}" y="{y + 4}">{escape(s.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def figure(c: Comparison) -> Any:
    """The matplotlib figure of the chart, its legend under the axes: inside, wherever
    it went, it covered the all-in lines (they run flat across the upper half)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    for s in series(c):
        ax.plot(
            *zip(*s.points, strict=True),
            color=s.colour,
            linestyle="--" if s.dashed else "-",
            label=s.label,
        )
    for b in (c.compute, c.per_success):
        if b.requests:
            ax.axvline(b.requests, color="#2ca02c", linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("requests a month")
    ax.set_ylabel("cost per success")
    ax.set_title("Cost per success against monthly requests: API vs self-hosted")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def png(c: Comparison, path: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            f"plot: writing PNG needs matplotlib (pip install 'costper[plot]'); "
            f"or write an SVG: --plot {path.with_suffix('.svg')}",
            field="plot",
            value=str(path),
        ) from None
    from matplotlib import pyplot as plt

    fig = figure(c)
    try:
        fig.savefig(path, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)


def write_plot(c: Comparison, path: str | Path) -> Path:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise InputError(
            f"plot: expected a .svg or .png file, got {str(p)!r}", field="plot", value=str(p)
        )
    if not p.parent.exists():
        raise InputError(f"plot: the folder {p.parent} does not exist", field="plot", value=str(p))
    if suffix == ".svg":
        p.write_text(svg(c), encoding="utf-8")
    else:
        png(c, p)
    return p
