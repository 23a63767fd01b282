"""How numbers read, everywhere: money, percentages, counts and intervals.

The CLI, the dashboard and the calculator used to round on their own and
disagreed (6.425 read 6.42, 6.43 and $6.42). Here is the one rule: amounts
round half-up as written in decimal (so 6.425 is 6.43 whatever float holds),
to the cent from 0.10 up, else to two significant digits, because cost per
success spans five orders of magnitude (a call at 0.0019, a ticket at 15) and
"0.00" would read as free. Rounding happens only for display; arithmetic
stays exact elsewhere.

A currency is a code passed in by the caller (`USD`); no currency is assumed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DASH = "—"
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
"""Codes written as a symbol before the amount; any other code follows it (`12.50 CHF`)."""

_CENT = Decimal("0.01")
_WHOLE_FROM = 1_000_000


def _number(v: Any) -> Decimal | None:
    """A finite amount as the decimal it is written as, else None."""
    if isinstance(v, Decimal):
        return v if v.is_finite() else None
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def round_money(v: Decimal | float) -> Decimal:
    """The display rounding: to the cent from 0.10 up, else to two significant digits.

    So 4.5019 shows as 4.50, 0.0807 as 0.081 and 0.0019 as 0.0019, as the
    article prints them.
    """
    d = v if isinstance(v, Decimal) else Decimal(repr(v))
    if d == 0:
        return Decimal(0)
    if abs(d) >= Decimal("0.1"):
        return d.quantize(_CENT, ROUND_HALF_UP)
    return d.quantize(Decimal(1).scaleb(d.adjusted() - 1), ROUND_HALF_UP)


def money(v: Any, currency: str | None = None) -> str:
    """'1,460.00', '0.0019', '−$0.12' (with currency 'USD'), '1,234,568';
    '—' for no value and '∞' for an unbounded one; whole units from a million up,
    where cents are noise."""
    d = _number(v)
    if d is None:
        return "∞" if isinstance(v, float) and math.isinf(v) else DASH
    a = abs(d)
    if a >= _WHOLE_FROM:
        text = f"{a.quantize(Decimal(1), ROUND_HALF_UP):,}"
    else:
        r = round_money(a)
        text = f"{r:,.2f}" if a == 0 or a >= Decimal("0.1") else format(r, "f")
    sign = "−" if d < 0 and text.strip("0.,") else ""
    if currency is None:
        return sign + text
    symbol = SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"


def percent(v: Any, decimals: int = 1) -> str:
    """A share (0.8779) as '87.8%'."""
    d = _number(v)
    if d is None:
        return DASH
    return f"{(d * 100).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)}%"


def signed_percent(points: Any, decimals: int = 1) -> str:
    """A change already in percent points (-87.66) as '−87.7%' or '+12.0%', with the
    same minus sign as `money` and `interval`, so columns of changes read alike."""
    d = _number(points)
    if d is None:
        return DASH
    q = abs(d).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    return f"{'−' if d < 0 and q else '+'}{q}%"


def whole_percent(p: Decimal) -> int:
    """A percentage (not a share) to the nearest whole, halves away from zero."""
    return int(p.to_integral_value(ROUND_HALF_UP))


def count(v: Any) -> str:
    d = _number(v)
    return DASH if d is None else f"{d.quantize(Decimal(1), ROUND_HALF_UP):,}"


def compact(v: Any) -> str:
    """Token counts: 1.2M, 35.4k, 950."""
    d = _number(v)
    if d is None:
        return DASH
    for limit, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if abs(d) >= limit:
            return f"{float(d) / limit:.1f}".removesuffix(".0") + suffix
    return count(d)


Formatter = Callable[[Any], str]


def interval(iv: Mapping[str, Any] | None, fmt: Formatter = money) -> str:
    """'6.43 (6.00–7.02)': the value and its range; the value alone without a range.

    Money endpoints take the value's precision where that still shows them
    (`1.50 (0.05–2.96)`, not `1.50 (0.047–2.96)`), and a range with a negative
    end reads `−5.65 (−6.10 to −5.19)`, since `–−` is unreadable.
    """
    if not iv or iv.get("value") is None:
        return DASH
    if iv.get("low") is None or iv.get("high") is None:
        return fmt(iv["value"])
    value = fmt(iv["value"])
    low, high = (_like(value, iv[k], fmt) for k in ("low", "high"))
    joint = " to " if "−" in low + high or "-" in low + high else "–"
    return f"{value} ({low}{joint}{high})"


def _like(shown: str, v: Any, fmt: Formatter) -> str:
    """An endpoint at the precision `shown` has, when fmt is money and it stays non-zero."""
    own = fmt(v)
    d = _number(v)
    if fmt is not money or d is None or "." not in shown or abs(d) >= _WHOLE_FROM:
        return own
    places = len(shown.rsplit(".", 1)[1].rstrip(" " + "".join(SYMBOLS.values())))
    same = abs(d).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    if same == 0 or len(own.rsplit(".", 1)[-1]) <= places:
        return own
    return ("−" if d < 0 else "") + f"{same:,.{places}f}"


def interval_range(iv: Mapping[str, Any] | None, fmt: Formatter = money) -> str:
    """'6.43 – 7.02': the range only, for where the value is shown beside it."""
    if not iv or (iv.get("low") is None and iv.get("high") is None):
        return DASH
    return f"{fmt(iv.get('low'))} – {fmt(iv.get('high'))}"
