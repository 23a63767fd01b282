"""What cost per success would be with another model, from the user's own data.

Two kinds of answer, never mixed up:

- observed: the model already served this feature, so its own sessions give
  its success and escalation rates, its token volumes and its cost per
  success, each with an interval;
- repriced: it has not, so the incumbent's sessions are priced as if the
  other model had served them (same tokens, same outcomes; config [prices]
  first, else genai-prices now). That answers "what would the same traffic
  cost", not "would it succeed as often", and says so.

The recommendation beside them uses observed data only (`_recommendation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from costper.config import Config
from costper.engine._difference import Difference, compare_ratios
from costper.engine._intervals import Interval, Sums, mean_interval, ratio_interval, wilson
from costper.engine._report import report
from costper.engine._report_model import Group
from costper.engine._sessions import session_table
from costper.errors import InputError
from costper.planning._recommendation import (
    MODEL_KEYS,
    Recommendation,
    incumbent_of,
    model_ref,
    percent_change,
    recommend_feature,
)
from costper.pricing._currency import ESTIMATES, Rates
from costper.pricing._lookup import unit_prices
from costper.store._dialect import as_int, real
from costper.store._source import Source, to_arrow


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
        change_pct=percent_change(g.cost_per_success.value, incumbent.cost_per_success.value),
        price_source=None,
        sums=g.sums,
    )


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
        source, config, now=now, since=since, until=until, feature=feature, keys=MODEL_KEYS
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
        change_pct=percent_change(cps.value, incumbent.cost_per_success.value),
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
    rep = report(
        source, MODEL_KEYS, since=since, until=until, feature=feature, config=config, now=now
    )
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
