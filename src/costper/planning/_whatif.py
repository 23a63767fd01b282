"""What cost per success would be with another model, from the user's own data.

Two kinds of answer, never mixed up:

- observed: the model already served this feature, so its own sessions give
  its success and escalation rates, its token volumes and its cost per
  success, each with an interval;
- repriced: it has not, so the incumbent's sessions are priced as if the
  other model had served them (same tokens, same outcomes; config [prices]
  first, else genai-prices now). That answers "what would the same traffic
  cost", not "would it succeed as often", and says so.

Recommendations use observed data only: per feature, the model with the
lowest cost per success, named only when its interval does not overlap the
one it is compared with (the incumbent, or the runner-up when the incumbent
is already cheapest) is cheaper by the same score test `costper compare`
uses (its ratio interval excludes 1) and both are `sample_ok` (enough
sessions, successes and failures, no heavy tail); otherwise "not enough
evidence" with the labeled sessions still needed at the current split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from costper.config import Config
from costper.engine._difference import CHEAPER, Difference, compare_ratios
from costper.engine._intervals import (
    Interval,
    Sums,
    mean_interval,
    ratio_interval,
    separating_scale,
    wilson,
)
from costper.engine._report import Group, report
from costper.engine._sessions import session_table
from costper.errors import InputError
from costper.pricing._currency import ESTIMATES, Rates
from costper.pricing._lookup import unit_prices
from costper.store._dialect import as_int, real
from costper.store._source import Source, to_arrow

SWITCH, KEEP, UNSURE, ALONE = "switch", "keep", "not enough evidence", "only one model"
_KEYS = ["feature", "provider", "model"]


def model_ref(g: Group) -> str:
    provider, model = g.key.get("provider"), g.key.get("model")
    return f"{provider}/{model}" if provider else str(model)


@dataclass(frozen=True)
class Estimate:
    model: str
    basis: str
    sessions: int
    success_rate: Interval
    escalation_rate: Interval
    cost_per_intent: Interval
    cost_per_success: Interval
    vs_incumbent: Difference | None
    change_pct: float | None
    price_source: str | None
    sums: Sums

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "basis": self.basis,
            "labeled_sessions": self.sessions,
            "success_rate": self.success_rate.to_dict(),
            "escalation_rate": self.escalation_rate.to_dict(),
            "cost_per_intent": self.cost_per_intent.to_dict(),
            "cost_per_success": self.cost_per_success.to_dict(),
            "vs_incumbent": None if self.vs_incumbent is None else self.vs_incumbent.to_dict(),
            "change_pct": self.change_pct,
            "price_source": self.price_source,
        }


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


@dataclass(frozen=True)
class WhatIf:
    feature: str
    incumbent: str
    confidence: float
    estimates: list[Estimate]
    recommendation: Recommendation

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "incumbent": self.incumbent,
            "confidence": self.confidence,
            "models": [e.to_dict() for e in self.estimates],
            "recommendation": self.recommendation.to_dict(),
        }


def incumbent_of(groups: list[Group]) -> Group:
    """The model serving most of the feature's labeled sessions (its production model)."""
    return max(groups, key=lambda g: (g.labeled_sessions, g.sessions, model_ref(g)))


def _pct(new: float | None, base: float | None) -> float | None:
    if new is None or not base:
        return None
    return round((new - base) / base * 100, 1)


def observed(g: Group, incumbent: Group, confidence: float) -> Estimate:
    diff = (
        None
        if g is incumbent
        else compare_ratios(
            g.sums, incumbent.sums, confidence, decidable=g.sample_ok and incumbent.sample_ok
        )
    )
    return Estimate(
        model=model_ref(g),
        basis="observed",
        sessions=g.labeled_sessions,
        success_rate=g.success_rate,
        escalation_rate=g.escalation_rate,
        cost_per_intent=g.cost_per_intent,
        cost_per_success=g.cost_per_success,
        vs_incumbent=diff,
        change_pct=_pct(g.cost_per_success.value, incumbent.cost_per_success.value),
        price_source=None,
        sums=g.sums,
    )


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
    saving = _pct(b.value, o.value)
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
    rep = report(source, _KEYS, since=since, until=until, config=config, now=now)
    by_feature: dict[str, list[Group]] = {}
    for g in rep.groups:
        if g.labeled_sessions:
            by_feature.setdefault(str(g.key["feature"]), []).append(g)
    return [recommend_feature(f, gs, config) for f, gs in sorted(by_feature.items())]


def repriced(
    source: Source,
    feature: str,
    incumbent: Group,
    ref: str,
    *,
    config: Config,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> Estimate:
    """The incumbent's labeled sessions with their LLM cost replaced by `ref`'s price of
    the same tokens (base rates; cache reads at the cache rate where the model has one)."""
    rates = unit_prices(ref, config.prices, now)
    r_in, r_out = rates.input.base, rates.output.base
    r_cr = rates.cache_read.base if rates.cache_read is not None else r_in
    s = session_table(
        source, config, now=now, since=since, until=until, feature=feature, keys=_KEYS
    )
    prov, model = incumbent.key.get("provider"), incumbent.key.get("model")
    s = s.filter(
        (s.provider.fill_null("") == (prov or ""))
        & (s.model.fill_null("") == (model or ""))
        & (s.status != "pending")
    )
    # Token sums come back as DECIMAL(38,0); a float rate literal against them
    # would be typed DECIMAL too and rounded, so the arithmetic is done in float64.
    tin, tcr = s.input_tokens.cast("float64"), s.cache_read_tokens.cast("float64")
    tout = s.output_tokens.cast("float64")
    fx = Rates.of(config).factor(ESTIMATES, config.currency)  # catalog prices are USD
    fresh = ((tin - tcr).clip(lower=0) * r_in + tcr * r_cr + tout * r_out) * fx
    c = s.total - s.llm + fresh
    ok = (s.status == "success").ifelse(real(1), real(0))  # PostgreSQL casts no boolean to float
    agg = s.aggregate(
        n=s.count(),
        c=c.sum(),
        s=ok.sum(),
        cc=(c * c).sum(),
        cs=(c * ok).sum(),
        ccc=(c * c * c).sum(),
        ccs=(c * c * ok).sum(),
        cmax=c.max(),
        esc=as_int(s.escalated).sum(),
    )
    row = to_arrow(source, agg).to_pylist()[0]
    n = int(row["n"] or 0)
    sums = Sums(
        n=n,
        c=float(row["c"] or 0),
        s=float(row["s"] or 0),
        cc=float(row["cc"] or 0),
        ss=float(row["s"] or 0),
        cs=float(row["cs"] or 0),
        **{k: float(row[k] or 0) for k in ("ccc", "ccs", "cmax")},
    )
    cps = ratio_interval(sums, config.confidence)
    return Estimate(
        model=ref,
        basis="repriced",
        sessions=n,
        success_rate=wilson(sums.s, n, config.confidence),
        escalation_rate=wilson(float(row["esc"] or 0), n, config.confidence),
        cost_per_intent=mean_interval(n, sums.c, sums.cc, config.confidence, sums.ccc),
        cost_per_success=cps,
        vs_incumbent=None,
        change_pct=_pct(cps.value, incumbent.cost_per_success.value),
        price_source=rates.source,
        sums=sums,
    )


def what_if(
    source: Source,
    feature: str,
    models: list[str] | tuple[str, ...] = (),
    *,
    baseline: str | None = None,
    config: Config | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> WhatIf:
    """Every model observed on `feature`, plus `models` (repriced where not observed)."""
    config = config or Config()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    rep = report(source, _KEYS, since=since, until=until, feature=feature, config=config, now=now)
    groups = [g for g in rep.groups if g.labeled_sessions]
    if not groups:
        known = sorted(
            {
                str(g.key["feature"])
                for g in report(source, ["feature"], config=config, now=now).groups
            }
        )
        raise InputError(
            f"feature: no labeled sessions for {feature!r} (features: "
            f"{', '.join(known) or 'none'})",
            field="feature",
            value=feature,
        )
    by_ref = {model_ref(g): g for g in groups}
    by_ref.update({str(g.key["model"]): g for g in groups if str(g.key["model"]) not in by_ref})
    if baseline is not None and baseline not in by_ref:
        raise InputError(
            f"baseline: {baseline!r} has not served {feature!r} (models: "
            f"{', '.join(model_ref(g) for g in groups)})",
            field="baseline",
            value=baseline,
        )
    incumbent = by_ref[baseline] if baseline else incumbent_of(groups)
    estimates = [observed(g, incumbent, config.confidence) for g in groups]
    for ref in models:
        if ref not in by_ref:
            estimates.append(
                repriced(
                    source,
                    feature,
                    incumbent,
                    ref,
                    config=config,
                    now=now,
                    since=since,
                    until=until,
                )
            )
    rec = recommend_feature(feature, groups, config, incumbent=incumbent)
    return WhatIf(feature, model_ref(incumbent), config.confidence, estimates, rec)
