"""Confidence intervals from sufficient statistics.

Every interval here is computed from a handful of power sums (`_moments.Sums`)
that any SQL engine produces in one pass, so an interval costs the same on ten
sessions or ten billion, on any backend.

Session costs are skewed (agent loops, escalations on failure, rare huge
sessions), and a plain t or Fieller interval is then too narrow on the
expensive side: it understates cost. Both intervals here carry Hall's (1992)
skewness correction: the studentised statistic W = (x̄ − μ)/σ̂ is replaced by
the monotone cubic W + γW²/3 + γ²W³/27 + γ/(6n), γ the sample skewness, which
removes the n^-½ skewness term of its Edgeworth expansion and can be inverted
in closed form. Cost per intent applies it to the mean cost; cost per success
R = Σc/Σs applies it to the linearised ratio D = c − R·s (Fieller's pivot),
whose skewness comes from Σc³ and Σc²s. With the skewness set to 0 these are
exactly the t and Fieller intervals. Where the denominator is not clearly
above zero Fieller is unbounded; then the delta method (same correction) is
used and the method says so. bench/calibration.py measures coverage.

The functions taking arrays (`*_bounds`) are the implementation; the
`Interval`-returning ones wrap them for one group.
"""

from __future__ import annotations

import _imp
import importlib
import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from costper.engine._moments import Num, Sums, _f, _out, d_moments

__all__ = [
    "NONE",
    "Interval",
    "Sums",
    "mean_bounds",
    "mean_interval",
    "ratio_bounds",
    "ratio_interval",
    "ratio_se",
    "separating_scale",
    "sessions_needed",
    "t_value",
    "wilson",
    "wilson_bounds",
    "z_value",
]


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None
    method: str = ""

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


NONE = Interval(None, None, None, "none")
METHODS = ("none", "fieller", "delta")


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_value(confidence: float, df: Num) -> Num:
    """Two-sided Student t quantile; inf below 1 degree of freedom (array-aware)."""
    d = _f(df)
    q = np.where(d >= 1, student_t().stdtrit(np.maximum(d, 1), 0.5 + confidence / 2), np.inf)
    return _out(q)


def student_t() -> Any:
    """SciPy's compiled special functions (`scipy.special._ufuncs`), where `stdtrit` and
    `stdtr` live: what `scipy.stats.t` calls (and `scipy.stats` takes ~1.5 s to import).

    Loaded without running `scipy/special/__init__.py`, which imports SciPy's
    array-API layer and with it much of NumPy (f2py, testing, ma): 0.15 s of
    a 0.03 s load, in every `costper report`. The package is stood in for
    while the extension loads, under the import lock so no other thread can
    see the stand-in; a later `import scipy.special` runs its `__init__` as
    usual and finds these very functions. Should that fail on some SciPy, the
    package is imported the ordinary way.
    """
    loaded = sys.modules.get("scipy.special._ufuncs")
    if loaded is not None:
        return loaded
    if "scipy.special" not in sys.modules:
        _imp.acquire_lock()
        try:
            if "scipy.special" not in sys.modules:
                import scipy

                spec = importlib.util.find_spec("scipy.special")
                if spec is not None and spec.loader is not None:
                    sys.modules["scipy.special"] = importlib.util.module_from_spec(spec)
                    try:
                        return importlib.import_module("scipy.special._ufuncs")
                    except Exception:
                        for name in [m for m in sys.modules if m.startswith("scipy.special.")]:
                            del sys.modules[name]
                    finally:
                        del sys.modules["scipy.special"]
                        scipy.__dict__.pop("special", None)
        finally:
            _imp.release_lock()
    import scipy.special._ufuncs

    return scipy.special._ufuncs


def hall_w(q: Num, skew: Num, n: Num) -> Num:
    """W with √n·(Hall's transform of W) = q: the skew-corrected quantile of (x̄ − μ)/σ̂."""
    q, g, n = _f(q), _f(skew), _f(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = q / np.sqrt(n) - g / (6 * n)
        w = 3 / g * (np.cbrt(1 + g * u) - 1)
    return _out(np.where(np.abs(g) < 1e-9, u, w))


def wilson_bounds(successes: Num, n: Num, confidence: float = 0.95) -> tuple[Num, Num, Num]:
    """Wilson score interval: stays inside [0, 1] and behaves at 0% and 100%."""
    x, n = _f(successes), _f(n)
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1 - p), 0) / n + z2 / (4 * n * n)) / denom
    low = np.where(x <= 0, 0.0, np.maximum(0.0, centre - half))
    high = np.where(x >= n, 1.0, np.minimum(1.0, centre + half))
    return _out(p), _out(low), _out(high)


def wilson(successes: float, n: float, confidence: float = 0.95) -> Interval:
    if n <= 0:
        return NONE
    p, low, high = wilson_bounds(successes, n, confidence)
    return Interval(p, low, high, "wilson")


def rate_difference(
    x1: float, n1: float, x2: float, n2: float, confidence: float = 0.95
) -> Interval:
    """p2 − p1 with Newcombe's (1998) hybrid score interval, built from each rate's
    Wilson limits: it stays inside [−1, 1] and keeps its coverage at rates near 0,
    where escalation rates live (a Wald interval collapses there)."""
    if n1 <= 0 or n2 <= 0:
        return NONE
    p1, l1, u1 = (float(v) for v in wilson_bounds(x1, n1, confidence))
    p2, l2, u2 = (float(v) for v in wilson_bounds(x2, n2, confidence))
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return Interval(d, low, high, "newcombe")


def mean_bounds(
    n: Num, total: Num, total_sq: Num, total_cube: Num = None, confidence: float = 0.95
) -> tuple[Num, Num, Num]:
    """Cost per intent: the t interval with Hall's skewness correction (none without Σx³)."""
    n, s1, s2 = _f(n), _f(total), _f(total_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = np.maximum(s2 - n * mean * mean, 0.0) / (n - 1)
        sd = np.sqrt(var)
        if total_cube is None:
            skew = np.zeros_like(mean)
        else:
            m3 = _f(total_cube) / n - 3 * mean * s2 / n + 2 * mean**3
            skew = np.where(var > 0, m3 / var**1.5, 0.0)
    q = _f(t_value(confidence, n - 1))
    low = mean - sd * _f(hall_w(q, skew, n))
    high = mean - sd * _f(hall_w(-q, skew, n))
    return _out(mean), _out(low), _out(high)


def mean_interval(
    n: int, total: float, total_sq: float, confidence: float = 0.95, total_cube: float | None = None
) -> Interval:
    if n <= 0:
        return NONE
    if n < 2:
        return Interval(total / n, None, None, "t")
    mean, low, high = mean_bounds(n, total, total_sq, total_cube, confidence)
    return Interval(mean, low, high, "t" if total_cube is None else "t-skew")


def _fieller_root(mc: Any, ms: Any, vc: Any, vs: Any, cov: Any, w: Any, upper: bool) -> Any:
    """The root of (c̄ − R s̄)² = W²·var(c − R s) on the requested side of c̄/s̄ (nan if unbounded)."""
    w2 = w * w
    a = ms * ms - w2 * vs
    b = mc * ms - w2 * cov
    c = mc * mc - w2 * vc
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.maximum(disc, 0.0))
        r = (b + root) / a if upper else (b - root) / a
    return np.where((a > 0) & (disc >= 0), r, np.nan)


def ratio_bounds(
    sums: Sums, confidence: float = 0.95, *, skew: bool = True
) -> tuple[Num, Num, Num, Num]:
    """Cost per success Σc/Σs: value, low, high and method (index into METHODS).

    Skew-corrected Fieller; where Fieller is unbounded, the skew-corrected delta
    method. Without successes everything is nan and the method "none".
    """
    n, s = _f(sums.n), _f(sums.s)
    mc, ms, vc, vs, cov = (_f(x) for x in sums.moments())
    with np.errstate(divide="ignore", invalid="ignore"):
        r = _f(sums.c) / s
    _, var_d, g = (_f(x) for x in d_moments(sums, r))
    if not skew:
        g = np.zeros_like(g)
    q = _f(t_value(confidence, n - 1))
    w_hi, w_lo = _f(hall_w(q, g, n)), _f(hall_w(-q, g, n))
    low = _fieller_root(mc, ms, vc, vs, cov, w_hi, upper=False)
    high = _fieller_root(mc, ms, vc, vs, cov, w_lo, upper=True)
    fieller = np.isfinite(low) & np.isfinite(high)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_r = np.sqrt(var_d) / ms
    low = np.where(fieller, low, r - w_hi * sd_r)
    high = np.where(fieller, high, r - w_lo * sd_r)
    ok = (s > 0) & (n >= 2)
    method = np.where(ok, np.where(fieller, 1, 2), 0)
    nan = np.nan
    return (
        _out(np.where(s > 0, r, nan)),
        _out(np.where(ok, low, nan)),
        _out(np.where(ok, high, nan)),
        _out(method),
    )


def ratio_interval(sums: Sums, confidence: float = 0.95) -> Interval:
    """Cost per success of one group (see `ratio_bounds`)."""
    if sums.n <= 0 or sums.s <= 0:
        return NONE
    if sums.n < 2:
        return Interval(sums.c / sums.s, None, None, "none")
    r, low, high, method = ratio_bounds(sums, confidence)
    name = METHODS[int(method)] + ("-skew" if sums.has_shape else "")
    return Interval(r, low, high, name)


def ratio_se(sums: Sums) -> float | None:
    """Delta-method standard error of c̄/s̄ (None when s̄ = 0)."""
    if sums.n <= 0 or sums.s <= 0:
        return None
    _, ms, _, _, _ = sums.moments()
    _, var_d, _ = d_moments(sums, sums.c / sums.s)
    return float(math.sqrt(max(var_d, 0.0) / sums.n) / ms)


def scaled(sums: Sums, k: float) -> Sums:
    """The same mix of sessions, k times as many (means, spread and skewness unchanged)."""

    def m(x: Any) -> Any:
        return None if x is None else x * k

    return Sums(
        sums.n * k, sums.c * k, sums.s * k, sums.cc * k, sums.ss * k, sums.cs * k,
        m(sums.ccc), m(sums.ccs), sums.cmax,
    )  # fmt: skip


def sessions_needed(sums: Sums, confidence: float = 0.95, precision: float = 0.10) -> int | None:
    """More labeled sessions (same mix) until both sides of the printed cost-per-success
    interval are within ±precision of the estimate; None when nothing succeeded.

    Found by recomputing the skew-corrected interval at larger n, so the wider
    (expensive) side decides and the skewness term's faster shrinking is kept.
    """
    if sums.n < 2 or sums.s <= 0 or sums.c <= 0:
        return None if sums.n < 2 or sums.s <= 0 else 0

    def within(m: float) -> bool:
        r, low, high, _ = ratio_bounds(scaled(sums, m), confidence)
        return bool(max(r - low, high - r) <= precision * r)

    m = _smallest_scale(within, float(sums.n))
    return None if m is None else max(0, math.ceil(sums.n * m - 1e-9) - int(sums.n))


def _smallest_scale(ok: Callable[[float], bool], n: float) -> float | None:
    """The least m ≥ 1 (to about one session in n) with ok(m), ok monotone; None past 10⁹."""
    lo, hi = 1.0, 1.0
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > 1e9:
            return None
    while hi - lo > max(1e-4, 1 / n):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def separating_scale(cheap: Sums, dear: Sums, n: float, confidence: float = 0.95) -> float | None:
    """By how much both arms must grow (same mix, same split) before the cheaper one's
    cost-per-success interval ends below the dearer one's: 1.0 if it already does,
    None beyond 10⁹. Recomputes the corrected intervals, so skew is accounted for."""

    def apart(m: float) -> bool:
        a, b = (
            ratio_interval(scaled(cheap, m), confidence),
            ratio_interval(scaled(dear, m), confidence),
        )
        return a.high is not None and b.low is not None and a.high < b.low

    return _smallest_scale(apart, n)
