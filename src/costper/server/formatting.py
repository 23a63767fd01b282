"""How numbers read on the dashboard: money, counts, shares, intervals.

Cost per success spans five orders of magnitude (a call at $0.0019, a
ticket at $15, a month of GPU at $1,460), so small amounts keep three
significant digits instead of rounding to "$0.00", which would read as free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DASH = "—"


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def money(v: Any, symbol: str = "$") -> str:
    if not _finite(v):
        return "∞" if isinstance(v, float) and math.isinf(v) else DASH
    sign = "−" if v < 0 else ""
    a = abs(float(v))
    if a >= 100_000:
        return f"{sign}{symbol}{a:,.0f}"
    if a == 0 or a >= 0.1:
        return f"{sign}{symbol}{a:,.2f}"
    decimals = 2 - math.floor(math.log10(a))
    text = f"{a:.{decimals}f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{a:.2f}"
    return f"{sign}{symbol}{text}"


def money_tick(v: Any, symbol: str = "$") -> str:
    """Axis labels: $25k, $1.5M, else as `money`; ticks must stay short to fit."""
    if _finite(v) and abs(v) >= 1000:
        return symbol + compact(v)
    return money(v, symbol)


def count(v: Any) -> str:
    if not _finite(v):
        return DASH
    return f"{round(v):,}"


def percent(v: Any, decimals: int = 1) -> str:
    if not _finite(v):
        return DASH
    return f"{v * 100:.{decimals}f}%"


def compact(v: Any) -> str:
    """Token counts: 1.2M, 35.4k, 950."""
    if not _finite(v):
        return DASH
    a = abs(v)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{v / limit:.1f}".removesuffix(".0") + suffix
    return f"{round(v):,}"


def interval(iv: Mapping[str, Any] | None, fmt: str = "money") -> str:
    """'$6.43 – $7.02': the range only; the point value is shown beside it."""
    if not iv:
        return DASH
    f = FORMATS[fmt]
    low, high = iv.get("low"), iv.get("high")
    if low is None and high is None:
        return DASH
    return f"{f(low)} – {f(high)}"


FORMATS = {"money": money, "count": count, "percent": percent, "compact": compact}
