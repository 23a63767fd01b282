"""Variants against a baseline: is B really cheaper per success than A?

Groups are compared on cost per success with the delta method on independent
groups; a verdict is given only when the interval of the difference excludes
zero. Each row also says how many more sessions the variant needs for its own
interval to be within ±10%, because "not significant" is only useful with
"and here is what it would take".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from costper.config import Config
from costper.engine._intervals import Difference, compare_ratios
from costper.engine._report import Group, report
from costper.engine._sessions import check_keys
from costper.errors import InputError


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "feature": self.feature,
            "confidence": self.confidence,
            "baseline": self.baseline.to_dict(),
            "variants": [
                {**v.group.to_dict(), "vs_baseline": v.vs_baseline.to_dict()} for v in self.variants
            ],
        }


def compare(
    source: Any,
    by: str,
    baseline: str,
    *,
    feature: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    config: Config | None = None,
    now: datetime | None = None,
) -> Comparison:
    config = config or Config()
    (key,) = check_keys([by])
    rep = report(source, [key], since=since, until=until, feature=feature, config=config, now=now)
    by_value = {str(g.key[key]): g for g in rep.groups}
    if baseline not in by_value:
        known = ", ".join(sorted(by_value)) or "none"
        scope = f" in feature {feature!r}" if feature else ""
        raise InputError(
            f"baseline {baseline!r} has no sessions{scope} (values of {key}: {known})",
            field="baseline",
            value=baseline,
        )
    base = by_value[baseline]
    variants = [
        Variant(g, compare_ratios(g.sums, base.sums, config.confidence))
        for name, g in by_value.items()
        if name != baseline
    ]
    return Comparison(key, base, variants, config.confidence, feature)
