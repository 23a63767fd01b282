"""Calibration: do costper's 95% intervals cover the truth on real cost shapes?

Simulates many replicates of a group of n sessions per cell of the grid
n × success rate × cost shape, computes each replicate's sufficient
statistics (the same sums the engine aggregates) and feeds the arrays of
them to the very interval functions a report uses (`ratio_bounds`,
`mean_bounds`, `wilson_bounds`, `flags`; vectorised, one element per
replicate). Prints, per cell: coverage of cost per success before (plain
Fieller, the pre-#11 method) and now (skew-corrected), misses with the
whole interval below / above the truth, median width relative to the
truth, the same for cost per intent and the success rate, and the share of
replicates the warnings flag. Then `compare` on identical arms (false
winners, each side) and power at a true 30% difference.

    python bench/calibration.py [--reps 2000] [--quick] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from costper.engine._difference import compare_bounds
from costper.engine._intervals import mean_bounds, ratio_bounds, wilson_bounds
from costper.engine._moments import Sums
from costper.engine._trust import Limits, any_flag

Gen = Callable[[np.random.Generator, np.ndarray, float], tuple[np.ndarray, float]]


def _outliers(rng: np.random.Generator, s: np.ndarray, p: float) -> tuple[np.ndarray, float]:
    base = rng.gamma(2.0, 0.5, s.shape)
    return base * np.where(rng.random(s.shape) < 0.01, 100.0, 1.0), 1.0 * (0.99 + 0.01 * 100)


SHAPES: dict[str, Gen] = {
    "near-constant": lambda rng, s, p: (rng.gamma(400.0, 1 / 400, s.shape), 1.0),
    "lognormal σ=1": lambda rng, s, p: (rng.lognormal(0, 1, s.shape), float(np.exp(0.5))),
    "lognormal σ=2": lambda rng, s, p: (rng.lognormal(0, 2, s.shape), float(np.exp(2.0))),
    "15.00 per failure": lambda rng, s, p: (
        rng.gamma(2.0, 0.01, s.shape) + 15.0 * (1 - s),
        0.02 + 15.0 * (1 - p),
    ),
    "1% outliers ×100": _outliers,
}
NS = (30, 100, 400, 2000)
PS = (0.05, 0.3, 0.7, 0.95)


def draw(rng: np.random.Generator, shape: str, reps: int, n: int, p: float) -> tuple[Sums, float]:
    """Sums of `reps` simulated groups of n sessions, and the true mean cost per session."""
    s = (rng.random((reps, n)) < p).astype(float)
    c, mean = SHAPES[shape](rng, s, p)
    return sums_of(c, s), mean


def sums_of(c: np.ndarray, s: np.ndarray) -> Sums:
    """Row-wise power sums: what `group_sums` computes per group in SQL."""
    c2 = c * c
    n = np.full(c.shape[0], float(c.shape[1]))
    return Sums(
        n, c.sum(1), s.sum(1), c2.sum(1), s.sum(1), (c * s).sum(1),
        (c2 * c).sum(1), (c2 * s).sum(1), c.max(1),
    )  # fmt: skip


def score(low: np.ndarray, high: np.ndarray, truth: float) -> tuple[float, float, float, float]:
    """Coverage, misses below and above (percent of defined intervals), median relative width."""
    ok = np.isfinite(low) & np.isfinite(high)
    lo, hi = low[ok], high[ok]
    if not len(lo):
        return (np.nan,) * 4  # type: ignore[return-value]
    below, above = np.mean(hi < truth) * 100, np.mean(lo > truth) * 100
    return 100 - below - above, below, above, float(np.median((hi - lo) / truth))


def cell(rng: np.random.Generator, shape: str, n: int, p: float, reps: int) -> dict[str, float]:
    sums, mean = draw(rng, shape, reps, n, p)
    cps = mean / p
    out: dict[str, float] = {}
    _, lo, hi, _ = ratio_bounds(sums, skew=False)
    out["cps_before"] = score(lo, hi, cps)[0]
    _, lo, hi, _ = ratio_bounds(sums)
    out["cps"], out["cps_below"], out["cps_above"], out["cps_width"] = score(lo, hi, cps)
    _, lo, hi = mean_bounds(sums.n, sums.c, sums.cc, None)
    out["cpi_before"] = score(lo, hi, mean)[0]
    _, lo, hi = mean_bounds(sums.n, sums.c, sums.cc, sums.ccc)
    out["cpi"], out["cpi_below"], out["cpi_above"], out["cpi_width"] = score(lo, hi, mean)
    _, lo, hi = wilson_bounds(sums.s, sums.n)
    out["sr"], out["sr_below"], out["sr_above"], out["sr_width"] = score(lo, hi, p)
    out["flagged"] = float(np.mean(any_flag(sums, Limits())) * 100)
    return out


def grid(
    reps: int, seed: int, ns: tuple[int, ...] = NS
) -> list[tuple[str, float, int, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    return [(shape, p, n, cell(rng, shape, n, p, reps)) for shape in SHAPES for p in PS for n in ns]


def false_winners(
    rng: np.random.Generator,
    reps: int,
    arms: tuple[tuple[str, int, float, float], ...],
    before: bool = False,
) -> tuple[float, float]:
    """Percent of pairs called 'cheaper' and 'dearer' (variant, baseline) at the 95% level."""
    made = []
    for shape, n, p, scale in arms:
        s = (rng.random((reps, n)) < p).astype(float)
        c, _ = SHAPES[shape](rng, s, p)
        made.append(sums_of(c * scale, s))
    if before:
        return wald_before(made[0], made[1])
    b = compare_bounds(made[0], made[1])
    return float(np.mean(b["ratio_high"] < 1) * 100), float(np.mean(b["ratio_low"] > 1) * 100)


def wald_before(v: Sums, b: Sums) -> tuple[float, float]:
    """The pre-#11 verdict, written out: difference ± 1.96·√(se_v² + se_b²), each arm's
    delta-method variance at its own estimate. Percent called cheaper / dearer."""

    def se2(x: Sums) -> np.ndarray:
        mc, ms, vc, vs, cov = x.moments()
        r = mc / ms
        return (vc - 2 * r * cov + r * r * vs) / (x.n * ms * ms)

    d = v.c / v.s - b.c / b.s
    half = 1.959963984540054 * np.sqrt(se2(v) + se2(b))
    return float(np.mean(d + half < 0) * 100), float(np.mean(d - half > 0) * 100)


COMPARISONS = {
    # name: (variant arm, baseline arm); arm = (shape, n, success rate, cost scale)
    "same arms, 100 vs 1,000 (15.00/failure, 80%)": (
        ("15.00 per failure", 100, 0.8, 1.0), ("15.00 per failure", 1000, 0.8, 1.0)),
    "same arms, 200 vs 2,000 (15.00/failure, 95%)": (
        ("15.00 per failure", 200, 0.95, 1.0), ("15.00 per failure", 2000, 0.95, 1.0)),
    "same arms, 100 vs 1,000 (lognormal σ=1, 70%)": (
        ("lognormal σ=1", 100, 0.7, 1.0), ("lognormal σ=1", 1000, 0.7, 1.0)),
    "same cost per success, other mechanism (failure-driven vs lognormal), 300 each": (
        ("15.00 per failure", 300, 0.8, 1.0),
        ("lognormal σ=1", 300, 0.7, (0.02 + 15 * 0.2) / 0.8 / (np.exp(0.5) / 0.7))),
    "power: variant 30% cheaper (15.00/failure, 80%), 300 each": (
        ("15.00 per failure", 300, 0.8, 0.7), ("15.00 per failure", 300, 0.8, 1.0)),
    "power: variant 30% cheaper (lognormal σ=1, 70%), 1,000 each": (
        ("lognormal σ=1", 1000, 0.7, 0.7), ("lognormal σ=1", 1000, 0.7, 1.0)),
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="400 replicates (a smoke run)")
    args = ap.parse_args()
    reps = 400 if args.quick else args.reps
    t0 = time.perf_counter()
    print(f"Coverage of 95% intervals, {reps:,} replicates per cell (percent; below/above = "
          "misses with the whole interval under/over the truth; width = median (high-low)/truth)\n")  # fmt: skip
    print("| cost shape | success | n | CPS before | CPS now | below/above | width "
          "| CPI before | CPI now | below/above | success rate | flagged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for shape, p, n, r in grid(reps, args.seed):
        print(
            f"| {shape} | {p:.0%} | {n:,} | {r['cps_before']:.1f} | **{r['cps']:.1f}** "
            f"| {r['cps_below']:.1f}/{r['cps_above']:.1f} | {r['cps_width']:.2f} "
            f"| {r['cpi_before']:.1f} | **{r['cpi']:.1f}** | {r['cpi_below']:.1f}/{r['cpi_above']:.1f} "
            f"| {r['sr']:.1f} | {r['flagged']:.0f}% |"
        )
    print(f"\ncompare, {reps:,} pairs each: percent called cheaper / dearer at 95% "
          "(before: own-estimate delta method; now: score test)\n")  # fmt: skip
    for name, arms in COMPARISONS.items():
        was = false_winners(np.random.default_rng(args.seed + 1), reps, arms, before=True)
        now = false_winners(np.random.default_rng(args.seed + 1), reps, arms)
        print(f"- {name}: before {was[0]:.1f}% / {was[1]:.1f}%, now {now[0]:.1f}% / {now[1]:.1f}%")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
