"""The storage seam: the only module that imports `duckdb`.

Everything else sees Ibis tables (`Store.table`) and hands Arrow batches to
`Store.insert`. Writes are atomic per batch (one transaction over every table
in it) and idempotent (rows whose key is already stored are skipped), so a
file or request ingested twice counts once and a rejected batch writes
nothing. A `data_version` counter in `meta` moves on every write, so callers
can cache query results by it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa

from costper.errors import InputError, StoreError
from costper.store._schema import SCHEMA_VERSION, TABLES

ROLLUP = "session_rollup"

_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us"): "TIMESTAMP",
}


def _ddl(name: str) -> str:
    schema, key, not_null = TABLES[name]
    cols = []
    for f in schema:
        col = f'"{f.name}" {_SQL_TYPES[f.type]}'
        if f.name in not_null:
            col += " NOT NULL"
        cols.append(col)
    cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in key) + ")")
    return f'CREATE TABLE IF NOT EXISTS "{name}" (' + ", ".join(cols) + ")"


def conform(name: str, batch: pa.Table) -> pa.Table:
    """Arrange a batch as the table's schema: missing columns null, order fixed."""
    schema = TABLES[name][0]
    cols = []
    for f in schema:
        if f.name in batch.column_names:
            col = batch.column(f.name)
            if col.type != f.type:
                col = col.cast(f.type)
            cols.append(col)
        else:
            cols.append(pa.nulls(batch.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


class Store:
    """A costper store in one DuckDB file (or in memory with ':memory:')."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, path: str, *, read_only: bool = False
    ) -> None:
        self._con = con
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0
        self.ibis = ibis.duckdb.from_connection(con)
        self._rollup_sql: dict[Callable[[ibis.Table], ibis.Table], str] = {}
        self._migrate()

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Store:
        p = str(path)
        if p != ":memory:":
            parent = Path(p).parent
            if not parent.exists():
                raise StoreError(f"{p}: the folder {parent} does not exist")
            if read_only and not Path(p).exists():
                raise StoreError(
                    f"{p}: no store here yet; run `costper demo` or `costper ingest` first"
                )
        try:
            con = duckdb.connect(p, read_only=read_only)
        except duckdb.Error as e:
            raise StoreError(f"{p}: cannot open the store: {e}") from None
        return cls(con, p, read_only=read_only)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self._lock:
            if self.read_only:
                try:
                    row = self._con.execute(
                        "SELECT value FROM meta WHERE key = 'schema_version'"
                    ).fetchone()
                except duckdb.Error:
                    raise StoreError(f"{self.path}: not a costper store (no meta table)") from None
                if row is None or int(row[0]) != SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: store schema version {row and row[0]} is not "
                        f"{SCHEMA_VERSION}; open it once for writing to migrate"
                    )
                return
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
            )
            row = self._con.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema version {row[0]} is newer than this costper "
                    f"({SCHEMA_VERSION}); upgrade costper"
                )
            if row is not None and int(row[0]) < SCHEMA_VERSION:
                self._upgrade(int(row[0]))
            if row is None:
                self._con.execute("BEGIN")
                for name in TABLES:
                    self._con.execute(_ddl(name))
                self._con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?), ('data_version', '0')",
                    [str(SCHEMA_VERSION)],
                )
                self._con.execute("COMMIT")

    def _upgrade(self, version: int) -> None:
        """Schema 1 to 2: `calls.tenant`, `.scope`, `.response_id` (appended, so `SELECT *` order
        still matches the schema) and the `span_tags` table."""
        self._con.execute("BEGIN")
        try:
            if version < 2:
                self._con.execute("ALTER TABLE calls ADD COLUMN tenant VARCHAR")
                self._con.execute("ALTER TABLE calls ADD COLUMN scope VARCHAR")
                self._con.execute("ALTER TABLE calls ADD COLUMN response_id VARCHAR")
                self._con.execute(_ddl("span_tags"))
            self._con.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
            )
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

    def table(self, name: str) -> ibis.Table:
        if name not in TABLES:
            raise StoreError(f"no table {name!r} (tables: {', '.join(TABLES)})")
        return self.ibis.table(name)

    def version(self) -> int:
        with self._lock:
            row = self._con.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return int(row[0]) if row else 0

    def count(self, name: str) -> int:
        with self._lock:
            row = self._con.execute(
                f'SELECT count(*) FROM "{self.table(name).get_name()}"'
            ).fetchone()
        return int(row[0]) if row else 0

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        """Run an Ibis expression on this store, serialised with writes."""
        with self._lock:
            return self.ibis.to_pyarrow(expr)

    def execute(self, expr: ibis.Expr) -> Any:
        with self._lock:
            return self.ibis.execute(expr)

    def insert(self, name: str, batch: pa.Table) -> int:
        return self.insert_many({name: batch})[name]

    def insert_many(self, batches: Mapping[str, pa.Table]) -> dict[str, int]:
        """Insert batches into their tables in one transaction; return rows new to the store."""
        prepared = {}
        for name, batch in batches.items():
            if name not in TABLES:
                raise StoreError(f"no table {name!r}")
            b = conform(name, batch)
            _, key, not_null = TABLES[name]
            for col in not_null:
                nulls = b.column(col).null_count
                if nulls:
                    raise InputError(f"{name}: {nulls} row(s) without {col}", field=col)
            prepared[name] = b
        counts: dict[str, int] = {}
        with self._lock, self.transaction():
            if "calls" in prepared:
                seq = self.version() + 1
                b = prepared["calls"]
                i = b.schema.get_field_index("seq")
                prepared["calls"] = b.set_column(i, "seq", pa.array([seq] * b.num_rows, pa.int64()))
            for name, b in prepared.items():
                _, key, _ = TABLES[name]
                keys = ", ".join(f'"{k}"' for k in key)
                view = f"_batch_{name}"
                self._con.register(view, b)
                dedupe = ""
                if b.num_rows > 1 and b.group_by(list(key)).aggregate([]).num_rows < b.num_rows:
                    dedupe = f" QUALIFY row_number() OVER (PARTITION BY {keys}) = 1"
                try:
                    before = self._count_raw(name)
                    self._con.execute(
                        f'INSERT OR IGNORE INTO "{name}" SELECT * FROM "{view}"{dedupe}'
                    )
                    counts[name] = self._count_raw(name) - before
                finally:
                    self._con.unregister(view)
        return counts

    def _count_raw(self, name: str) -> int:
        row = self._con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write; bumps `data_version` so cached results expire.

        Re-entrant: inserts inside an open transaction join it, so a file
        streamed in many batches commits whole or not at all.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self._outer_transaction():
                    yield
            finally:
                self._depth = 0

    @contextmanager
    def _outer_transaction(self) -> Iterator[None]:
        with self._lock:
            self._con.execute("BEGIN")
            try:
                yield
                self._con.execute(
                    "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                    "WHERE key = 'data_version'"
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def update_calls(self, costs: pa.Table) -> int:
        """Set `cost`, `cost_source`, `infra_cost` of the calls named by (trace_id, span_id).

        Calls not named go back to their estimate, so a re-run of the billing
        join never leaves a stale bill behind. One transaction.
        """
        needed = ["cost", "cost_source", "infra_cost", "span_id", "trace_id"]
        missing = set(needed) - set(costs.column_names)
        if missing:
            raise StoreError(f"update_calls: missing columns {sorted(missing)}")
        with self._lock:
            self._con.register("_costs_in", costs.select(needed))
            try:
                return self._replace_costs("SELECT * FROM _costs_in")
            finally:
                self._con.unregister("_costs_in")

    def update_calls_from(self, expr: ibis.Table) -> int:
        """`update_calls` from an Ibis expression run inside the store, so millions of
        allocated costs never travel through Python."""
        return self._replace_costs(str(self.ibis.compile(expr)))

    def _replace_costs(self, costs_query: str) -> int:
        with self._lock, self.transaction():
            self._con.execute(
                "UPDATE calls SET cost = estimated_cost, cost_source = estimate_source, infra_cost = 0 "
                "WHERE cost_source = 'billed' OR infra_cost <> 0"
            )
            self._con.execute("DELETE FROM meta WHERE key = 'rollup_seq'")
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE _costs AS {costs_query}")
            try:
                row = self._con.execute("SELECT count(*) FROM _costs").fetchone()
                self._con.execute(
                    "UPDATE calls SET cost = c.cost, cost_source = c.cost_source, infra_cost = c.infra_cost "
                    "FROM _costs c WHERE calls.trace_id = c.trace_id AND calls.span_id = c.span_id"
                )
            finally:
                self._con.execute("DROP TABLE IF EXISTS _costs")
            return int(row[0]) if row else 0

    def session_rollup(self, builder: Callable[[ibis.Table], ibis.Table]) -> ibis.Table:
        """`builder(calls)` materialised as a table and kept current.

        Rolling millions of calls into sessions is the expensive part of every
        report, and calls arrive append-only: so the rollup is rebuilt whole
        only when its definition changes or costs were rewritten (a billing
        join), and otherwise catches up on the sessions touched by calls with
        a `seq` above its watermark. A read-only store with a stale rollup
        computes on the fly instead.
        """
        with self._lock:
            calls = self.table("calls")
            if builder not in self._rollup_sql:
                self._rollup_sql[builder] = str(self.ibis.compile(builder(calls)))
            full_sql = self._rollup_sql[builder]
            digest = hashlib.sha1(full_sql.encode()).hexdigest()
            meta = dict(
                self._con.execute(
                    "SELECT key, value FROM meta WHERE key IN ('rollup_seq', 'rollup_digest')"
                ).fetchall()
            )
            row = self._con.execute("SELECT coalesce(max(seq), 0) FROM calls").fetchone()
            latest = int(row[0]) if row else 0
            fresh_def = meta.get("rollup_digest") == digest and "rollup_seq" in meta
            if fresh_def and int(meta["rollup_seq"]) == latest:
                return self.ibis.table(ROLLUP)
            if self.read_only:
                return builder(calls)
            self._con.execute("BEGIN")
            try:
                if not fresh_def:
                    self._con.execute(f"CREATE OR REPLACE TABLE {ROLLUP} AS {full_sql}")
                else:
                    mark = int(meta["rollup_seq"])
                    touched = calls.filter(calls.seq > mark).select("session_id").distinct()
                    part_sql = str(
                        self.ibis.compile(builder(calls.semi_join(touched, "session_id")))
                    )
                    self._con.execute(
                        f"DELETE FROM {ROLLUP} WHERE session_id IN "
                        "(SELECT session_id FROM calls WHERE seq > ?)",
                        [mark],
                    )
                    self._con.execute(f"INSERT INTO {ROLLUP} BY NAME {part_sql}")
                self._con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('rollup_seq', ?), ('rollup_digest', ?)",
                    [str(latest), digest],
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            return self.ibis.table(ROLLUP)

    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """Raw SQL for benchmarks' hand-written baselines and diagnostics only."""
        with self._lock:
            return self._con.execute(query, params or []).fetch_arrow_table()


def open_store(target: str | Path, *, read_only: bool = False) -> Store:
    """Open a store by path (DuckDB file, created if absent) or 'duckdb://path' URL."""
    t = str(target)
    if t.startswith("duckdb://"):
        t = t[len("duckdb://") :] or ":memory:"
    elif "://" in t:
        raise StoreError(
            f"{t}: only DuckDB stores are supported for writing so far; "
            "other Ibis backends can be queried with costper.report(ibis_connection)"
        )
    return Store.open(t, read_only=read_only)
