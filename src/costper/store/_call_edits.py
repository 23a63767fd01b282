"""Edits of stored calls after ingest: late tags, and duplicates of one call merged.

Calls are append-only except here and in the billing join. Every edit keeps
the session rollup exact: the sessions a call leaves or joins get their
rollup rows dropped and their calls' `seq` moved on, so the rollup's
catch-up rebuilds exactly them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from costper.store._session_rollup import ROLLUP
from costper.store._store import Store, _version

_SLACK_US = 2
"""Rounding slack (µs) when testing that one layer's span lies inside another's: layers
of one call run in one process on one clock, and the SDK's span starts after and ends
before the framework's. Any more would let a call that follows another within that
slack pass for its inner layer."""


def has_span_tags(store: Store) -> bool:
    with store._lock:
        return store._con.execute("SELECT 1 FROM span_tags LIMIT 1").fetchone() is not None


def _select_in(store: Store, table: str, keys: pa.Table, select: str = "*") -> pa.Table:
    """`select` from `table`'s rows whose key columns match a row of `keys`."""
    using = ", ".join(keys.column_names)
    with store._lock:
        store._con.register("_keys_in", keys)
        try:
            return store._con.execute(
                f"SELECT {select} FROM {table} SEMI JOIN _keys_in USING ({using})"
            ).fetch_arrow_table()
        finally:
            store._con.unregister("_keys_in")


def _traces(traces: Iterable[str]) -> pa.Table:
    return pa.table({"trace_id": pa.array(list(traces), pa.string())})


def _keys(pairs: Iterable[tuple[str, str]]) -> pa.Table:
    listed = list(pairs)
    return pa.table(
        {
            "trace_id": pa.array([k[0] for k in listed], pa.string()),
            "span_id": pa.array([k[1] for k in listed], pa.string()),
        }
    )


def open_traces(store: Store, traces: Iterable[str]) -> set[str]:
    """The traces among `traces` that have spans stored in `span_tags`."""
    found = _select_in(store, "span_tags", _traces(traces), "DISTINCT trace_id")
    return set(found.column(0).to_pylist())


def span_tags_of(store: Store, traces: Iterable[str]) -> pa.Table:
    return _select_in(store, "span_tags", _traces(traces))


def _touch(store: Store, where: str) -> None:
    """Before an edit of the calls `where` selects: drop their sessions' rollup rows and
    move their sessions' calls to the next `seq`, so the rollup rebuilds them."""
    con = store._con
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT session_id FROM calls WHERE {where}"
    )
    try:
        if con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [ROLLUP]
        ).fetchone():
            con.execute(
                f"DELETE FROM {ROLLUP} WHERE session_id IN (SELECT session_id FROM _touched)"
            )
        con.execute(
            "UPDATE calls SET seq = ? WHERE session_id IN (SELECT session_id FROM _touched)",
            [_version(store._con) + 1],
        )
    finally:
        con.execute("DROP TABLE IF EXISTS _touched")


def retag_calls(store: Store, tags: pa.Table) -> int:
    """Set the tags of the calls named by (trace_id, span_id); null tags take the defaults
    (session and turn: the trace; feature: the service). Returns calls changed."""
    con = store._con
    changed = (
        "WHERE calls.trace_id = t.trace_id AND calls.span_id = t.span_id AND ("
        "calls.session_id IS DISTINCT FROM coalesce(t.session_id, calls.trace_id) "
        "OR calls.feature IS DISTINCT FROM coalesce(t.feature, calls.service_name) "
        "OR calls.prompt_version IS DISTINCT FROM t.prompt_version "
        "OR calls.turn_id IS DISTINCT FROM coalesce(t.turn_id, calls.trace_id) "
        "OR calls.tenant IS DISTINCT FROM t.tenant)"
    )
    with store._lock, store.transaction():
        con.register("_tags", tags)
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _retag AS "
                f"SELECT calls.trace_id, calls.span_id FROM calls, _tags t {changed}"
            )
            n = con.execute("SELECT count(*) FROM _retag").fetchone()
            count = int(n[0]) if n else 0
            if count:
                mine = "(trace_id, span_id) IN (SELECT (trace_id, span_id) FROM _retag)"
                _touch(store, mine)
                con.execute(
                    "UPDATE calls SET session_id = coalesce(t.session_id, calls.trace_id), "
                    "feature = coalesce(t.feature, calls.service_name), "
                    "prompt_version = t.prompt_version, "
                    "turn_id = coalesce(t.turn_id, calls.trace_id), "
                    "request_id = coalesce(t.turn_id, calls.response_id, calls.request_id), "
                    f"tenant = t.tenant, seq = {_version(store._con) + 1} FROM _tags t " + changed
                )
            return count
        finally:
            con.unregister("_tags")
            con.execute("DROP TABLE IF EXISTS _retag")


_PAIR_COLUMNS = (
    "a.trace_id AS a_trace, a.span_id AS a_span, b.trace_id AS b_trace, b.span_id AS b_span, "
    "a.model AS a_model, b.model AS b_model"
)
_SAME_USAGE = (
    "a.input_tokens IS NOT DISTINCT FROM b.input_tokens "
    "AND a.output_tokens IS NOT DISTINCT FROM b.output_tokens AND a.failed = b.failed "
    "AND a.scope IS DISTINCT FROM b.scope "
    "AND NOT coalesce(a.response_id <> b.response_id, false)"
)
_NEEDED = (
    "trace_id", "span_id", "parent_span_id", "model", "provider", "input_tokens",
    "output_tokens", "failed", "scope", "response_id", "start_time", "duration_ms",
)  # fmt: skip
_START = "epoch_us(x.start_time)"
_END = "(epoch_us(x.start_time) + CAST(coalesce(x.duration_ms, 0) * 1000 AS BIGINT))"


def _t(expr: str, side: str) -> str:
    return expr.replace("x.", f"{side}.")


_WITHIN = (
    f"(({_t(_START, 'a')} >= {_t(_START, 'b')} - {_SLACK_US} AND {_t(_END, 'a')} <= {_t(_END, 'b')} + {_SLACK_US}) "
    f"OR ({_t(_START, 'b')} >= {_t(_START, 'a')} - {_SLACK_US} AND {_t(_END, 'b')} <= {_t(_END, 'a')} + {_SLACK_US}))"
)


def duplicate_pairs(
    store: Store, calls: pa.Table, *, siblings: bool, roots: bool, response_ids: bool
) -> list[tuple[Any, ...]]:
    """Pairs (new call, stored call) that may be two layers' records of one call.

    Evidence, any of: the same response id; siblings (same parent) with the same usage
    from different instrumentation scopes, one inside the other in time; or, across traces
    where one side is a trace's root call (an SDK span its framework's context did
    not reach), the same usage from different scopes, one inside the other in time.
    The caller still compares models, and says which kinds of pair can occur (siblings
    only where two calls share a parent or a trace came in pieces; pairs with a root
    call are looked for on the stored side always). Rows: a_trace, a_span, b_trace,
    b_span, a_model, b_model.
    """
    con = store._con
    queries = []
    if siblings:
        queries.append(
            f"SELECT {_PAIR_COLUMNS} FROM _new_calls a JOIN calls b "
            "ON a.trace_id = b.trace_id AND a.parent_span_id = b.parent_span_id "
            "AND a.input_tokens IS NOT DISTINCT FROM b.input_tokens "
            f"WHERE a.span_id <> b.span_id AND {_SAME_USAGE} AND {_WITHIN}"
        )
    window = (
        "b.start_time BETWEEN (SELECT min(start_time) - INTERVAL 1 HOUR FROM _new_calls) "
        "AND (SELECT max(start_time) + INTERVAL 1 HOUR FROM _new_calls)"
    )
    queries.append(
        f"SELECT {_PAIR_COLUMNS} FROM _new_calls a JOIN calls b "
        "ON a.input_tokens IS NOT DISTINCT FROM b.input_tokens "
        "AND a.output_tokens IS NOT DISTINCT FROM b.output_tokens "
        f"WHERE b.parent_span_id IS NULL AND a.trace_id <> b.trace_id AND {window} "
        f"AND {_SAME_USAGE} AND {_WITHIN}"
    )
    if roots:
        queries.append(
            f"SELECT {_PAIR_COLUMNS} FROM (SELECT * FROM _new_calls WHERE parent_span_id IS NULL) a "
            "JOIN calls b ON a.input_tokens IS NOT DISTINCT FROM b.input_tokens "
            "AND a.output_tokens IS NOT DISTINCT FROM b.output_tokens "
            f"WHERE a.trace_id <> b.trace_id AND {window} AND {_SAME_USAGE} AND {_WITHIN}"
        )
    if response_ids:
        queries.append(
            f"SELECT {_PAIR_COLUMNS} FROM _new_calls a JOIN calls b "
            "ON a.response_id = b.response_id AND a.provider IS NOT DISTINCT FROM b.provider "
            "WHERE NOT (a.trace_id = b.trace_id AND a.span_id = b.span_id)"
        )
    if not queries:
        return []
    keys = calls.select(["trace_id", "span_id"])
    with store._lock:
        con.register("_new_keys", keys)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _new_calls AS SELECT {', '.join(_NEEDED)} "
                "FROM calls SEMI JOIN _new_keys USING (trace_id, span_id)"
            )
            return con.execute(" UNION ".join(queries)).fetchall()
        finally:
            con.unregister("_new_keys")
            con.execute("DROP TABLE IF EXISTS _new_calls")


def calls_by_key(store: Store, keys: Iterable[tuple[str, str]]) -> pa.Table:
    return _select_in(store, "calls", _keys(keys))


def replace_calls(store: Store, drop: Iterable[tuple[str, str]], rows: pa.Table | None) -> int:
    """Delete the calls named in `drop` and (re)write `rows` in their place, in one
    transaction. Returns the calls deleted and not written back."""
    ids = _keys(drop)
    con = store._con
    with store._lock, store.transaction():
        con.register("_drop", ids)
        try:
            where = "(trace_id, span_id) IN (SELECT (trace_id, span_id) FROM _drop)"
            _touch(store, where)
            before = store._count_raw("calls")
            con.execute(f"DELETE FROM calls WHERE {where}")
        finally:
            con.unregister("_drop")
        if rows is not None and rows.num_rows:
            store.insert("calls", rows)
        return before - store._count_raw("calls")
