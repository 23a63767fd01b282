"""Confidence intervals from sufficient statistics.

Every interval here is computed from a handful of sums (n, Σc, Σs, Σc², Σs²,
Σcs) that any SQL engine produces in one pass, so an interval costs the same
on ten sessions or ten billion, on any backend. Cost per success is a ratio of
two means (cost per session over success per session); Fieller's theorem gives
an exact-in-the-limit interval that is honestly asymmetric and, when the
denominator is not clearly above zero, unbounded. Then we fall back to the
delta method rather than print infinity, and say which was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None
    method: str = ""

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


NONE = Interval(None, None, None, "none")


@dataclass(frozen=True)
class Sums:
    """Sufficient statistics of per-session cost c and success s."""

    n: int
    c: float
    s: float
    cc: float
    ss: float
    cs: float

    def moments(self) -> tuple[float, float, float, float, float]:
        """Means and (n-1) sample (co)variances: c̄, s̄, var c, var s, cov."""
        n = self.n
        mc, ms = self.c / n, self.s / n
        if n < 2:
            return mc, ms, 0.0, 0.0, 0.0
        vc = max(self.cc - n * mc * mc, 0.0) / (n - 1)
        vs = max(self.ss - n * ms * ms, 0.0) / (n - 1)
        cov = (self.cs - n * mc * ms) / (n - 1)
        return mc, ms, vc, vs, cov


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_value(confidence: float, df: int) -> float:
    if df < 1:
        return math.inf
    if df > 100_000:
        return z_value(confidence)
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, df))


def wilson(successes: float, n: float, confidence: float = 0.95) -> Interval:
    """Wilson score interval: stays inside [0, 1] and behaves at 0% and 100%."""
    if n <= 0:
        return NONE
    p = successes / n
    z = z_value(confidence)
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(p, low, high, "wilson")


def mean_interval(n: int, total: float, total_sq: float, confidence: float = 0.95) -> Interval:
    """Student t interval for a mean (cost per intent) from n, Σx, Σx²."""
    if n <= 0:
        return NONE
    mean = total / n
    if n < 2:
        return Interval(mean, None, None, "t")
    var = max(total_sq - n * mean * mean, 0.0) / (n - 1)
    half = t_value(confidence, n - 1) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half, "t")


def ratio_se(sums: Sums) -> float | None:
    """Delta-method standard error of c̄/s̄ (None when s̄ = 0)."""
    if sums.n <= 0:
        return None
    mc, ms, vc, vs, cov = sums.moments()
    if ms <= 0:
        return None
    r = mc / ms
    var = (vc - 2 * r * cov + r * r * vs) / (sums.n * ms * ms)
    return math.sqrt(max(var, 0.0))


def ratio_interval(sums: Sums, confidence: float = 0.95) -> Interval:
    """Cost per success Σc/Σs: Fieller, or the delta method where Fieller is unbounded."""
    if sums.n <= 0 or sums.s <= 0:
        return NONE
    mc, ms, vc, vs, cov = sums.moments()
    r = mc / ms
    if sums.n < 2:
        return Interval(r, None, None, "none")
    t = t_value(confidence, sums.n - 1)
    t2 = t * t
    v11, v22, v12 = vc / sums.n, vs / sums.n, cov / sums.n
    a = ms * ms - t2 * v22
    b = mc * ms - t2 * v12
    c = mc * mc - t2 * v11
    disc = b * b - a * c
    if a > 0 and disc >= 0:
        root = math.sqrt(disc)
        return Interval(r, (b - root) / a, (b + root) / a, "fieller")
    se = ratio_se(sums) or 0.0
    return Interval(r, r - t * se, r + t * se, "delta")


def sessions_needed(sums: Sums, confidence: float = 0.95, precision: float = 0.10) -> int | None:
    """More labeled sessions needed for the cost-per-success interval to be within ±precision.

    The half-width shrinks as 1/√n, so from the current standard error we can
    say how many sessions the same mix would need. None when nothing succeeded.
    """
    se = ratio_se(sums)
    if se is None or sums.n < 2:
        return None
    r = sums.c / sums.s
    if r <= 0:
        return 0
    z = z_value(confidence)
    required = sums.n * (z * se / (precision * r)) ** 2
    return max(0, math.ceil(required) - sums.n)


@dataclass(frozen=True)
class Difference:
    """Cost per success of a variant against a baseline (independent groups)."""

    difference: Interval
    ratio: Interval
    p_value: float | None
    verdict: str

    def to_dict(self) -> dict[str, object]:
        return {
            "difference": self.difference.to_dict(),
            "ratio": self.ratio.to_dict(),
            "p_value": self.p_value,
            "verdict": self.verdict,
        }


CHEAPER, DEARER, NO_DIFFERENCE, UNKNOWN = (
    "cheaper",
    "dearer",
    "no significant difference",
    "not enough data",
)


def compare_ratios(variant: Sums, baseline: Sums, confidence: float = 0.95) -> Difference:
    """CPS(variant) − CPS(baseline) and CPS(variant)/CPS(baseline), delta method.

    A verdict other than 'no significant difference' only when the interval of
    the difference excludes zero, so a winner is never declared on noise.
    """
    se_v, se_b = ratio_se(variant), ratio_se(baseline)
    if se_v is None or se_b is None or variant.n < 2 or baseline.n < 2:
        return Difference(NONE, NONE, None, UNKNOWN)
    rv, rb = variant.c / variant.s, baseline.c / baseline.s
    z = z_value(confidence)
    d = rv - rb
    se_d = math.hypot(se_v, se_b)
    diff = Interval(d, d - z * se_d, d + z * se_d, "delta")
    if se_d > 0:
        p = 2 * (1 - NormalDist().cdf(abs(d) / se_d))
    else:
        p = 0.0 if d != 0 else 1.0
    if rv > 0 and rb > 0:
        lr = math.log(rv / rb)
        se_lr = math.hypot(se_v / rv, se_b / rb)
        ratio = Interval(rv / rb, math.exp(lr - z * se_lr), math.exp(lr + z * se_lr), "delta-log")
    else:
        ratio = NONE
    if diff.high is not None and diff.high < 0:
        verdict = CHEAPER
    elif diff.low is not None and diff.low > 0:
        verdict = DEARER
    else:
        verdict = NO_DIFFERENCE
    return Difference(diff, ratio, p, verdict)
