"""Which model to use per feature, from observed data only.

Per feature, the model with the lowest cost per success is named only when it
is cheaper than the one it is compared with (the incumbent, or the runner-up
when the incumbent is already cheapest) by the same score test `costper
compare` uses (its ratio interval excludes 1) and both are `sample_ok` (enough
sessions, successes and failures, no heavy tail); otherwise "not enough
evidence" with the labeled sessions still needed at the current split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from costper.config import Config
from costper.engine._difference import CHEAPER, compare_ratios
from costper.engine._intervals import Interval, separating_scale
from costper.engine._report import report
from costper.engine._report_model import Group
from costper.store._source import Source

SWITCH, KEEP, UNSURE, ALONE = "switch", "keep", "not enough evidence", "only one model"
MODEL_KEYS = ["feature", "provider", "model"]


def model_ref(g: Group) -> str:
    provider, model = g.key.get("provider"), g.key.get("model")
    return f"{provider}/{model}" if provider else str(model)


@dataclass(frozen=True)
class Recommendation:
    feature: str
    incumbent: str
    best: str
    compared_with: str | None
    best_cps: Interval
    other_cps: Interval | None
    verdict: str
    recommended: str | None
    saving_pct: float | None
    sessions_needed: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["best_cps"] = self.best_cps.to_dict()
        d["other_cps"] = None if self.other_cps is None else self.other_cps.to_dict()
        return d


def incumbent_of(groups: list[Group]) -> Group:
    """The model serving most of the feature's labeled sessions (its production model)."""
    return max(groups, key=lambda g: (g.labeled_sessions, g.sessions, model_ref(g)))


def percent_change(new: float | None, base: float | None) -> float | None:
    if new is None or not base:
        return None
    return round((new - base) / base * 100, 1)


def sessions_to_separate(
    best: Group, other: Group, min_sessions: int, confidence: float = 0.95
) -> int | None:
    """More labeled sessions (both arms together, at their current split) until the two
    cost-per-success intervals stop overlapping, and each arm has `min_sessions`.

    Found by recomputing both (skew-corrected) intervals for the same mix at a larger
    size, not by a 1/√n rule: the skewness term shrinks faster than that and a thin
    arm's interval is far from its large-sample shape. None when the cheaper one is
    not cheaper, or a heavy tail makes the sample's spread an understatement.
    """
    b, o = best.cost_per_success, other.cost_per_success
    if None in (b.value, b.high, o.value, o.low):
        return None
    if _heavy(best) or _heavy(other):
        return None  # the sample's spread understates a heavy tail: a number would be short
    if o.value - b.value <= 0:  # type: ignore[operator]
        return None
    n = best.labeled_sessions + other.labeled_sessions
    hi = separating_scale(best.sums, other.sums, n, confidence)
    if hi is None:
        return None
    grow = 0 if hi == 1.0 else math.ceil(n * hi) - n
    short = max(0, min_sessions - best.labeled_sessions) + max(
        0, min_sessions - other.labeled_sessions
    )
    return max(grow, short, 0)


def _heavy(g: Group) -> bool:
    return any(w["code"] == "heavy_tail" for w in g.warnings)


def _why_not(g: Group, config: Config) -> str:
    """Why a group is not enough to decide on, in the words of its warnings."""
    if g.labeled_sessions < config.min_sessions:
        return f"fewer than {config.min_sessions} labeled sessions for {model_ref(g)}"
    return f"{model_ref(g)}: " + "; ".join(w["message"] for w in g.warnings)


def recommend_feature(
    feature: str, groups: list[Group], config: Config, *, incumbent: Group | None = None
) -> Recommendation:
    inc = incumbent or incumbent_of(groups)

    def rec(
        best: Group, other: Group | None, verdict: str, reason: str, **more: Any
    ) -> Recommendation:
        return Recommendation(
            feature=feature,
            incumbent=model_ref(inc),
            best=model_ref(best),
            compared_with=None if other is None else model_ref(other),
            best_cps=best.cost_per_success,
            other_cps=None if other is None else other.cost_per_success,
            verdict=verdict,
            recommended=more.get("recommended"),
            saving_pct=more.get("saving"),
            sessions_needed=more.get("needed"),
            reason=reason,
        )

    priced = [g for g in groups if g.cost_per_success.value is not None]
    if not priced:
        return rec(inc, None, UNSURE, "no successes recorded yet")
    ranked = sorted(priced, key=lambda g: g.cost_per_success.value)  # type: ignore[arg-type,return-value]
    best = ranked[0]
    if len(ranked) == 1:
        return rec(best, None, ALONE, "no other model has served this feature")
    other = inc if best is not inc else ranked[1]
    b, o = best.cost_per_success, other.cost_per_success
    saving = percent_change(b.value, o.value)
    d = compare_ratios(
        best.sums, other.sums, config.confidence, decidable=best.sample_ok and other.sample_ok
    )
    if d.verdict == CHEAPER:
        r = d.ratio
        reason = (
            f"{model_ref(best)} costs {-(saving or 0):.0f}% less per success than "
            f"{model_ref(other)} (ratio {r.value:.2f}, {config.confidence:.0%} interval "
            f"{r.low:.2f}–{r.high:.2f})"
        )
        verdict = SWITCH if best is not inc else KEEP
        return rec(
            best, other, verdict, reason, recommended=model_ref(best), saving=saving, needed=0
        )
    small = [g for g in (best, other) if not g.sample_ok]
    if small:
        reason = "; ".join(_why_not(g, config) for g in small)
    else:
        reason = (
            f"the {config.confidence:.0%} interval of the ratio of {model_ref(best)} to "
            f"{model_ref(other)} includes 1"
        )
    needed = sessions_to_separate(best, other, config.min_sessions, config.confidence)
    if needed is None and (_heavy(best) or _heavy(other)):
        reason += "; cannot estimate the sessions needed (heavy tail)"
    return rec(best, other, UNSURE, reason, saving=saving, needed=needed)


def recommend(
    source: Source,
    *,
    config: Config | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> list[Recommendation]:
    """One recommendation per feature, from observed data only."""
    config = config or Config()
    rep = report(source, MODEL_KEYS, since=since, until=until, config=config, now=now)
    by_feature: dict[str, list[Group]] = {}
    for g in rep.groups:
        if g.labeled_sessions:
            by_feature.setdefault(str(g.key["feature"]), []).append(g)
    return [recommend_feature(f, gs, config) for f, gs in sorted(by_feature.items())]
