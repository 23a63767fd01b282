"""When an interval cannot be trusted, and when a group is enough to decide on.

An interval from a sample is only as good as the sample's view of the cost
distribution. Three things break it, each visible in the sufficient
statistics (so any engine computes them, vectorised in the benchmark):

- too few sessions, successes or failures: cost per success moves with
  every single success or failure, and a failure-driven cost (an escalation
  on each failure) is a handful of sessions carrying nearly all of it;
- a heavy tail: the largest session carries more than TAIL_SHARE/√n of the
  group's cost. With a light tail the largest of n sessions holds about
  (log n)/n of it; at 2/√n a few sessions decide the mean, the sample
  variance and skewness are themselves unreliable, and calibration
  (bench/calibration.py) shows coverage falling below 93% where this fires;
- Fieller unbounded (the success rate not clearly above 0): the delta
  fallback is only approximate.

`sample_ok` is "no warning": enough to decide, not only n ≥ min_sessions.
A tail that no session in the sample has reached yet (1 session in 100
costing 100×) cannot be seen in any statistic of that sample; that limit
is stated in the README, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from costper.engine._moments import Num, Sums, _f, top_share

TAIL_SHARE = 2.0


@dataclass(frozen=True)
class Limits:
    min_sessions: int = 100
    min_successes: int = 5
    min_failures: int = 5


def flags(sums: Sums, limits: Limits) -> dict[str, Num]:
    """Each warning as a boolean (array) over the groups in `sums`."""
    n, s = _f(sums.n), _f(sums.s)
    share = _f(top_share(sums))
    return {
        "few_sessions": n < limits.min_sessions,
        "few_successes": s < limits.min_successes,
        "few_failures": (n - s) < limits.min_failures,
        "heavy_tail": share * np.sqrt(np.maximum(n, 1)) > TAIL_SHARE,
    }


def any_flag(sums: Sums, limits: Limits) -> Any:
    f = flags(sums, limits)
    return f["few_sessions"] | f["few_successes"] | f["few_failures"] | f["heavy_tail"]


def warnings(sums: Sums, limits: Limits, method: str = "") -> list[dict[str, str]]:
    """The group's warnings as {code, message}, for JSON, the CLI and pages."""
    f = {k: bool(v) for k, v in flags(sums, limits).items()}
    n, s = int(sums.n), int(sums.s)
    out = []
    if f["few_sessions"]:
        out.append(("few_sessions", f"{n:,} labeled sessions (fewer than {limits.min_sessions:,})"))
    if f["few_successes"]:
        out.append(("few_successes", f"{s:,} successes (fewer than {limits.min_successes:,})"))
    if f["few_failures"]:
        out.append(("few_failures", f"{n - s:,} failures (fewer than {limits.min_failures:,})"))
    if f["heavy_tail"]:
        share = float(top_share(sums))
        out.append(
            (
                "heavy_tail",
                f"the largest session carries {share:.0%} of the cost (heavy tail: more than "
                f"{TAIL_SHARE / max(n, 1) ** 0.5:.0%} at this size); the interval may be too narrow",
            )
        )
    if method.startswith("delta"):
        out.append(("unbounded", "success rate not clearly above 0: delta-method fallback"))
    return [{"code": c, "message": m} for c, m in out]
