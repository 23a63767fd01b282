"""How numbers read on the dashboard: costper's one formatter (`costper._format`)
with the dashboard's currency and its template names.

Ticks on chart axes are the one dashboard-only shape: they must stay short.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from costper import _format
from costper._format import DASH, compact, count, percent

__all__ = [
    "CURRENCY",
    "DASH",
    "FORMATS",
    "compact",
    "count",
    "interval",
    "money",
    "money_tick",
    "percent",
]

CURRENCY: ContextVar[str] = ContextVar("costper_currency", default="USD")
"""The report currency (`[currency] report`) of the app serving this request: every
page and chart shows its code, set per request by `create_app`."""


def money(v: Any, currency: str | None = None) -> str:
    return _format.money(v, currency or CURRENCY.get())


def money_tick(v: Any, currency: str | None = None) -> str:
    """Axis labels: $25k, $1.5M, else as `money`; ticks must stay short to fit."""
    currency = currency or CURRENCY.get()
    d = _format.money(v, currency)
    if isinstance(v, int | float) and abs(v) >= 1000 and d not in (DASH, "∞"):
        return _format.money(0, currency).replace("0.00", compact(v))
    return d


def interval(iv: Mapping[str, Any] | None, fmt: str = "money") -> str:
    """'$6.43 – $7.02': the range only; the point value is shown beside it."""
    return _format.interval_range(iv, FORMATS[fmt])


FORMATS = {"money": money, "count": count, "percent": percent, "compact": compact}
