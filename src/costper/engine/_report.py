"""The metrics table: per group, cost per token beside cost per success.

One aggregation over the session table yields counts, cost parts and the
sufficient statistics; intervals are then computed per group in Python from
those few numbers (`_intervals`). `Report` (`_report_model`) is the Python API
a notebook uses; the CLI and HTTP API only render it.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costper.config import Config
from costper.engine._intervals import (
    Interval,
    Sums,
    mean_interval,
    ratio_interval,
    sessions_needed,
    wilson,
)
from costper.engine._report_model import Group, Report
from costper.engine._trust import Limits
from costper.engine._trust import warnings as trust_warnings
from costper.engine._vocabulary import COST_PARTS, COST_SOURCES, check_keys
from costper.errors import InputError
from costper.store._source import Source, as_source, to_arrow

if TYPE_CHECKING:  # a report whose query the store keeps compiled loads no Ibis
    import ibis.expr.types as ir

_COLUMN = {"turns": "turn_bucket"}


def group_sums(sessions: ir.Table, by: list[str]) -> ir.Table:
    """Plain sums per group and outcome (success true, false or pending).

    Grouping by the outcome, rather than filtering each sum by it, evaluates
    the outcome once per session instead of once per aggregate: on a million
    sessions that is the difference between seconds and a fraction of one.
    `combine_outcomes` folds the (at most three) rows of a group back together.
    """
    from costper.store._dialect import as_int

    s = sessions
    tot = s.total
    aggs: dict[str, Any] = dict(
        sessions=s.count(),
        escalations=as_int(s.escalated).sum(),
        reviewed=as_int(s.reviewed).sum(),
        calls=s.calls.sum(),
        failed_calls=s.failed_calls.sum(),
        turns=s.turns.sum(),
        unpriced_calls=s.unpriced_calls.sum(),
        tokens_input=s.input_tokens.sum(),
        tokens_output=s.output_tokens.sum(),
        tokens_cache_read=s.cache_read_tokens.sum(),
        sum_cc=(tot * tot).sum(),
        sum_ccc=(tot * tot * tot).sum(),
        max_c=tot.max(),
    )
    for part in COST_PARTS:
        aggs[f"cost_{part}"] = s[part].sum()
    for src in COST_SOURCES:
        aggs[f"src_{src}"] = s[f"src_{src}"].sum()
    cols = [s[_COLUMN.get(k, k)].name(f"key_{k}") for k in by]
    return s.group_by([*cols, s.success.name("outcome")]).aggregate(**aggs)


_ALL_SESSIONS = ("sessions", "unpriced_calls")
PENDING_SUMS = (
    "calls",
    "failed_calls",
    "tokens_input",
    "tokens_output",
    "tokens_cache_read",
    "cost_llm",
    "cost_total",
)
"""Sums kept apart for pending sessions (`Group.pending`)."""


def combine_outcomes(rows: list[dict[str, Any]], by: list[str]) -> list[dict[str, Any]]:
    """One row per group from `group_sums` rows, in the shape `build_group` takes:
    sums over labeled sessions, except session and unpriced counts over all."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        ident = tuple(r[f"key_{k}"] for k in by)
        g = groups.setdefault(
            ident,
            {
                **{f"key_{k}": r[f"key_{k}"] for k in by},
                "labeled_sessions": 0,
                "successes": 0,
                "sum_cs": 0.0,
                "sum_ccs": 0.0,
            },
        )
        labeled = r["outcome"] is not None
        for name, value in r.items():
            if name == "outcome" or name.startswith("key_"):
                continue
            if name == "max_c":
                g[name] = max(g.get(name, 0.0), _num(value) if labeled else 0.0)
            elif labeled or name in _ALL_SESSIONS:
                g[name] = g.get(name, 0) + _num(value)
            else:
                g.setdefault(name, 0)
        if not labeled:
            for name in PENDING_SUMS:
                g[f"pending_{name}"] = g.get(f"pending_{name}", 0) + _num(r[name])
        if labeled:
            g["labeled_sessions"] += _num(r["sessions"])
        if r["outcome"] is True:
            g["successes"] += _num(r["sessions"])
            g["sum_cs"] += _num(r["cost_total"])
            g["sum_ccs"] += _num(r["sum_cc"])
    return [
        groups[k]
        for k in sorted(
            groups, key=lambda t: tuple((v is None, v if v is not None else "") for v in t)
        )
    ]


def _key_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def _num(v: Any) -> float:
    return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def build_group(row: dict[str, Any], by: list[str], config: Config) -> Group:
    n = int(_num(row["labeled_sessions"]))
    succ = int(_num(row["successes"]))
    total = _num(row["cost_total"])
    sums = Sums(
        n=n, c=total, s=float(succ), cc=_num(row["sum_cc"]), ss=float(succ),
        cs=_num(row["sum_cs"]), ccc=_num(row["sum_ccc"]), ccs=_num(row["sum_ccs"]),
        cmax=_num(row["max_c"]),
    )  # fmt: skip
    cps = _floor_zero(ratio_interval(sums, config.confidence))
    warns = trust_warnings(sums, limits(config), cps.method)
    needed, note = _needed(sums, warns, config.confidence)
    cost = {p: _num(row.get(f"cost_{p}")) for p in COST_PARTS}
    tokens = {k: int(_num(row[f"tokens_{k}"])) for k in ("input", "output", "cache_read")}
    tokens["total"] = tokens["input"] + tokens["output"]
    conf = config.confidence
    return Group(
        key={k: _key_value(row[f"key_{k}"]) for k in by},
        sessions=int(_num(row["sessions"])),
        labeled_sessions=n,
        pending_sessions=int(_num(row["sessions"])) - n,
        successes=succ,
        escalations=int(_num(row["escalations"])),
        reviewed=int(_num(row["reviewed"])),
        calls=int(_num(row["calls"])),
        failed_calls=int(_num(row["failed_calls"])),
        turns=int(_num(row["turns"])),
        unpriced_calls=int(_num(row["unpriced_calls"])),
        tokens=tokens,
        cost=cost,
        cost_sources={
            src: int(_num(row[f"src_{src}"])) for src in COST_SOURCES if _num(row[f"src_{src}"])
        },
        success_rate=wilson(succ, n, conf),
        escalation_rate=wilson(_num(row["escalations"]), n, conf),
        cost_per_1m_tokens=cost["llm"] / tokens["total"] * 1e6 if tokens["total"] else None,
        cost_per_intent=_floor_zero(mean_interval(n, total, sums.cc, conf, sums.ccc)),
        cost_per_success=cps,
        sample_ok=not warns,
        sessions_needed=needed,
        sums=sums,
        warnings=warns,
        sessions_needed_note=note,
        pending=_pending(row),
    )


def _pending(row: dict[str, Any]) -> dict[str, Any]:
    p = {name: _num(row.get(f"pending_{name}")) for name in PENDING_SUMS}
    tokens = {k: int(p[f"tokens_{k}"]) for k in ("input", "output", "cache_read")}
    tokens["total"] = tokens["input"] + tokens["output"]
    return {
        "sessions": int(_num(row["sessions"])) - int(_num(row["labeled_sessions"])),
        "calls": int(p["calls"]),
        "failed_calls": int(p["failed_calls"]),
        "tokens": tokens,
        "cost": {"llm": p["cost_llm"], "total": p["cost_total"]},
    }


def limits(config: Config) -> Limits:
    return Limits(config.min_sessions, config.min_successes, config.min_failures)


def _needed(
    sums: Sums, warns: list[dict[str, str]], confidence: float
) -> tuple[int | None, str | None]:
    """Sessions for ±10% on both sides of cost per success, or why it cannot be estimated:
    with a heavy tail the sample's own spread understates the truth, and a number
    computed from it would be several times short."""
    if sums.s <= 0:
        return None, "cannot estimate the sessions needed: no successes yet"
    if any(w["code"] == "heavy_tail" for w in warns):
        return None, (
            "cannot estimate the sessions needed: a few sessions carry most of the cost "
            "(heavy tail)"
        )
    return sessions_needed(sums, confidence), None


def _floor_zero(iv: Interval) -> Interval:
    """Session costs are never negative, so neither is a mean of them."""
    if iv.low is not None and iv.value is not None and iv.value >= 0 and iv.low < 0:
        return Interval(iv.value, 0.0, iv.high, iv.method)
    return iv


def _execute(source: Source, expr: ir.Table) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = to_arrow(source, expr).to_pylist()
    return out


def report(
    source: Source | str | Path,
    by: list[str] | tuple[str, ...] | str = ("feature",),
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
    config: Config | None = None,
    now: datetime | None = None,
) -> Report:
    """The metrics table over a store (a `Store`, a DuckDB path, or a Source/Ibis backend)."""
    from costper.store._store import open_store

    config = config or Config()
    keys = check_keys(by.split(",") if isinstance(by, str) else by)
    if isinstance(source, str | Path):
        with open_store(source, read_only=True) as store:
            return report(
                store, keys, since=since, until=until, feature=feature, config=config, now=now
            )
    source = as_source(source)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    rows = combine_outcomes(_report_rows(source, keys, since, until, feature, config, now), keys)
    groups = [build_group(r, keys, config) for r in rows if r["sessions"]]
    if feature is not None and not groups:
        check_feature(source, feature)
    return Report(config.confidence, keys, groups, config.currency)


def _report_rows(
    source: Source,
    keys: list[str],
    since: datetime | None,
    until: datetime | None,
    feature: str | None,
    config: Config,
    now: datetime,
) -> list[dict[str, Any]]:
    """`group_sums` over the sessions: from the SQL the store keeps compiled when it
    has it (`engine._report_sql`), else built with Ibis, and then kept."""
    from costper.engine import _report_sql

    run = getattr(source, "run_compiled", None) if getattr(source, "keeps_compiled", 0) else None
    values = None if run is None else _report_sql.run_values(config, now, since, until)
    key = None
    if run is not None and values is not None:
        key = _report_sql.query_key(config, keys, since, until, feature)
        kept: list[dict[str, Any]] | None = None if key is None else run(key, values)
        if kept is not None:
            return kept
    from costper.engine._sessions import session_table

    sessions = session_table(
        source, config, now=now, since=since, until=until, feature=feature, keys=keys
    )
    expr = group_sums(sessions, keys)
    rows = _execute(source, expr)
    if key is not None and values is not None:
        query = _report_sql.compile_report(
            source, expr, config, keys, since, until, feature, values
        )
        if query is not None:
            source.keep_compiled(key, query)  # type: ignore[attr-defined]
    return rows


def check_feature(source: Source, feature: str) -> None:
    """A feature filter that matches nothing ever stored is a typo, not an empty report."""
    calls = source.table("calls")
    known = _execute(source, calls.select("feature").distinct().order_by("feature"))
    names = [r["feature"] for r in known]
    if feature not in names:
        shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        raise InputError(
            f"feature: no feature {feature!r} in the store (known: {shown or 'none yet'})",
            field="feature",
            value=feature,
        )
