"""Intervals: known answers, the Fieller inversion property, coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
