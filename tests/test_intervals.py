"""Intervals: known answers, the Fieller inversion property, coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from power_sums import power_sums

from costper.engine._difference import CHEAPER, DEARER, NO_DIFFERENCE, compare_ratios
from costper.engine._intervals import (
    Sums,
    mean_interval,
    ratio_interval,
    ratio_se,
    sessions_needed,
    t_value,
    wilson,
)


def sums_of(c: np.ndarray, s: np.ndarray) -> Sums:
    return Sums(
        len(c),
        float(c.sum()),
        float(s.sum()),
        float((c * c).sum()),
        float((s * s).sum()),
        float((c * s).sum()),
    )


def test_wilson_known_answers() -> None:
    # Published values: 0/10 -> [0, 0.2775]; 95/100 -> [0.8883, 0.9784].
    iv = wilson(0, 10)
    assert iv.low == 0 and iv.high == pytest.approx(0.2775, abs=1e-4)
    iv = wilson(95, 100)
    assert iv.value == 0.95
    assert iv.low == pytest.approx(0.8883, abs=1e-4) and iv.high == pytest.approx(0.9784, abs=1e-4)


def test_t_interval_by_hand() -> None:
    x = np.array([1.0, 2, 3, 4, 5])
    iv = mean_interval(5, x.sum(), (x * x).sum())
    # sd = sqrt(2.5), se = sqrt(0.5), t(0.975, 4) = 2.776445
    assert iv.value == 3
    assert iv.low == pytest.approx(3 - 2.776445 * math.sqrt(0.5), rel=1e-6)
    assert iv.high == pytest.approx(3 + 2.776445 * math.sqrt(0.5), rel=1e-6)


def test_no_success_means_no_cost_per_success() -> None:
    iv = ratio_interval(Sums(10, 5.0, 0.0, 3.0, 0.0, 0.0))
    assert iv.value is None and iv.low is None


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 400),
    p=st.floats(0.3, 0.95),
    seed=st.integers(0, 2**31),
)
def test_fieller_endpoints_invert_the_t_statistic(n: int, p: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < p).astype(float)
    if s.sum() < 2:
        return
    c = rng.gamma(2.0, 0.5, n) + 15.0 * (1 - s) * (rng.random(n) < 0.5)
    sums = sums_of(c, s)
    iv = ratio_interval(sums)
    if iv.method != "fieller":
        return
    mc, ms, vc, vs, cov = sums.moments()
    t = t_value(0.95, n - 1)
    for r in (iv.low, iv.high):
        assert r is not None
        stat = abs(mc - r * ms) / math.sqrt((vc - 2 * r * cov + r * r * vs) / n)
        assert stat == pytest.approx(t, rel=1e-6)
    assert iv.low < iv.value < iv.high


def simulate(
    rng: np.random.Generator, reps: int, n: int, p: float
) -> tuple[np.ndarray, np.ndarray]:
    s = (rng.random((reps, n)) < p).astype(float)
    escalate = (1 - s) * (rng.random((reps, n)) < 0.6)
    c = rng.gamma(2.0, 0.01, (reps, n)) + 15.0 * escalate
    return c, s


@pytest.mark.parametrize("n,p", [(150, 0.7), (400, 0.9)])
def test_cost_per_success_interval_covers_truth_95_percent(n: int, p: float) -> None:
    rng = np.random.default_rng(7)
    reps = 2000
    true_cps = (0.02 + 15.0 * (1 - p) * 0.6) / p
    c, s = simulate(rng, reps, n, p)
    covered = covered_rate = 0
    for i in range(reps):
        iv = ratio_interval(sums_of(c[i], s[i]))
        covered += iv.low <= true_cps <= iv.high
        w = wilson(s[i].sum(), n)
        covered_rate += w.low <= p <= w.high
    assert 0.93 <= covered / reps <= 0.97
    assert 0.93 <= covered_rate / reps <= 0.97


def test_cost_per_intent_interval_covers_truth() -> None:
    rng = np.random.default_rng(11)
    c, s = simulate(rng, 2000, 200, 0.8)
    truth = 0.02 + 15.0 * 0.2 * 0.6
    hits = sum(
        (lambda iv: iv.low <= truth <= iv.high)(mean_interval(200, c[i].sum(), (c[i] ** 2).sum()))
        for i in range(2000)
    )
    assert 0.93 <= hits / 2000 <= 0.97


def test_sufficient_statistics_match_a_session_level_bootstrap() -> None:
    rng = np.random.default_rng(3)
    c, s = simulate(rng, 1, 3000, 0.75)
    c, s = c[0], s[0]
    iv = ratio_interval(sums_of(c, s))
    idx = rng.integers(0, len(c), (4000, len(c)))
    boot = c[idx].sum(axis=1) / s[idx].sum(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert iv.low == pytest.approx(lo, rel=0.03)
    assert iv.high == pytest.approx(hi, rel=0.03)
    assert ratio_se(sums_of(c, s)) == pytest.approx(boot.std(), rel=0.05)


def test_compare_verdicts() -> None:
    rng = np.random.default_rng(5)
    ca, sa = simulate(rng, 1, 2000, 0.70)
    cb, sb = simulate(rng, 1, 2000, 0.95)
    a, b = sums_of(ca[0], sa[0]), sums_of(cb[0], sb[0])
    d = compare_ratios(b, a)
    assert d.verdict == CHEAPER and d.difference.high < 0 and d.p_value < 1e-6
    assert d.ratio.value == pytest.approx((b.c / b.s) / (a.c / a.s))
    assert compare_ratios(a, b).verdict == DEARER
    c2, s2 = simulate(rng, 1, 2000, 0.70)
    assert compare_ratios(sums_of(c2[0], s2[0]), a).verdict == NO_DIFFERENCE


def test_compare_false_positive_rate_is_about_five_percent() -> None:
    rng = np.random.default_rng(9)
    ca, sa = simulate(rng, 1000, 300, 0.8)
    cb, sb = simulate(rng, 1000, 300, 0.8)
    wrong = sum(
        compare_ratios(sums_of(ca[i], sa[i]), sums_of(cb[i], sb[i])).verdict != NO_DIFFERENCE
        for i in range(1000)
    )
    assert 0.025 <= wrong / 1000 <= 0.08


def test_sessions_needed_reaches_ten_percent() -> None:
    rng = np.random.default_rng(2)
    c, s = simulate(rng, 1, 200, 0.7)
    sums = sums_of(c[0], s[0])
    more = sessions_needed(sums)
    assert more is not None and more > 0
    # Four times the data halves the half-width: check the formula's scaling.
    iv = ratio_interval(sums)
    half = (iv.high - iv.low) / 2 / iv.value
    assert (200 + more) / 200 == pytest.approx((half / 0.10) ** 2, rel=0.15)


# --- Issue #11: skew-corrected intervals, known answers computed independently ---------------

TINY_C = [0.2, 0.3, 0.25, 4.0, 0.5, 0.35, 9.0, 0.4, 0.3, 0.45, 0.6, 0.28]
TINY_S = [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1]
T_975 = 2.200985160082949  # Student t, 0.975 quantile, 11 degrees of freedom (tables)


def tiny_sums() -> Sums:
    c, s = TINY_C, TINY_S
    return Sums(
        len(c), sum(c), sum(s), sum(x * x for x in c), sum(s),
        sum(x * y for x, y in zip(c, s, strict=True)),
        ccc=sum(x**3 for x in c), ccs=sum(x * x * y for x, y in zip(c, s, strict=True)),
        cmax=max(c),
    )  # fmt: skip


def _hall(w: float, g: float, n: int) -> float:
    """Hall's (1992) transform of W = (mean − mu)/sd, written out as in the paper."""
    return w + g * w * w / 3 + g * g * w**3 / 27 + g / (6 * n)


def _bisect(f: object, lo: float, hi: float) -> float:
    fn = f  # type: ignore[assignment]
    flo = fn(lo)  # type: ignore[operator]
    for _ in range(200):
        mid = (lo + hi) / 2
        fm = fn(mid)  # type: ignore[operator]
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


def test_skew_corrected_mean_by_hand() -> None:
    """From the raw data: sample skewness by its definition, and each end found by
    solving √n·Hall(W) = ∓t numerically (no closed-form inverse)."""
    x, n = TINY_C, len(TINY_C)
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    g = (sum((v - mean) ** 3 for v in x) / n) / sd**3
    # Each end: mu with √n·Hall((mean − mu)/sd) = ±t.
    hi = _bisect(lambda mu: math.sqrt(n) * _hall((mean - mu) / sd, g, n) + T_975, mean, mean + 50)
    lo = _bisect(lambda mu: math.sqrt(n) * _hall((mean - mu) / sd, g, n) - T_975, mean - 50, mean)
    s = tiny_sums()
    iv = mean_interval(n, s.c, s.cc, 0.95, s.ccc)
    assert iv.value == pytest.approx(mean)
    assert iv.low == pytest.approx(lo, rel=1e-9) and iv.high == pytest.approx(hi, rel=1e-9)
    # Right-skewed costs: the expensive side is the longer one, unlike the plain t interval.
    plain = mean_interval(n, s.c, s.cc)
    assert iv.high - mean > mean - iv.low  # type: ignore[operator]
    assert iv.high > plain.high  # type: ignore[operator]
    assert plain.high - mean == pytest.approx(mean - plain.low)  # type: ignore[operator]


# 30 sessions, every sixth a failure costing 1.20-1.60; successes 0.22-0.78.
FIELLER_C = [1.2 + 0.1 * (i // 6) if i % 6 == 0 else 0.2 + 0.02 * i for i in range(30)]
FIELLER_S = [0 if i % 6 == 0 else 1 for i in range(30)]
T_975_29 = 2.045229642132703  # Student t, 0.975 quantile, 29 degrees of freedom


def test_skew_corrected_fieller_by_hand() -> None:
    """Cost per success: for each candidate R, D_i = c_i − R·s_i from the raw data; an end
    is where √n·Hall(mean(D)/sd(D)) = ±t, with the skewness of D taken at R̂."""
    c, s, n = FIELLER_C, FIELLER_S, len(FIELLER_C)
    r_hat = sum(c) / sum(s)

    def d_stats(r: float) -> tuple[float, float, float]:
        d = [ci - r * si for ci, si in zip(c, s, strict=True)]
        m = sum(d) / n
        sd = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1))
        return m, sd, (sum((v - m) ** 3 for v in d) / n) / sd**3

    g = d_stats(r_hat)[2]

    def pivot(r: float, target: float) -> float:
        m, sd, _ = d_stats(r)
        return math.sqrt(n) * _hall(m / sd, g, n) - target

    lo = _bisect(lambda r: pivot(r, T_975_29), 1e-9, r_hat)
    hi = _bisect(lambda r: pivot(r, -T_975_29), r_hat, r_hat * 20)
    iv = ratio_interval(power_sums(np.array(c), np.array(s, dtype=float)))
    assert iv.method == "fieller-skew" and iv.value == pytest.approx(r_hat)
    assert iv.low == pytest.approx(lo, rel=1e-7) and iv.high == pytest.approx(hi, rel=1e-7)
    assert (round(lo, 4), round(hi, 4)) == (0.5622, 1.2811)  # and wider above than plain Fieller


def test_vectorised_twin_is_the_scalar_function() -> None:
    """The benchmark's array calls and a report's per-group calls give the same numbers."""
    from costper.engine._intervals import mean_bounds, ratio_bounds, wilson_bounds

    rng = np.random.default_rng(21)
    groups = []
    for _ in range(200):
        n = int(rng.integers(2, 300))
        s = (rng.random(n) < rng.uniform(0.02, 0.99)).astype(float)
        c = rng.lognormal(0, rng.uniform(0.1, 2.5), n) + 15 * (1 - s) * (rng.random() < 0.5)
        groups.append(power_sums(c, s))
    arrays = Sums(*(np.array([getattr(g, f) for g in groups]) for f in FIELDS))
    r, lo, hi, method = ratio_bounds(arrays)
    mv, mlo, mhi = mean_bounds(arrays.n, arrays.c, arrays.cc, arrays.ccc)
    wv, wlo, whi = wilson_bounds(arrays.s, arrays.n)
    for i, g in enumerate(groups):
        iv = ratio_interval(g)
        if iv.value is None:
            assert np.isnan(r[i])
            continue
        same = pytest.approx  # equal up to the last bits of scipy's t quantile on arrays
        assert (iv.value, iv.low, iv.high) == same((r[i], lo[i], hi[i]), rel=1e-12)
        assert iv.method.startswith(("none", "fieller", "delta")[int(method[i])])
        m = mean_interval(int(g.n), g.c, g.cc, 0.95, g.ccc)
        assert (m.value, m.low, m.high) == same((mv[i], mlo[i], mhi[i]), rel=1e-12)
        w = wilson(g.s, g.n)
        assert (w.value, w.low, w.high) == same((wv[i], wlo[i], whi[i]), rel=1e-12)


FIELDS = ("n", "c", "s", "cc", "ss", "cs", "ccc", "ccs", "cmax")


def test_without_third_moments_the_intervals_are_t_and_fieller() -> None:
    s = tiny_sums()
    plain = Sums(s.n, s.c, s.s, s.cc, s.ss, s.cs)
    iv = ratio_interval(plain)
    assert iv.method == "fieller"
    mc, ms, vc, vs, cov = plain.moments()
    for r in (iv.low, iv.high):
        assert r is not None
        stat = abs(mc - r * ms) / math.sqrt((vc - 2 * r * cov + r * r * vs) / s.n)
        assert stat == pytest.approx(T_975, rel=1e-9)
