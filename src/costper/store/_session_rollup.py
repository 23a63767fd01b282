"""The stored session rollup brought up to date: rebuilt whole when its definition
changed, else caught up on the sessions touched by calls above its watermark.
The SQL comes from Ibis (`Store.session_rollup`) or from the store's kept
compiled SQL (`store._compiled`); this module only runs it, on the store's
writer cursor under its lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

from costper.store._compiled import hex_digest

if TYPE_CHECKING:
    from costper.store._store import Store

ROLLUP = "session_rollup"


def catch_up(store: Store, full_sql: str, digest: str, part: Callable[[int], str]) -> bool:
    """Bring the stored rollup up to date (`full_sql` stored as `digest`; `part(mark)`
    the rollup of the sessions touched above a watermark); False when it cannot be.

    Rolling millions of calls into sessions is the expensive part of every
    report, and calls arrive append-only: so the rollup is rebuilt whole
    only when its definition changes or costs were rewritten (a billing
    join), and otherwise catches up on the sessions touched by calls with
    a `seq` above its watermark. The watermark is read inside the catch-up's
    own transaction on the writer cursor, and every `seq` is taken inside
    the transaction that commits it under the same lock, so no committed
    call can sit below the watermark without being in the rollup. A
    read-only store with a stale rollup (or a rollup asked for inside an
    open write) cannot.
    """
    with store._reader() as r:
        if current(r.cur, digest):
            return True
    if store.read_only:
        return False
    with store._lock:
        if store._depth:
            return False
        with store._writing():
            meta = _meta(store._con)
            latest = _max_seq(store._con)
            fresh_def = meta.get("rollup_digest") == digest and "rollup_seq" in meta
            if fresh_def and int(meta["rollup_seq"]) == latest:
                return True
            if not fresh_def:
                store._con.execute(f"CREATE OR REPLACE TABLE {ROLLUP} AS {full_sql}")
            else:
                mark = int(meta["rollup_seq"])
                part_sql = part(mark)
                store._con.execute(
                    f"DELETE FROM {ROLLUP} WHERE session_id IN "
                    f"(SELECT session_id FROM calls WHERE seq > {int(mark)})"
                )
                store._con.execute(f"INSERT INTO {ROLLUP} BY NAME {part_sql}")
            # Values written into the SQL, not bound: binding a Python value makes
            # DuckDB import pandas (half a second of a `costper report`).
            store._con.execute(
                "INSERT OR REPLACE INTO meta VALUES "
                f"('rollup_seq', '{int(latest)}'), ('rollup_digest', '{hex_digest(digest)}')"
            )
        return True


def _meta(cur: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = cur.execute(
        "SELECT key, value FROM meta WHERE key IN ('rollup_seq', 'rollup_digest')"
    ).fetchall()
    return {str(k): str(v) for k, v in rows}


def _max_seq(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.execute("SELECT coalesce(max(seq), 0) FROM calls").fetchone()
    return int(row[0]) if row else 0


def current(cur: duckdb.DuckDBPyConnection, digest: str) -> bool:
    """Is the rollup current in this reader's snapshot? One read, no lock."""
    cur.execute("BEGIN")
    try:
        meta = _meta(cur)
        ok = (
            meta.get("rollup_digest") == digest
            and "rollup_seq" in meta
            and int(meta["rollup_seq"]) == _max_seq(cur)
        )
    finally:
        cur.execute("COMMIT")
    return ok
