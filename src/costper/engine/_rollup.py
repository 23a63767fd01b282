"""Coarser groups from finer ones: the report by feature is the sum of the
report by feature and week.

Every metric of a group is built from additive sums (counts, cost parts, and
the power sums n, Σc, Σs, Σc², Σcs, Σc³, Σc²s;
max c is merged by max), so one engine query at the
finest grouping a page needs gives every coarser view of it exactly (up to
the order floats are added in). A dashboard page over millions of sessions
then costs one pass over the data instead of one per chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from costper.config import Config
from costper.engine._report import PENDING_SUMS, build_group
from costper.engine._report_model import Group
from costper.engine._vocabulary import COST_PARTS, COST_SOURCES

_COUNTS = ("sessions", "labeled_sessions", "successes", "escalations", "reviewed", "calls",
           "failed_calls", "turns", "unpriced_calls")  # fmt: skip
_TOKENS = ("input", "output", "cache_read")


def _row(g: Group) -> dict[str, Any]:
    row: dict[str, Any] = {k: getattr(g, k) for k in _COUNTS}
    row.update({f"tokens_{k}": g.tokens[k] for k in _TOKENS})
    row.update({f"cost_{p}": g.cost[p] for p in COST_PARTS})
    row.update({f"src_{s}": g.cost_sources.get(s, 0) for s in COST_SOURCES})
    s = g.sums
    row.update(sum_cc=s.cc, sum_cs=s.cs, sum_ccc=s.ccc, sum_ccs=s.ccs, max_c=s.cmax)
    p = g.pending or {}
    flat = {
        "calls": p.get("calls", 0),
        "failed_calls": p.get("failed_calls", 0),
        **{f"tokens_{k}": p.get("tokens", {}).get(k, 0) for k in _TOKENS},
        **{f"cost_{k}": p.get("cost", {}).get(k, 0.0) for k in ("llm", "total")},
    }
    row.update({f"pending_{name}": flat[name] for name in PENDING_SUMS})
    return row


def _order(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else "")


def coarsen(groups: Iterable[Group], keys: Sequence[str], config: Config) -> list[Group]:
    """Groups by `keys` (a subset of the groups' keys), ordered as the engine orders them."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for g in groups:
        missing = [k for k in keys if k not in g.key]
        if missing:
            raise ValueError(f"cannot group by {missing[0]!r}: the groups are by {list(g.key)}")
        ident = tuple(g.key[k] for k in keys)
        row = _row(g)
        acc = merged.get(ident)
        if acc is None:
            merged[ident] = row
        else:
            for name, value in row.items():
                acc[name] = max(acc[name], value) if name == "max_c" else acc[name] + value
    out = []
    for ident in sorted(merged, key=lambda t: tuple(_order(v) for v in t)):
        row = merged[ident]
        row.update({f"key_{k}": v for k, v in zip(keys, ident, strict=True)})
        out.append(build_group(row, list(keys), config))
    return out
