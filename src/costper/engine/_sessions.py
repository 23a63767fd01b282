"""Calls and outcome records → one row per session, with its cost model applied.

A session is the unit that succeeds or fails, so every metric is per session:
this module is where calls are rolled up, outcomes resolved (latest value of
each field wins; escalated means failed; no record and quiet for
`implicit_success_after` means an implicit success; otherwise pending) and
DESIGN.md's cost model applied. Everything is an Ibis expression, so it runs
on whichever engine holds the data; engine-specific speed-ups come from the
store (`store._dialect`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

import ibis
import ibis.expr.types as ir

from costper._config_evals import EvalRule
from costper.config import Config
from costper.engine._vocabulary import COST_SOURCES, check_keys
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._dialect import PORTABLE, Dialect, dialect_of, real
from costper.store._source import Source, as_source

EVALS = "evals"
"""The `operation` of a call made to evaluate another (LLM-as-judge, telemetry's
`gen_ai.operation.name=evaluate` or `costper.call.kind=eval`): its cost is the
session's `evals` part and its tokens are left out of the session's tokens, so
cost per 1M tokens stays the feature's own calls'."""


def _tables(source: Source) -> tuple[ir.Table, ir.Table]:
    """A Store and an Ibis backend both answer `table(name)`."""
    return source.table("calls"), source.table("outcomes")


def _by_feature(feature: ir.StringValue, config: Config, attr: str) -> ir.FloatingValue:
    default = float(getattr(config.costs, attr))
    overrides = [
        (f, float(getattr(c, attr)))
        for f, c in config.feature_costs.items()
        if getattr(c, attr) != default
    ]
    if not overrides:
        return real(default)
    return ibis.cases(*[(feature == f, real(v)) for f, v in overrides], else_=real(default))


def resolved_outcomes(outcomes: ir.Table, dialect: Dialect = PORTABLE) -> ir.Table:
    """Per session: the latest non-null value of each outcome field."""
    o = outcomes
    return o.group_by("session_id").aggregate(
        o_success=dialect.latest(o.success, o.at),
        o_escalated=dialect.latest(o.escalated, o.at),
        o_reviewed=dialect.latest(o.reviewed, o.at),
        o_records=o.count(),
    )


def is_evaluation(calls: ir.Table, rules: Sequence[EvalRule] = ()) -> ir.BooleanValue:
    """Telemetry's mark (operation `evals`) or a `[[evals]]` rule of the config."""
    c = calls
    marks = [c.operation == EVALS]
    for rule in rules:
        marks.append(ibis.and_(*(c[k].re_search(rx) for k, rx in rule.patterns().items())))
    return ibis.or_(*marks).fill_null(False)


def call_rollup(
    calls: ir.Table, dialect: Dialect = PORTABLE, evals: tuple[EvalRule, ...] = ()
) -> ir.Table:
    """Per session, everything the calls say: one pass plus a per-model pass.

    The store materialises this and keeps it current incrementally (it is the
    expensive part: millions of calls into sessions); other engines compute
    it on the fly. The session's model is the one that cost it most, ties
    going to the model used first.
    """
    c = calls
    is_eval = is_evaluation(c, evals)
    spent = c.cost.fill_null(0.0)
    cost = is_eval.ifelse(0.0, spent)

    def own(col: ir.IntegerValue) -> ir.IntegerValue:
        return is_eval.ifelse(0, col.fill_null(0))

    aggs: dict[str, Any] = dict(
        feature=dialect.first(c.feature, c.start_time),
        prompt_version=dialect.first(c.prompt_version, c.start_time),
        tenant=dialect.first(c.tenant, c.start_time),
        first_call=c.start_time.min(),
        last_call=c.start_time.max(),
        calls=c.count(),
        failed_calls=c.count(where=c.failed),
        input_tokens=dialect.token_sum(own(c.input_tokens)),
        output_tokens=dialect.token_sum(own(c.output_tokens)),
        cache_read_tokens=dialect.token_sum(own(c.cache_read_tokens)),
        llm=cost.sum(),
        retries=c.failed.ifelse(cost, 0.0).sum(),
        evals=is_eval.ifelse(spent, 0.0).sum(),
        eval_calls=c.count(where=is_eval),
        infra=c.infra_cost.fill_null(0.0).sum(),
        unpriced_calls=c.count(where=c.cost.isnull()),
    )
    for src in COST_SOURCES:
        aggs[f"src_{src}"] = c.count(where=c.cost_source == src)
    s = c.group_by("session_id").aggregate(**aggs)
    # A distinct count among a dozen other aggregates makes DuckDB's grouped
    # aggregation several times slower (8 s against 2 s on 10M calls); on its
    # own it costs 1.5 s.
    turns = c.group_by("session_id").aggregate(turns=c.turn_id.nunique())
    s = s.join(turns, "session_id")
    per_model = c.group_by(["session_id", "provider", "model"]).aggregate(
        m_cost=spent.sum(), m_first=c.start_time.min()
    )
    ranked = per_model.mutate(
        rank=ibis.row_number().over(
            ibis.window(group_by="session_id", order_by=[ibis.desc("m_cost"), "m_first"])
        )
    )
    top = ranked.filter(ranked["rank"] == 0).select("session_id", "provider", "model")
    return s.left_join(top, "session_id").drop("session_id_right")


@cache
def rollup_builder(
    dialect: Dialect, evals: tuple[EvalRule, ...] = ()
) -> Callable[[ir.Table], ir.Table]:
    """One builder object per dialect and `[[evals]]` rules: the store caches compiled
    rollups by builder (and rebuilds the stored rollup when its definition changes)."""
    return partial(call_rollup, dialect=dialect, evals=evals)


def session_table(
    source: Source,
    config: Config | None = None,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
    keys: Iterable[str] | None = None,
) -> ir.Table:
    """One row per session, outcome resolved and cost model applied, money in the
    report currency (`[currency] report`; calls' USD converted by its rate, or refused).

    `keys`, when given, are validated group keys the caller will use.
    """
    config = config or Config()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if keys is not None:
        check_keys(keys)
    source = as_source(source)
    calls, outcomes = _tables(source)
    dialect = dialect_of(source)
    rollup = getattr(source, "session_rollup", None)
    evals = tuple(config.evals)
    s = (
        rollup(rollup_builder(dialect, evals))
        if rollup is not None
        else call_rollup(calls, dialect, evals)
    )
    o = resolved_outcomes(outcomes, dialect)
    s = s.left_join(o, "session_id").drop("session_id_right")

    escalated = s.o_escalated.fill_null(False)
    explicit = ibis.cases((escalated, False), else_=s.o_success)
    if config.implicit_success_after is None:
        implicit_ok = ibis.literal(False)
    else:
        implicit_ok = s.last_call < ibis.literal(
            now - config.implicit_success_after, type="timestamp"
        )
    success = ibis.cases(
        (explicit.notnull(), explicit), (implicit_ok, True), else_=ibis.null("boolean")
    )
    status = ibis.cases((success.isnull(), "pending"), (success, "success"), else_="failure")
    reviewed = s.o_reviewed.fill_null(False)
    s = s.mutate(
        success=success,
        escalated=escalated,
        reviewed=reviewed,
        status=status,
        escalation=escalated.ifelse(_by_feature(s.feature, config, "escalation_cost"), real(0)),
        review=reviewed.ifelse(_by_feature(s.feature, config, "review_cost"), real(0)),
        overhead=s.calls.cast("float64") * _by_feature(s.feature, config, "per_call_overhead"),
        total_tokens=s.input_tokens + s.output_tokens,
        day=s.first_call.date(),
        week=s.first_call.truncate("W").date(),
        month=s.first_call.truncate("M").date(),
        turn_bucket=ibis.cases((s.turns >= 5, "5+"), else_=s.turns.cast("string")),
    )
    fx = Rates.of(config).factor(ESTIMATES, config.currency)
    if fx != 1.0:  # calls are stored in USD; [costs] are in the report currency already
        s = s.mutate(llm=s.llm * fx, retries=s.retries * fx, evals=s.evals * fx, infra=s.infra * fx)
    s = s.mutate(total=s.llm + s.evals + s.escalation + s.review + s.overhead + s.infra)
    return in_window(s, since, until, feature)


def in_window(
    s: ir.Table, since: datetime | None, until: datetime | None, feature: str | None
) -> ir.Table:
    """Sessions that started in [since, until) of one feature (None: no bound): the
    window every reading of sessions (reports, signals) applies the same way."""
    if since is not None:
        s = s.filter(s.first_call >= ibis.literal(since, type="timestamp"))
    if until is not None:
        s = s.filter(s.first_call < ibis.literal(until, type="timestamp"))
    if feature is not None:
        s = s.filter(s.feature == feature)
    return s
