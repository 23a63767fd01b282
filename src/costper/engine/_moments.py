"""Sufficient statistics of per-session cost and success, and what they tell.

A group is summarised by power sums of its session costs c and outcomes s
(0 or 1): n, Σc, Σs, Σc², Σs², Σcs, plus Σc³, Σc²s and max c.
Every one is a plain aggregate an SQL engine computes in one pass, and every
one but max adds across groups (max takes the max), so a coarser report is
the sum of finer ones. Because s is 0 or 1, any mixed moment of c and s
reduces to these (Σc s² = Σcs, Σs³ = Σs), which is what lets the intervals
correct for the skewness of the linearised ratio D = c − R·s.

Every function here works on numbers or on numpy arrays of them alike (one
array element per group or per simulated replicate), so the calibration
benchmark runs the very code a report runs, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Num = Any  # a float, or a numpy array of them (one element per group)


@dataclass(frozen=True)
class Sums:
    """Power sums of session cost c and success s (0/1); None where not collected."""

    n: Num
    c: Num
    s: Num
    cc: Num
    ss: Num
    cs: Num
    ccc: Num = None  # Σc³
    ccs: Num = None  # Σc²s
    cmax: Num = None  # max c

    def moments(self) -> tuple[Num, Num, Num, Num, Num]:
        """Means and (n-1) sample (co)variances: c̄, s̄, var c, var s, cov."""
        n = _f(self.n)
        with np.errstate(divide="ignore", invalid="ignore"):
            mc, ms = _f(self.c) / n, _f(self.s) / n
            d = np.where(n > 1, n - 1, np.nan)
            vc = np.maximum(_f(self.cc) - n * mc * mc, 0.0) / d
            vs = np.maximum(_f(self.ss) - n * ms * ms, 0.0) / d
            cov = (_f(self.cs) - n * mc * ms) / d
        vc, vs, cov = (np.where(n > 1, x, 0.0) for x in (vc, vs, cov))
        return _out(mc), _out(ms), _out(vc), _out(vs), _out(cov)

    @property
    def has_shape(self) -> bool:
        """True when the third power sums were collected."""
        return self.ccc is not None and self.ccs is not None


def _f(x: Num) -> Any:
    return np.asarray(0.0 if x is None else x, dtype=float)


def _out(x: Any) -> Num:
    return float(x) if np.ndim(x) == 0 else x


def d_moments(sums: Sums, r: Num) -> tuple[Num, Num, Num]:
    """Mean, (n-1) variance and skewness of D_i = c_i − r·s_i, from the sums.

    The skewness is m3 / sd³ with m3 the 1/n central third moment; 0 when the
    third power sums were not collected or the variance is 0.
    """
    n, c, s, cc, cs = (_f(x) for x in (sums.n, sums.c, sums.s, sums.cc, sums.cs))
    r = _f(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd1 = c - r * s
        sd2 = cc - 2 * r * cs + r * r * s
        mean = sd1 / n
        var = np.maximum(sd2 - n * mean * mean, 0.0) / np.where(n > 1, n - 1, np.nan)
        if sums.has_shape:
            sd3 = _f(sums.ccc) - 3 * r * _f(sums.ccs) + 3 * r * r * cs - r**3 * s
            m3 = sd3 / n - 3 * mean * sd2 / n + 2 * mean**3
            skew = m3 / var**1.5
        else:
            skew = np.zeros_like(mean)
    skew = np.where(np.isfinite(skew), skew, 0.0)
    return _out(mean), _out(np.where(n > 1, var, 0.0)), _out(skew)


def top_share(sums: Sums) -> Num:
    """The largest session's share of the group's cost (0 when unknown or no cost)."""
    if sums.cmax is None:
        return _out(np.zeros_like(_f(sums.n)))
    c = _f(sums.c)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = _f(sums.cmax) / c
    return _out(np.where((c > 0) & np.isfinite(share), share, 0.0))
