"""Telemetry's estimate against the bill, per provider, model and period.

This is where "the dashboard said 1,000; the bill says 1,290" shows, and
where the two kinds of loose ends do: spend on the bill that no call
explains (unattributed; `unattributed_by_usage` names the evals, fine-tuning,
batch or storage lines that stayed off calls because no call of that kind
exists) and calls no bill line covers (they keep their estimate). A line belongs to the period its charge period starts in, a call
to the period of its start, so a monthly credit shows on the month's first
day while its share lands on every call of the month (`allocated`).

Every amount is in the report currency (`[currency] report`, default USD):
bill lines converted from their BillingCurrency and estimates from USD by
`[currency.rates]`; with a currency and no rate, reconcile refuses.

The totals' `ratio` is like for like: effective over estimated on the rows
that have both, so self-hosted models (no estimate) and calls without a line
(no bill) do not distort it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from costper.billing import _join as costjoin
from costper.billing._models import bill_provider
from costper.config import Config
from costper.engine._vocabulary import check_keys
from costper.errors import InputError
from costper.pricing._aliases import canonical_model, split_ref
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._dialect import as_int
from costper.store._source import Source, as_source
from costper.store._store import Store

KEYS = ("provider", "model", "day", "week", "month")
MONEY = frozenset(
    {"estimated", "billed", "effective", "allocated", "unattributed", "unbilled_estimate"}
)
METRICS = (
    "calls", "unpriced_calls", "estimated", "billed", "effective", "allocated", "unattributed",
    "calls_without_line", "unbilled_estimate",
)  # fmt: skip


@dataclass(frozen=True)
class Reconciliation:
    by: tuple[str, ...]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    currency: str = ESTIMATES

    def to_dict(self) -> dict[str, Any]:
        return {"by": list(self.by), "currency": self.currency, "rows": self.rows,
                "totals": self.totals}  # fmt: skip

    def flat_rows(self) -> list[dict[str, Any]]:
        return [
            {**r["key"], **{k: v for k, v in r.items() if k != "key"}, "currency": self.currency}
            for r in self.rows
        ]


def check_by(by: Iterable[str]) -> tuple[str, ...]:
    out = check_keys(by, KEYS, unknown="by: unknown key")
    if not out:
        raise InputError("by: at least one key is needed", field="by", value="")
    return tuple(out)


def _period(t: ir.TimestampValue, key: str) -> ir.Value:
    if key == "day":
        return t.date()
    return t.truncate("W" if key == "week" else "M").date()


def _keys(
    provider: ir.Value, model: ir.Value, t: ir.TimestampValue, by: Sequence[str]
) -> dict[str, ir.Value]:
    cols = {"provider": provider, "model": model}
    return {k: cols[k] if k in cols else _period(t, k) for k in by}


def _self_hosted(config: Config) -> list[str]:
    out: list[str] = []
    for res in config.infra:
        provider, model = split_ref(res.model, bill_provider)
        if provider == costjoin.SELF and (name := canonical_model(model)):
            out.append(name)
    return out


def _window(t: ir.Table, col: str, since: datetime | None, until: datetime | None) -> ir.Table:
    if since is not None:
        t = t.filter(t[col] >= ibis.literal(since, type="timestamp"))
    if until is not None:
        t = t.filter(t[col] < ibis.literal(until, type="timestamp"))
    return t


def reconcile(
    source: Source,
    config: Config,
    by: Iterable[str] = ("provider", "model", "day"),
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    rejoin: bool = True,
) -> Reconciliation:
    """Rows of estimate vs bill; `rejoin` first re-runs the cost join so late calls count
    (where the source can be written: a read-only source is reconciled as stored)."""
    store = as_source(source)
    keys = check_by(by)
    rates = Rates.of(config)
    fx = costjoin.line_factors(store, rates)
    to_report = rates.factor(ESTIMATES, rates.report)
    if rejoin and isinstance(store, Store) and not store.read_only:
        costjoin.apply(store, rates)
    c = _window(costjoin.prepared_calls(store), "start_time", since, until)
    own = _self_hosted(config)
    provider = ibis.cases((c.mkey.isin(own), costjoin.SELF), else_=c.pkey) if own else c.pkey
    billed_call = c.cost_source == "billed"
    nothing = ibis.null("float64")
    zero = ibis.literal(0, type="int64")
    group = list(keys)
    calls = c.group_by(**_keys(provider, c.mkey, c.start_time, keys)).aggregate(
        calls=c.count(),
        unpriced_calls=as_int(c.estimated_cost.isnull()).sum(),
        estimated=c.estimated_cost.sum(),
        allocated=(c.cost.fill_null(0.0) + c.infra_cost.fill_null(0.0)).sum(where=billed_call),
        calls_without_line=as_int(~billed_call).sum(),
        unbilled_estimate=c.estimated_cost.sum(where=~billed_call),
    )
    calls = calls.mutate(billed=nothing, effective=nothing, unattributed=nothing).select(
        *group, *METRICS
    )
    m = costjoin.matched_pools(store, fx)
    m = _window(m, "period_start", since, until)
    lines = m.group_by(**_keys(m.pkey, m.mkey, m.period_start, keys)).aggregate(
        billed=m.pool_billed.sum(),
        effective=m.pool_cost.sum(),
        unattributed=m.pool_cost.sum(where=m.matched_calls.fill_null(0) == 0).fill_null(0.0),
    )
    lines = lines.mutate(
        calls=zero,
        unpriced_calls=zero,
        estimated=nothing,
        allocated=nothing,
        calls_without_line=zero,
        unbilled_estimate=nothing,
    ).select(*group, *METRICS)
    both = calls.union(lines)
    rows = (
        both.group_by(list(keys))
        .aggregate(**{k: both[k].sum() for k in METRICS})
        .order_by(list(keys))
    )
    out = []
    for r in store.to_arrow(rows).to_pylist():
        row: dict[str, Any] = {"key": {k: _plain(r[k]) for k in keys}}
        row.update({k: _in(r[k], to_report) if k in MONEY else r[k] for k in METRICS})
        row["ratio"] = _ratio(r["effective"], r["estimated"])
        out.append(row)
    totals = _totals(store, out, since, until, fx, to_report)
    totals["currency"] = rates.report
    other = m.filter(m.matched_calls.fill_null(0) == 0, m.ukey != "inference")
    by_usage = other.group_by("ukey").aggregate(cost=other.pool_cost.sum(), lines=other.lines.sum())
    totals["unattributed_by_usage"] = {
        r["ukey"]: {"effective": _in(r["cost"], to_report), "lines": int(r["lines"])}
        for r in store.to_arrow(by_usage.order_by("ukey")).to_pylist()
    }
    return Reconciliation(keys, out, totals, rates.report)


def _in(v: float | None, factor: float) -> float | None:
    return None if v is None else v * factor


def _plain(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def _ratio(effective: float | None, estimated: float | None) -> float | None:
    if effective is None or not estimated:
        return None
    return effective / estimated


def _totals(
    store: Source,
    rows: list[dict[str, Any]],
    since: datetime | None,
    until: datetime | None,
    fx: costjoin.FX,
    to_report: float,
) -> dict[str, Any]:
    t: dict[str, Any] = {}
    for k in METRICS:
        vals = [r[k] for r in rows if r[k] is not None]
        t[k] = (
            sum(vals)
            if vals
            else (0 if k in ("calls", "unpriced_calls", "calls_without_line") else None)
        )
    both = [r for r in rows if r["estimated"] and r["effective"] is not None]
    t["matched_estimated"] = sum(r["estimated"] for r in both)
    t["matched_effective"] = sum(r["effective"] for r in both)
    t["ratio"] = _ratio(t["matched_effective"], t["matched_estimated"])
    b = _window(costjoin.converted(store.table("billing"), fx), "ChargePeriodStart", since, until)
    tax = b.ChargeCategory == "Tax"
    other = b.allocation.isnull() & ~tax
    agg = b.aggregate(
        tax=b.EffectiveCost.sum(where=tax),
        other_billed=b.BilledCost.sum(where=other),
        other_effective=b.EffectiveCost.sum(where=other),
        bill_billed=b.BilledCost.sum(),
        bill_effective=b.EffectiveCost.sum(),
    )
    r = {k: (v or 0.0) * to_report for k, v in store.to_arrow(agg).to_pylist()[0].items()}
    t["tax"] = r["tax"] or 0.0
    t["other_spend"] = {
        "billed": r["other_billed"] or 0.0,
        "effective": r["other_effective"] or 0.0,
    }
    t["bill"] = {"billed": r["bill_billed"] or 0.0, "effective": r["bill_effective"] or 0.0}
    return t
