"""The report's shape: one `Group` per row of the metrics table, and the `Report`
a notebook reads, the CLI prints and the HTTP API serves (`to_dict`, `from_dict`).
Plain data without Ibis, so rendering a report loads no query builder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from costper.engine._intervals import Interval, Sums

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]
    sessions: int
    labeled_sessions: int
    pending_sessions: int
    successes: int
    escalations: int
    reviewed: int
    calls: int
    failed_calls: int
    turns: int
    unpriced_calls: int
    tokens: dict[str, int]
    cost: dict[str, float]
    cost_sources: dict[str, int]
    success_rate: Interval
    escalation_rate: Interval
    cost_per_1m_tokens: float | None
    cost_per_intent: Interval
    cost_per_success: Interval
    sample_ok: bool
    sessions_needed: int | None
    sums: Sums = field(repr=False)
    warnings: list[dict[str, str]] = field(default_factory=list)
    sessions_needed_note: str | None = None
    pending: dict[str, Any] = field(default_factory=dict)
    """Pending sessions' own figures (calls, tokens, spend), which the ratios and the
    labeled sums above leave out: fresh traffic is visible at once, never hidden."""

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "sums"}
        for name in ("success_rate", "escalation_rate", "cost_per_intent", "cost_per_success"):
            d[name] = getattr(self, name).to_dict()
        d["cost_per_success"]["method"] = self.cost_per_success.method
        d["cost_per_intent"]["method"] = self.cost_per_intent.method
        return d


@dataclass(frozen=True)
class Report:
    confidence: float
    by: list[str]
    groups: list[Group]
    currency: str = "USD"
    """Every money figure of the report is in this currency (`[currency] report`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "by": list(self.by),
            "currency": self.currency,
            "groups": [g.to_dict() for g in self.groups],
            "unpriced_calls": sum(g.unpriced_calls for g in self.groups),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """The inverse of `to_dict` (a report read from the server's API).

        The sufficient statistics are not in the JSON; a report read back can
        be printed and exported, not coarsened or compared.
        """

        def iv(x: dict[str, Any], method: str = "") -> Interval:
            return Interval(x.get("value"), x.get("low"), x.get("high"), x.get("method", method))

        groups = []
        for g in d["groups"]:
            fields = dict(g)
            for name in ("success_rate", "escalation_rate", "cost_per_intent", "cost_per_success"):
                fields[name] = iv(g[name])
            fields["sums"] = Sums(0, 0.0, 0.0, 0.0, 0.0, 0.0)
            groups.append(Group(**fields))
        return cls(float(d["confidence"]), list(d["by"]), groups, str(d.get("currency", "USD")))

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows (one per group) for CSV, pandas or Arrow."""
        out = []
        for g in self.groups:
            row: dict[str, Any] = dict(g.key)
            for k in (
                "sessions",
                "labeled_sessions",
                "pending_sessions",
                "successes",
                "escalations",
                "reviewed",
                "calls",
                "failed_calls",
                "turns",
                "unpriced_calls",
            ):
                row[f"{k}_count" if k in g.key else k] = getattr(g, k)
            row.update({f"tokens_{k}": v for k, v in g.tokens.items()})
            row.update({f"cost_{k}": v for k, v in g.cost.items()})
            row["cost_per_1m_tokens"] = g.cost_per_1m_tokens
            for name in ("success_rate", "escalation_rate", "cost_per_intent", "cost_per_success"):
                iv = getattr(g, name)
                row[name], row[f"{name}_low"], row[f"{name}_high"] = iv.value, iv.low, iv.high
            row["sample_ok"] = g.sample_ok
            row["sessions_needed"] = g.sessions_needed
            row["warnings"] = "; ".join(w["code"] for w in g.warnings)
            row["currency"] = self.currency
            out.append(row)
        return out

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        return pa.Table.from_pylist(self.rows())

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()
