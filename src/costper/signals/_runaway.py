"""Runaway sessions: the job cost per token is still for (the article's "detecting
runaway loops or DDoS-style token consumption"), with the wasted spend attributed.

Per feature, a robust baseline of each session metric (calls, tokens, cost, LLM
time, calls per turn, context growth) is taken from the quartiles of that
feature's sessions in the window. A session is far past the baseline when a
metric exceeds the log-scale Tukey far-out fence

    fence = Q3 · r^k,  r = max(Q3 / Q1, MIN_SPREAD),  k = FENCE_K (3)

i.e. ln x > ln Q3 + k · max(IQR of ln x, ln 2.5). Session metrics are skewed (a
7-turn session costs several times a 1-turn one), so the fence is set on the log
scale, where quartiles are the quartiles of the raw values: no transform of the
data is needed and one engine pass gives them. The spread floor keeps a feature
whose sessions are nearly all alike (Q1 = Q3) from flagging the first retries: with
2.5, a feature retrying 35% of its calls (the demo's invoice-extraction v1) is
judged at 16 calls, which a retry chain reaches once in ten million sessions.

A repeat run is `REPEAT_MIN` or more calls of one session with the same model
and the same input size, a mean gap of at most `REPEAT_GAP_S` seconds apart:
an agent re-sending one request in a tight loop.

Wasted spend of a flagged session = max(its cost − the feature's median session
cost, the cost of its repeat runs beyond each run's first call), never below
zero: what the session cost beyond what a typical session of that feature costs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from costper.config import Config
from costper.engine._sessions import in_window
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._dialect import dialect_of
from costper.store._source import Source, rows

FENCE_K = 3.0
MIN_SPREAD = 2.5
MIN_SESSIONS = 30
REPEAT_MIN = 5
REPEAT_GAP_S = 30.0
METRICS = ("calls", "tokens", "cost", "llm_seconds", "calls_per_turn", "context_growth")
"""Per session: calls; input + output tokens; cost of its calls (+ infra); the sum of
its calls' durations; calls / turns; the last call's input tokens over the first's."""


@dataclass(frozen=True)
class Baseline:
    """One metric of one feature: quartiles and the fence (None when Q1 is 0)."""

    metric: str
    q1: float
    median: float
    q3: float
    fence: float | None


@dataclass(frozen=True)
class FeatureBaseline:
    feature: str
    sessions: int
    metrics: list[Baseline]
    enough: bool
    """At least MIN_SESSIONS sessions: only then are sessions judged against it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "sessions": self.sessions,
            "enough": self.enough,
            "metrics": {
                b.metric: {"q1": b.q1, "median": b.median, "q3": b.q3, "fence": b.fence}
                for b in self.metrics
            },
        }


@dataclass(frozen=True)
class FlaggedSession:
    session_id: str
    feature: str
    day: date
    first_call: datetime
    calls: int
    turns: int
    tokens: int
    cost: float
    llm_seconds: float
    context_growth: float | None
    reasons: list[str]
    repeat_calls: int
    repeat_excess: float
    baseline_cost: float | None
    wasted: float

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["day"], d["first_call"] = self.day.isoformat(), self.first_call.isoformat()
        return d


@dataclass(frozen=True)
class WastedSpend:
    feature: str
    day: date
    sessions: int
    cost: float
    wasted: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "day": self.day.isoformat()}


@dataclass(frozen=True)
class RunawayScan:
    baselines: list[FeatureBaseline]
    sessions: list[FlaggedSession]
    wasted: list[WastedSpend] = field(default_factory=list)


def session_metrics(
    source: Source,
    config: Config,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
) -> ir.Table:
    """One row per session with the metrics judged, money in the report currency."""
    c = source.table("calls")
    cost = c.cost.fill_null(0.0) + c.infra_cost.fill_null(0.0)
    inp = c.input_tokens.fill_null(0)
    dialect = dialect_of(source)
    s = c.group_by("session_id").aggregate(
        feature=dialect.first(c.feature, c.start_time),
        first_call=c.start_time.min(),
        calls=c.count(),
        turns=c.turn_id.nunique(),
        tokens=(inp + c.output_tokens.fill_null(0)).sum().cast("int64"),
        cost=cost.sum(),
        llm_seconds=c.duration_ms.fill_null(0.0).sum() / 1000.0,
        first_input=dialect.first_count(inp, c.start_time),
        last_input=dialect.last_count(inp, c.start_time),
    )
    fx = Rates.of(config).factor(ESTIMATES, config.currency)
    growth = ibis.cases(
        (s.first_input > 0, s.last_input.cast("float64") / s.first_input.cast("float64")),
        else_=ibis.null("float64"),
    )
    s = s.mutate(
        cost=s.cost * fx,
        calls_per_turn=s.calls.cast("float64") / s.turns.cast("float64"),
        context_growth=growth,
        day=s.first_call.date(),
    )
    return in_window(s, since, until, feature)


def repeat_runs(source: Source, config: Config, sessions: ir.Table) -> ir.Table:
    """Per session, its repeat runs summed: calls in runs and their cost beyond each
    run's first call."""
    c = source.table("calls")
    c = c.filter(c.session_id.isin(sessions.session_id))
    run = ["session_id", "model", "input_tokens"]
    # The run's first cost by a window partitioned by run (portable to every SQL engine).
    c = c.mutate(cost=c.cost.fill_null(0.0) + c.infra_cost.fill_null(0.0))
    c = c.mutate(first_cost=c.cost.first().over(group_by=run, order_by=c.start_time))
    cost = c.cost
    g = c.group_by(run).aggregate(
        n=c.count(),
        spent=cost.sum(),
        first_cost=c.first_cost.max(),
        span_s=dialect_of(source).seconds_between(c.start_time.max(), c.start_time.min()),
    )
    g = g.filter(
        g.input_tokens.notnull(),
        g.n >= REPEAT_MIN,
        g.span_s.cast("float64") <= (g.n - 1).cast("float64") * REPEAT_GAP_S,
    )
    fx = Rates.of(config).factor(ESTIMATES, config.currency)
    return g.group_by("session_id").aggregate(
        repeat_calls=g.n.sum(), repeat_excess=((g.spent - g.first_cost) * fx).sum()
    )


def _fence(q1: float, q3: float) -> float | None:
    if not q1 or q1 <= 0 or q3 is None:
        return None
    return q3 * max(q3 / q1, MIN_SPREAD) ** FENCE_K


def baselines(source: Source, s: ir.Table) -> list[FeatureBaseline]:
    aggs: dict[str, Any] = {"sessions": s.count()}
    for m in METRICS:
        col = s[m].cast("float64")
        aggs[f"{m}_q1"] = col.quantile(0.25)
        aggs[f"{m}_q2"] = col.quantile(0.5)
        aggs[f"{m}_q3"] = col.quantile(0.75)
    out = []
    for r in rows(source, s.group_by("feature").aggregate(**aggs).order_by("feature")):
        metrics = []
        for m in METRICS:
            q1, q2, q3 = (_f(r[f"{m}_q{i}"]) for i in (1, 2, 3))
            metrics.append(Baseline(m, q1, q2, q3, _fence(q1, q3)))
        n = int(r["sessions"])  # type: ignore[call-overload]
        out.append(FeatureBaseline(str(r["feature"]), n, metrics, n >= MIN_SESSIONS))
    return out


def _f(v: object) -> float:
    return 0.0 if v is None else float(v)  # type: ignore[arg-type]


def _far(s: ir.Table, base: list[FeatureBaseline]) -> ir.BooleanValue:
    """Any metric past its feature's fence (features without enough sessions: never)."""
    conds = []
    for b in base:
        if not b.enough:
            continue
        past = [s[x.metric] > x.fence for x in b.metrics if x.fence is not None]
        if past:
            conds.append((s.feature == b.feature) & ibis.or_(*past))
    return ibis.or_(*conds) if conds else ibis.literal(False)


def scan(
    source: Source,
    config: Config | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
) -> RunawayScan:
    """Baselines per feature, the sessions far past them or looping, and the waste."""
    config = config or Config()
    s = session_metrics(source, config, since=since, until=until, feature=feature)
    base = baselines(source, s)
    reps = repeat_runs(source, config, s)
    s = s.left_join(reps, "session_id").drop("session_id_right")
    s = s.mutate(
        repeat_calls=s.repeat_calls.fill_null(0), repeat_excess=s.repeat_excess.fill_null(0.0)
    )
    flagged = s.filter(_far(s, base) | (s.repeat_calls > 0)).order_by(["first_call", "session_id"])
    by_feature = {b.feature: b for b in base}
    found = [_flag(r, by_feature.get(str(r["feature"]))) for r in rows(source, flagged)]
    return RunawayScan(base, found, _per_day(found))


def _flag(r: dict[str, Any], base: FeatureBaseline | None) -> FlaggedSession:
    reasons = []
    if base is not None and base.enough:
        for b in base.metrics:
            v = r[b.metric]
            if b.fence is not None and v is not None and v > b.fence:
                reasons.append(f"{b.metric} {_num(v)} > fence {_num(b.fence)}")
    if r["repeat_calls"]:
        reasons.append(f"{r['repeat_calls']} repeated identical calls")
    median = None if base is None else next(b.median for b in base.metrics if b.metric == "cost")
    over = (
        r["cost"] - median if median is not None and len(reasons) > bool(r["repeat_calls"]) else 0
    )
    growth = r["context_growth"]
    return FlaggedSession(
        session_id=r["session_id"], feature=r["feature"], day=r["day"],
        first_call=r["first_call"], calls=int(r["calls"]), turns=int(r["turns"]),
        tokens=int(r["tokens"]), cost=float(r["cost"]), llm_seconds=float(r["llm_seconds"]),
        context_growth=None if growth is None or math.isnan(growth) else float(growth),
        reasons=reasons, repeat_calls=int(r["repeat_calls"]),
        repeat_excess=float(r["repeat_excess"]), baseline_cost=median,
        wasted=max(0.0, float(over), float(r["repeat_excess"])),
    )  # fmt: skip


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _per_day(found: list[FlaggedSession]) -> list[WastedSpend]:
    acc: dict[tuple[str, date], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for f in found:
        a = acc[(f.feature, f.day)]
        a[0] += 1
        a[1] += f.cost
        a[2] += f.wasted
    return [WastedSpend(feat, day, int(a[0]), a[1], a[2]) for (feat, day), a in sorted(acc.items())]
