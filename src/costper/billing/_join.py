"""The cost join: what the bill says each call cost.

A FOCUS line names no request, only a provider, a model and a charge period,
so each line's `EffectiveCost` (amortized: discounts, commitments, credits
already in) is spread over the calls of that provider x model whose start
falls in the period, pro rata to their estimated cost. A line that carries a
request id (`x_RequestId`, or `request_id` in `Tags`) goes to the calls of
that request alone, and those calls take no share of the pooled lines. Lines
of `[[infra]]` resources (a GPU lease) are spread over the served model's
calls by tokens, as `infra_cost`: the idle hours are paid for too, and land
on the calls that were served.

FOCUS semantics: Usage, Purchase, Credit and Adjustment lines (corrections
included: they carry the charge period they correct) are spread alike, so a
credit or refund lowers the calls of its period; Tax is never spread on
calls (reconcile shows it apart). Unpriced calls take the pool's average
cost per token as their weight; a pool with no estimate at all splits by
tokens, then evenly. Lines matching no call are unattributed spend; calls
matching no line keep their estimate. Only matching usage gets the money: a
line for evals, fine-tuning, batch or storage (its `usage_kind`) goes onto
calls whose operation is of that kind, and stays unattributed otherwise, so
an eval run's cost is never spread onto the app's chat calls.

The join runs at the end of every `costper ingest billing`, after any ingest
of new calls while a bill is stored (`rejoin`), and on `costper reconcile`, so
calls that arrive after their bill get their share;
`apply` recomputes everything (the store resets earlier allocations).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from costper.config import Config
from costper.pricing._aliases import CANON_PATTERNS, PROVIDER_ALIASES
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._dialect import as_int
from costper.store._source import Source
from costper.store._store import Store

FX = dict[str, float]
"""Per BillingCurrency, what one unit is worth in the calls' currency (USD)."""

SPREAD = ("Usage", "Purchase", "Credit", "Adjustment")
SELF = "self"


def canon_expr(model: ir.StringValue) -> ir.StringValue:
    m = model.lower()
    for pattern in CANON_PATTERNS:
        m = m.re_replace(pattern, "")
    return m


def provider_expr(provider: ir.StringValue) -> ir.StringValue:
    return provider.lower().substitute(PROVIDER_ALIASES)


CALL_USAGE = {
    "batch": "batch",
    "fine_tuning": "fine_tuning",
    "fine-tuning": "fine_tuning",
    "training": "fine_tuning",
    "evals": "evals",
    "eval": "evals",
    "evaluation": "evals",
}
"""A call's `operation` naming usage other than inference; a bill line of that
kind (an eval run, a fine-tuning job) only goes onto such calls."""


def usage_expr(operation: ir.StringValue) -> ir.StringValue:
    return operation.lower().substitute(CALL_USAGE, else_="inference").fill_null("inference")


def prepared_calls(store: Source) -> ir.Table:
    c = store.table("calls")
    return c.select(
        "trace_id",
        "span_id",
        "request_id",
        "start_time",
        "estimated_cost",
        "cost",
        "cost_source",
        "infra_cost",
        pkey=provider_expr(c.provider),
        mkey=canon_expr(c.model),
        ukey=usage_expr(c.operation),
        hour=(c.start_time.epoch_seconds() / 3600).floor().cast("int64"),
        tokens=(c.input_tokens.fill_null(0) + c.output_tokens.fill_null(0)).cast("float64"),
    )


def line_factors(store: Source, rates: Rates | None = None) -> FX:
    """Conversion of every stored bill currency into the calls' currency; refuses
    (naming both) where `[currency.rates]` gives none."""
    b = store.table("billing")
    found = store.to_arrow(b.select("BillingCurrency").distinct()).column(0).to_pylist()
    return (rates or Rates()).factors(found, ESTIMATES)


def fx_expr(currency: ir.StringValue, fx: FX) -> ir.FloatingValue:
    return currency.upper().substitute(fx, else_=ibis.null("float64")).cast("float64")


def converted(b: ir.Table, fx: FX | None) -> ir.Table:
    """Bill lines with their money in the calls' currency."""
    if not fx:
        return b
    f = fx_expr(b.BillingCurrency, fx)
    return b.mutate(EffectiveCost=b.EffectiveCost * f, BilledCost=b.BilledCost * f)


def spread_lines(store: Source, fx: FX | None = None) -> ir.Table:
    """Lines whose cost goes onto calls (model or infra, never tax), with match keys."""
    b = converted(store.table("billing"), fx)
    b = b.filter(b.allocation.notnull(), b.ChargeCategory.isin(SPREAD))
    return b.mutate(
        pkey=b.provider, mkey=canon_expr(b.model), ukey=b.usage_kind.fill_null("inference")
    )


def pools(store: Source, fx: FX | None = None) -> ir.Table:
    """One row per (kind, provider, model, charge period): the unit a cost is spread in."""
    b = spread_lines(store, fx)
    b = b.filter(b.request_id.isnull())
    p = b.group_by(
        kind=b.allocation,
        pkey=b.pkey,
        mkey=b.mkey,
        ukey=b.ukey,
        period_start=b.ChargePeriodStart,
        period_end=b.ChargePeriodEnd,
    ).aggregate(
        pool_cost=b.EffectiveCost.sum(),
        pool_billed=b.BilledCost.sum(),
        lines=b.count(),
    )
    # Ids from an ordering, so every evaluation of the query numbers pools alike.
    order = ["kind", "pkey", "mkey", "ukey", "period_start", "period_end"]
    return p.mutate(pool_id=ibis.row_number().over(order_by=order))


def _exact_pools(store: Source, fx: FX | None = None) -> ir.Table:
    b = spread_lines(store, fx)
    b = b.filter(b.request_id.notnull())
    e = b.group_by("request_id").aggregate(
        pool_cost=b.EffectiveCost.sum(),
        pool_billed=b.BilledCost.sum(),
        pkey=b.pkey.max(),
        mkey=b.mkey.max(),
        ukey=b.ukey.max(),
        period_start=b.ChargePeriodStart.min(),
        lines=b.count(),
    )
    return e.mutate(pool_id=-(ibis.row_number().over(order_by="request_id") + 1))


def pairs(store: Source, fx: FX | None = None) -> ir.Table:
    """(pool, call) pairs: which calls share which line's cost, with each call's weight inputs."""
    calls = prepared_calls(store)
    exact = _exact_pools(store, fx)
    exact_pairs = calls.join(exact, calls.request_id == exact.request_id).select(
        kind=ibis.literal("exact"),
        pool_id=exact.pool_id,
        pool_cost=exact.pool_cost,
        trace_id=calls.trace_id,
        span_id=calls.span_id,
        est=calls.estimated_cost,
        tokens=calls.tokens,
    )
    rest = calls.anti_join(exact, calls.request_id == exact.request_id)
    p = pools(store, fx)
    hours = p.select(
        "pool_id",
        "pool_cost",
        h_kind=p.kind,
        h_pkey=p.pkey,
        h_mkey=p.mkey,
        h_ukey=p.ukey,
        h_start=p.period_start,
        h_end=p.period_end,
        h_hour=ibis.range(
            (p.period_start.epoch_seconds() / 3600).floor().cast("int64"),
            (p.period_end.epoch_seconds() / 3600).ceil().cast("int64"),
        ).unnest(),
    )
    j = rest.join(
        hours,
        [rest.mkey == hours.h_mkey, rest.hour == hours.h_hour, rest.ukey == hours.h_ukey],
    )
    j = j.filter(
        (j.h_pkey == j.pkey) | ((j.h_kind == "infra") & (j.h_pkey == SELF)),
        j.start_time >= j.h_start,
        j.start_time < j.h_end,
    )
    pooled_pairs = j.select(
        kind=j.h_kind,
        pool_id=j.pool_id,
        pool_cost=j.pool_cost,
        trace_id=j.trace_id,
        span_id=j.span_id,
        est=j.estimated_cost,
        tokens=j.tokens,
    )
    return exact_pairs.union(pooled_pairs)


def allocations(store: Source, fx: FX | None = None) -> ir.Table:
    """Per billed call: cost (its share of model lines), infra_cost, cost_source 'billed'."""
    pr = pairs(store, fx)
    # DuckDB folds identifier case: no two names here may differ by case alone.
    stats = pr.group_by("pool_id").aggregate(
        est_sum=pr.est.sum(),
        priced_tokens=pr.tokens.sum(where=pr.est.notnull()),
        token_sum=pr.tokens.sum(),
        n_calls=pr.count(),
    )
    # An unpriced call weighs its tokens at the pool's cost per priced token, so
    # the weights' sum is known per pool without a second pass over the pairs.
    avg = stats.est_sum / stats.priced_tokens.nullif(0)
    unpriced_tokens = stats.token_sum - stats.priced_tokens.fill_null(0.0)
    stats = stats.mutate(
        avg=avg,
        weight_sum=stats.est_sum.fill_null(0.0) + (unpriced_tokens * avg).fill_null(0.0),
    )
    x = pr.join(stats, "pool_id")
    weight = ibis.coalesce(x.est, x.tokens * x.avg, 0.0)
    by_tokens = ibis.cases((x.token_sum > 0, x.tokens / x.token_sum), else_=1.0 / x.n_calls)
    share = ibis.cases(
        ((x.kind != "infra") & (x.weight_sum > 0), weight / x.weight_sum),
        else_=by_tokens,
    )
    x = x.select("trace_id", "span_id", alloc=x.pool_cost * share, is_infra=x.kind == "infra")
    per_call = x.group_by(["trace_id", "span_id"]).aggregate(
        llm=x.alloc.sum(where=~x.is_infra),
        infra=x.alloc.sum(where=x.is_infra),
        model_lines=as_int(~x.is_infra).sum(),
    )
    return per_call.select(
        "trace_id",
        "span_id",
        cost=ibis.cases((per_call.model_lines > 0, per_call.llm.fill_null(0.0)), else_=0.0),
        cost_source=ibis.literal("billed"),
        infra_cost=per_call.infra.fill_null(0.0),
    )


def matched_pools(store: Source, fx: FX | None = None) -> ir.Table:
    """Every spread line group with the number of calls it found (0: unattributed)."""
    pr = pairs(store, fx)
    n = pr.group_by("pool_id").aggregate(matched_calls=pr.count())
    p = pools(store, fx)
    p = p.left_join(n, "pool_id").drop("pool_id_right")
    ex = _exact_pools(store, fx)
    calls = prepared_calls(store)
    with_id = calls.filter(calls.request_id.notnull())
    per_request = with_id.group_by("request_id").aggregate(matched_calls=with_id.count())
    ex = ex.left_join(per_request, "request_id").drop("request_id_right")
    cols = ("kind", "pkey", "mkey", "ukey", "period_start", "pool_cost", "pool_billed", "lines")
    return p.select(*cols, "matched_calls").union(
        ex.mutate(kind=ibis.literal("exact")).select(*cols, "matched_calls")
    )


@dataclass(frozen=True)
class JoinResult:
    billed_calls: int
    spread_cost: float
    allocated: float
    unattributed: float
    unattributed_lines: int
    currency: str = ESTIMATES


def rejoin(store: Store, new_calls: int, config: Config | None = None) -> JoinResult | None:
    """Give calls that arrive after their bill their billed share.

    Every path that stores calls (trace files, `ingest_request`/`ingest_body`
    of the Python API, the OTLP receiver) calls this once its new calls are
    committed, so the rule lives here and not in one edge. None when there was
    nothing new or no bill is stored. `config` gives the currency rates.
    """
    if not new_calls or not store.joins_bills or store.count("billing") == 0:
        return None
    return apply(store, Rates.of(config) if config is not None else None)


def apply(store: Store, rates: Rates | None = None) -> JoinResult:
    """Recompute every call's billed cost from the stored bill; idempotent. Money of
    a bill in another currency than the calls' is converted by `rates`, or refused."""
    if store.count("billing") == 0:
        return JoinResult(0, 0.0, 0.0, 0.0, 0)
    fx = line_factors(store, rates)
    n = store.update_calls_from(allocations(store, fx))
    c = store.table("calls")
    billed = c.filter(c.cost_source == "billed")
    allocated = (billed.cost.fill_null(0.0) + billed.infra_cost.fill_null(0.0)).sum()
    m = matched_pools(store, fx)
    unmatched = m.matched_calls.fill_null(0) == 0
    totals = m.aggregate(
        spread=m.pool_cost.sum(),
        unattributed=m.pool_cost.sum(where=unmatched),
        unattributed_lines=m.lines.sum(where=unmatched),
    )
    row = store.to_arrow(totals).to_pylist()[0]
    return JoinResult(
        billed_calls=n,
        spread_cost=float(row["spread"] or 0.0),
        allocated=float(
            store.to_arrow(billed.aggregate(a=allocated)).column("a")[0].as_py() or 0.0
        ),
        unattributed=float(row["unattributed"] or 0.0),
        unattributed_lines=int(row["unattributed_lines"] or 0),
    )
