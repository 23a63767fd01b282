"""Variants against a baseline: is B really cheaper per success than A?

Groups are compared on cost per success with a score test (`_difference`);
a verdict is given only when the printed ratio interval excludes 1 and both
arms are `sample_ok` (enough sessions, successes and failures; no heavy
tail). Features are not pooled: a model that serves only a cheap feature
would look cheaper than one serving an expensive one, so without `feature`
the comparison is refused when the arms span several features, unless
`pool_features` says that is what is meant. Each row also says how many more
sessions the variant needs for its own interval to be within ±10%, because
"not significant" is only useful with "and here is what it would take".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from costper.config import Config
from costper.engine._difference import Difference, compare_ratios
from costper.engine._report import report
from costper.engine._report_model import Group
from costper.engine._rollup import coarsen
from costper.engine._vocabulary import check_keys
from costper.errors import InputError
from costper.pricing._aliases import split_ref
from costper.store._source import Source


@dataclass(frozen=True)
class Variant:
    group: Group
    vs_baseline: Difference


@dataclass(frozen=True)
class Comparison:
    by: str
    baseline: Group
    variants: list[Variant]
    confidence: float
    feature: str | None
    currency: str = "USD"

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "feature": self.feature,
            "confidence": self.confidence,
            "currency": self.currency,
            "baseline": self.baseline.to_dict(),
            "variants": [
                {**v.group.to_dict(), "vs_baseline": v.vs_baseline.to_dict()} for v in self.variants
            ],
        }


def compare(
    source: Source | str | Path,
    by: str,
    baseline: str,
    *,
    feature: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    config: Config | None = None,
    now: datetime | None = None,
    pool_features: bool = False,
) -> Comparison:
    config = config or Config()
    (key,) = check_keys([by])
    keys = [key] if feature or key == "feature" else [key, "feature"]
    rep = report(source, keys, since=since, until=until, feature=feature, config=config, now=now)
    groups = rep.groups if len(keys) == 1 else coarsen(rep.groups, [key], config)
    by_value = {str(g.key[key]): g for g in groups}
    baseline = _as_stored(baseline, key, by_value)
    if baseline not in by_value:
        known = ", ".join(sorted(by_value)) or "none"
        scope = f" in feature {feature!r}" if feature else ""
        raise InputError(
            f"baseline {baseline!r} has no sessions{scope} (values of {key}: {known})",
            field="baseline",
            value=baseline,
        )
    features = sorted({str(g.key["feature"]) for g in rep.groups if len(keys) > 1})
    if len(features) > 1 and not pool_features:
        raise InputError(
            f"the {key} values span {len(features)} features ({', '.join(features[:6])}"
            f"{', …' if len(features) > 6 else ''}); compare within one with --feature, "
            "or pass --pool-features to pool them knowingly",
            field="feature",
            value=None,
        )
    base = by_value[baseline]
    variants = [
        Variant(
            g,
            compare_ratios(
                g.sums, base.sums, config.confidence, decidable=g.sample_ok and base.sample_ok
            ),
        )
        for name, g in by_value.items()
        if name != baseline
    ]
    return Comparison(key, base, variants, config.confidence, feature, config.currency)


def _as_stored(value: str, key: str, stored: Mapping[str, object]) -> str:
    """`openai/gpt-4o-mini` (as whatif and the config write models) or another case
    names the stored `gpt-4o-mini`: one model, however a user spells it."""
    if value in stored or key != "model":
        return value
    wanted = {value.lower(), split_ref(value)[1].lower()}
    matches = [s for s in stored if s.lower() in wanted]
    return matches[0] if len(matches) == 1 else value
