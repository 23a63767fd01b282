"""The storage seam: the only module that imports `duckdb`.

Everything else sees Ibis tables (`Store.table`) and hands Arrow batches to
`Store.insert`. Writes are atomic per batch (one transaction over every table
in it) and idempotent (rows whose key is already stored are skipped), so a
file or request ingested twice counts once and a rejected batch writes
nothing. A `data_version` counter in `meta` moves on every write, so callers
can cache query results by it.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import duckdb
import pyarrow as pa

from costper.errors import InputError, StoreError
from costper.store import _compiled, _session_rollup
from costper.store._migrations import migrate
from costper.store._schema import TABLES, UNINDEXED
from costper.store._session_rollup import ROLLUP
from costper.store._source import Source
from costper.store._stage import MEMORY_LIMIT, Stage
from costper.store._stage import apply as _apply_settings
from costper.store._stage import settings as _stage_settings

if TYPE_CHECKING:  # Ibis is loaded when an expression is first built or run, not to open
    import ibis
    import ibis.expr.types as ir

P = ParamSpec("P")
R = TypeVar("R")

_BAD_DATA = (duckdb.ConversionException, duckdb.ConstraintException, duckdb.InvalidInputException)


def _to_pyarrow(backend: Any, expr: ir.Expr) -> pa.Table:
    """Ibis' DuckDB `to_pyarrow` without the pandas import its converter module does
    (0.45 s of a 1.7 s `costper report` process): the same relation, cast to the
    expression's schema by Ibis' Arrow mapper. DuckDB's mapper differs from it only
    for null-typed columns, which are left to Ibis' own path."""
    if any(t.is_null() for t in expr.as_table().schema().types):
        return backend.to_pyarrow(expr)
    from ibis.formats.pyarrow import PyArrowData

    table = backend._to_duckdb_relation(expr).to_arrow_table()
    return expr.__pyarrow_result__(table, data_mapper=PyArrowData)


# What Ibis sets on every DuckDB connection it wraps (`Backend._post_connect`); set
# on every cursor here, so SQL runs alike whether or not Ibis was ever loaded.
_CURSOR_SETTINGS = ("SET timezone = 'UTC'", "SET python_enable_replacements = false")


class _Reader:
    """A reader cursor, and the Ibis backend on it once one is asked for."""

    __slots__ = ("_backend", "cur")

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur
        self._backend: Any = None

    @property
    def backend(self) -> Any:
        if self._backend is None:
            import ibis

            self._backend = ibis.duckdb.from_connection(self.cur)
        return self._backend


def _translates(method: Callable[P, R]) -> Callable[P, R]:
    """DuckDB's exceptions stop at the seam: bad data becomes InputError, anything
    else StoreError, one line naming the store."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except duckdb.Error as e:
            where = getattr(args[0], "path", "store")
            kind = InputError if isinstance(e, _BAD_DATA) else StoreError
            raise kind(f"{where}: {_first_line(e)}") from e

    return wrapper


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
    """A costper store in one DuckDB file (or in memory with ':memory:').

    Safe under concurrency by construction. Every write (inserts, cost
    updates, the session rollup's catch-up, `sql`) goes through one writer
    cursor under one lock, so transactions never interleave and each batch's
    `seq` is taken inside the transaction that commits it: sequence numbers
    are in commit order and the rollup, which reads its high-water mark inside
    its own transaction under the same lock, can never pass a row that is not
    yet committed. Readers borrow a cursor of their own from a pool (DuckDB
    cursors are separate connections to the same database, with snapshot
    isolation): a report never shares a pending result with a write, never
    sees half a batch and never waits for the writer. Table expressions are
    built from the known schema, so naming a table runs no query at all.
    A write that fails is rolled back; if the rollback itself fails the
    writer cursor is replaced, so the next request starts clean.
    """

    joins_bills = True
    """Whether stored calls take their billed share here (store/_engine_writes.py: not yet)."""
    keeps_compiled = True
    """Whether reports keep their SQL here, to run it without Ibis (store/_compiled.py);
    not on another engine's write overlay (store/_engine_writes.py)."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, path: str, *, read_only: bool = False
    ) -> None:
        self._root = con
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0
        self._con = self._cursor()
        self._ibis: Any = None
        self._pool: list[_Reader] = []
        self._pool_lock = threading.Lock()
        self._closed = False
        self.backup: str | None = None
        self._rollup_sql: dict[Callable[[ir.Table], ir.Table], str] = {}
        self._schemas: dict[str, ibis.Schema] = {}
        self._migrate()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self._root.cursor()
        for statement in _CURSOR_SETTINGS:
            cur.execute(statement)
        return cur

    @property
    def ibis(self) -> Any:
        """The Ibis backend on the writer cursor, made on first use: opening a store
        and running SQL compiled before (`store._compiled`) need no Ibis."""
        with self._lock:
            if self._ibis is None:
                import ibis

                self._ibis = ibis.duckdb.from_connection(self._con)
            return self._ibis

    @ibis.setter
    def ibis(self, backend: Any) -> None:
        self._ibis = backend

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
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                from costper.store._server_file import running_server

                server = running_server(p)
                if server is None:
                    raise StoreError(
                        f"{p}: the store is in use by another process; stop it and retry"
                    ) from None
                raise StoreError(
                    f"{p}: the store is in use by `costper serve` at {server['url']}; "
                    f"read it there ({server['url']}/api/report) or stop the server first"
                ) from None
            raise StoreError(f"{p}: cannot open the store: {_first_line(e)}") from None
        except duckdb.Error as e:
            raise StoreError(f"{p}: cannot open the store: {_first_line(e)}") from None
        return cls(con, p, read_only=read_only)

    def close(self) -> None:
        with self._lock, self._pool_lock:
            self._closed = True
            for r in self._pool:
                r.cur.close()
            self._pool.clear()
            self._con.close()
            self._root.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _reader(self) -> Iterator[_Reader]:
        """A cursor (and an Ibis backend on it) of this thread's own for one read."""
        with self._pool_lock:
            if self._closed:
                raise StoreError(f"{self.path}: the store is closed")
            reader = self._pool.pop() if self._pool else None
        if reader is None:
            reader = _Reader(self._cursor())
        healthy = False
        try:
            yield reader
            healthy = True
        finally:
            with self._pool_lock:
                if healthy and not self._closed and len(self._pool) < 32:
                    self._pool.append(reader)
                    reader = None
            if reader is not None:
                reader.cur.close()

    def _migrate(self) -> None:
        with self._lock:
            self.backup = migrate(self._con, self.path, self.read_only, self._writing)

    def table(self, name: str) -> ir.Table:
        """The table as an Ibis expression; built from the schema, so no query runs."""
        if name not in TABLES:
            raise StoreError(f"no table {name!r} (tables: {', '.join(TABLES)})")
        import ibis

        if name not in self._schemas:
            self._schemas[name] = ibis.Schema.from_pyarrow(TABLES[name][0])
        return ibis.table(self._schemas[name], name=name)

    @_translates
    def version(self) -> int:
        with self._reader() as r:
            return _version(r.cur)

    @_translates
    def count(self, name: str) -> int:
        if name not in TABLES:
            raise StoreError(f"no table {name!r} (tables: {', '.join(TABLES)})")
        with self._reader() as r:
            row = r.cur.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        return int(row[0]) if row else 0

    @_translates
    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        """Run an Ibis expression on a reader cursor: a consistent committed snapshot."""
        return self._read(lambda backend: _to_pyarrow(backend, expr))

    @_translates
    def execute(self, expr: ir.Expr) -> Any:
        return self._read(lambda backend: backend.execute(expr))

    def _read(self, run: Callable[[Any], Any]) -> Any:
        """One read; once more on a fresh cursor if DuckDB briefly loses sight of a
        table another connection just replaced (seen under load, right after a
        restart: "Table with name session_rollup does not exist")."""
        try:
            with self._reader() as r:
                return run(r.backend)
        except duckdb.CatalogException:
            with self._reader() as r:
                return run(r.backend)

    def prefetch(self, traces: Iterable[str], calls: pa.Table | None = None) -> None:
        """Nothing: a DuckDB store holds every row. A store staging a write for another
        engine (store/_engine_writes.py) loads the rows of these traces first."""

    def insert(self, name: str, batch: pa.Table, *, fresh: bool = False) -> int:
        return self.insert_many({name: batch}, fresh=fresh)[name]

    @_translates
    def insert_many(
        self, batches: Mapping[str, pa.Table], *, fresh: bool = False
    ) -> dict[str, int]:
        """Insert batches into their tables in one transaction; return rows new to the store.

        `fresh`: the caller knows that no key of the batches is stored yet and that no
        batch repeats a key, so a plain INSERT does (no duplicate check, no ON CONFLICT
        probe, no counting): the ingest of whole traces writes their `span_tags` rows
        so. Were the caller wrong, the primary key refuses the insert (InputError) and
        the transaction writes nothing; nothing is silently dropped. A table without a
        key index (UNINDEXED) gets the rows whose key is not stored yet, by anti join;
        `fresh` is then the caller's word (`link_calls` asks the store first)."""
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
                seq = _version(self._con) + 1  # the version this transaction commits as
                b = prepared["calls"]
                i = b.schema.get_field_index("seq")
                prepared["calls"] = b.set_column(i, "seq", pa.array([seq] * b.num_rows, pa.int64()))
            for name, b in prepared.items():
                _, key, _ = TABLES[name]
                keys = ", ".join(f'"{k}"' for k in key)
                view = f"_batch_{name}"
                self._con.register(view, b)
                if fresh:
                    try:
                        self._con.execute(f'INSERT INTO "{name}" SELECT * FROM "{view}"')
                    finally:
                        self._con.unregister(view)
                    counts[name] = b.num_rows
                    continue
                dedupe = ""
                if b.num_rows > 1 and self._has_duplicate_keys(view, keys):
                    dedupe = f" QUALIFY row_number() OVER (PARTITION BY {keys}) = 1"
                insert = f'INSERT OR IGNORE INTO "{name}" SELECT * FROM "{view}"'
                if name in UNINDEXED:
                    stored = " AND ".join(f't."{k}" = v."{k}"' for k in key)
                    insert = (
                        f'INSERT INTO "{name}" SELECT * FROM "{view}" v '
                        f'WHERE NOT EXISTS (SELECT 1 FROM "{name}" t WHERE {stored})'
                    )
                try:
                    before = self._count_raw(name)
                    self._con.execute(insert + dedupe)
                    counts[name] = self._count_raw(name) - before
                finally:
                    self._con.unregister(view)
        return counts

    def _has_duplicate_keys(self, view: str, keys: str) -> bool:
        """Whether a registered batch repeats a key (then the insert keeps one row per key).

        Asked of DuckDB, on its one thread: an Arrow `group_by` over the batch
        ran on Arrow's thread pool and cost ~20x more CPU time on a loaded core."""
        row = self._con.execute(
            f'SELECT count(*) > count(DISTINCT ({keys})) FROM "{view}"'
        ).fetchone()
        return bool(row and row[0])

    def replace(
        self,
        deletes: Mapping[str, pa.Table],
        inserts: Mapping[str, pa.Table],
        *,
        keep_identical: tuple[str, ...] = (),
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Delete the rows of each table that match a row of `deletes[table]` on its
        columns (nulls match nulls), then insert; one transaction. In the tables
        named by `keep_identical`, rows whose key is among the inserted ones stay,
        so counts say what really changed. Returns rows deleted and rows new per
        table: how a restated bill replaces its old lines."""
        deleted: dict[str, int] = {}
        with self._lock, self.transaction():
            for name, keys in deletes.items():
                if name not in TABLES:
                    raise StoreError(f"no table {name!r}")
                if keys.num_rows == 0:
                    deleted[name] = 0
                    continue
                view, kept = f"_delete_{name}", f"_keep_{name}"
                on = " AND ".join(
                    f't."{c}" IS NOT DISTINCT FROM k."{c}"' for c in keys.column_names
                )
                where = f'EXISTS (SELECT 1 FROM "{view}" k WHERE {on})'
                self._con.register(view, keys)
                if name in keep_identical and name in inserts:
                    key_cols = list(TABLES[name][1])
                    self._con.register(kept, inserts[name].select(key_cols))
                    cols = ", ".join(f'"{c}"' for c in key_cols)
                    where += f' AND ({cols}) NOT IN (SELECT ({cols}) FROM "{kept}")'.replace(
                        f"SELECT ({cols})", f"SELECT {cols}"
                    )
                try:
                    before = self._count_raw(name)
                    self._con.execute(f'DELETE FROM "{name}" t WHERE {where}')
                    deleted[name] = before - self._count_raw(name)
                finally:
                    self._con.unregister(view)
                    if name in keep_identical and name in inserts:
                        self._con.unregister(kept)
            inserted = self.insert_many(inserts) if inserts else {}
        return deleted, inserted

    @contextmanager
    def stage(self, memory_limit: str = MEMORY_LIMIT) -> Iterator[Stage]:
        """A scratch area for one bulk load (store/_stage.py): DuckDB capped at
        `memory_limit` (spilling beyond it), times read as UTC; the writer lock is
        held throughout, so nothing else writes between its checks and its commit."""
        with self._lock:
            if self.read_only:
                raise StoreError(f"{self.path}: opened read-only")
            saved = _stage_settings(self._con)
            _apply_settings(self._con, {"memory_limit": memory_limit, "TimeZone": "UTC"})
            st = Stage(self, self._con)
            try:
                yield st
            finally:
                st.close()
                _apply_settings(self._con, saved)

    @_translates
    def count_in_transaction(self, name: str) -> int:
        """Rows of a table as the writer sees them, uncommitted writes included."""
        with self._lock:
            return self._count_raw(name)

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
                with self._writing(bump=True):
                    yield
            finally:
                self._depth = 0

    @contextmanager
    def _writing(self, *, bump: bool = False) -> Iterator[None]:
        """BEGIN ... COMMIT on the writer cursor; on any failure ROLLBACK, and a
        fresh writer cursor if even that fails, so no error outlives its request."""
        with self._lock:
            if self.read_only:
                raise StoreError(f"{self.path}: opened read-only")
            try:
                self._con.execute("BEGIN")
            except duckdb.Error:
                self._renew_writer()
                self._con.execute("BEGIN")
            try:
                yield
                if bump:
                    self._con.execute(
                        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                        "WHERE key = 'data_version'"
                    )
                self._con.execute("COMMIT")
            except BaseException as e:
                try:
                    self._con.execute("ROLLBACK")
                except (duckdb.Error, RuntimeError):  # an interrupt may already have ended it
                    self._renew_writer()
                if isinstance(e, RuntimeError) and "interrupted" in str(e).lower():
                    raise KeyboardInterrupt from e  # DuckDB's word for Ctrl-C mid-query
                raise

    def _renew_writer(self) -> None:
        try:
            self._con.close()
        except duckdb.Error:
            pass
        self._con = self._cursor()
        self._ibis = None

    @_translates
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

    @_translates
    def update_calls_from(self, expr: ir.Table) -> int:
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

    @_translates
    def prune(self, before: datetime, *, dry_run: bool = False) -> dict[str, int]:
        """Delete what ended before `before`, in one transaction; rows per table.

        Whole sessions go (their calls and outcomes) once their last call is
        older, so no report ever sees half a session; bill lines go once their
        charge period has ended. The session rollup is rebuilt on next use.
        `dry_run` counts what would go and deletes nothing.
        """
        cutoff = before if before.tzinfo is None else before.astimezone(UTC).replace(tzinfo=None)
        old = "SELECT session_id FROM calls GROUP BY session_id HAVING max(start_time) < ?"
        where = {
            "outcomes": (
                f'session_id IN ({old}) OR ("at" < ? AND session_id NOT IN '
                "(SELECT session_id FROM calls))",
                [cutoff, cutoff],
            ),
            "calls": (f"session_id IN ({old})", [cutoff]),
            "billing": ('"ChargePeriodEnd" <= ?', [cutoff]),
        }
        if dry_run:
            with self._reader() as r:
                return {
                    name: int(
                        (
                            r.cur.execute(f"SELECT count(*) FROM {name} WHERE {w}", ps).fetchone()
                            or (0,)
                        )[0]
                    )
                    for name, (w, ps) in where.items()
                }
        deleted: dict[str, int] = {}
        with self._lock, self.transaction():
            for name, (w, ps) in where.items():
                row = self._con.execute(f"SELECT count(*) FROM {name} WHERE {w}", ps).fetchone()
                self._con.execute(f"DELETE FROM {name} WHERE {w}", ps)
                deleted[name] = int(row[0]) if row else 0
            self._con.execute("DELETE FROM meta WHERE key = 'rollup_seq'")
        return deleted

    @_translates
    def session_rollup(self, builder: Callable[[ir.Table], ir.Table]) -> ir.Table:
        """`builder(calls)` materialised as a table and kept current (`_rollup_usable`);
        on a read-only store with a stale rollup, or inside an open write, the
        expression computing it on the fly."""
        import ibis

        calls = self.table("calls")
        full_sql = self._rollup_full(builder)
        digest = hashlib.sha1(full_sql.encode()).hexdigest()
        if self._rollup_usable(full_sql, digest, lambda mark: self._rollup_part(builder, mark)):
            return ibis.table(builder(calls).schema(), name=ROLLUP)
        return builder(calls)

    def _rollup_full(self, builder: Callable[[ir.Table], ir.Table]) -> str:
        with self._lock:
            if builder not in self._rollup_sql:
                self._rollup_sql[builder] = str(self.ibis.compile(builder(self.table("calls"))))
            return self._rollup_sql[builder]

    def _rollup_part(self, builder: Callable[[ir.Table], ir.Table], mark: int) -> str:
        """The rollup of the sessions touched by calls above the watermark `mark`."""
        calls = self.table("calls")
        touched = calls.filter(calls.seq > mark).select("session_id").distinct()
        return str(self.ibis.compile(builder(calls.semi_join(touched, "session_id"))))

    def rollup_sql(self, builder: Callable[[ir.Table], ir.Table]) -> _compiled.Rollup | None:
        """The rollup's SQL for `store._compiled`: None if its catch-up does not make a template."""
        full_sql = self._rollup_full(builder)
        part = _compiled.template(
            self._rollup_part(builder, _compiled.MARK),
            self._rollup_part(builder, 1),
            {"mark": 1},
        )
        if part is None:
            return None
        return _compiled.Rollup(full_sql, hashlib.sha1(full_sql.encode()).hexdigest(), part)

    def _rollup_usable(self, full_sql: str, digest: str, part: Callable[[int], str]) -> bool:
        """Bring the stored rollup up to date (`store._session_rollup.catch_up`)."""
        return _session_rollup.catch_up(self, full_sql, digest, part)

    @_translates
    def run_compiled(self, key: str, values: Mapping[str, _compiled.Value]) -> pa.Table | None:
        """The rows of the query kept under `key` (`store._compiled`), its stored
        rollup brought up to date first, with no Ibis; None if none is kept or the
        rollup cannot be brought up to date (the caller then runs Ibis)."""
        with self._reader() as r:
            query = _compiled.load(r.cur, key)
        if query is None:
            return None
        rollup = query.rollup
        if not self._rollup_usable(rollup.full, rollup.digest, rollup.part_from):
            return None
        try:
            with self._reader() as r:
                return _compiled.run(r.cur, query, values)
        except duckdb.CatalogException:  # as `_read`
            with self._reader() as r:
                return _compiled.run(r.cur, query, values)

    @_translates
    def keep_compiled(self, key: str, query: _compiled.Query) -> None:
        """Keep a compiled query for `run_compiled` (not on a read-only store, nor
        inside an open write)."""
        if self.read_only:
            return
        with self._lock:
            if self._depth:
                return
            with self._writing():
                _compiled.save(self._con, key, query)

    @_translates
    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """Raw SQL for benchmarks' hand-written baselines and diagnostics only (writer cursor)."""
        with self._lock:
            try:
                return self._con.execute(query, params or []).fetch_arrow_table()
            except duckdb.Error:
                try:
                    self._con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _version(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
    return int(row[0]) if row else 0


def _duckdb_path(target: str) -> str | None:
    """The DuckDB file a --db value names, or None for another backend's URL (and for
    a DuckDB URL with `traces=`: its calls are a view, read through the backend)."""
    if target.startswith("duckdb://") and "traces=" in target:
        return None
    if target.startswith("duckdb://"):
        return target[len("duckdb://") :] or ":memory:"
    return None if "://" in target else target


def is_duckdb(target: str | Path) -> bool:
    """Does a --db value name a DuckDB store (a path or duckdb:// URL)?"""
    return _duckdb_path(str(target)) is not None


def open_store(target: str | Path, *, read_only: bool = False) -> Store:
    """Open a DuckDB store by path (created if absent) or 'duckdb://path' URL; another
    backend's URL opens that engine for writing (store/_engine_writes.py), refused
    naming the reason where it is read-only."""
    t = str(target)
    path = _duckdb_path(t)
    if path is None:
        from costper.store._backend import connect
        from costper.store._engine_writes import EngineStore

        source = connect(t)
        try:
            if read_only:
                raise source.refuse("opening it to write")
            writer: EngineStore = source.writable()
        except BaseException:
            source.close()
            raise
        writer.owner = source
        return writer
    return Store.open(path, read_only=read_only)


def open_source(target: str | Path, *, must_exist: bool = True, read_only: bool = False) -> Source:
    """What read commands open: a DuckDB store (writable, so its session rollup can be
    brought up to date; refused when absent if `must_exist`) or, by URL, any Ibis
    backend holding costper's tables (`postgres://`, `pyspark://DIR`, ...), read-only."""
    t = str(target)
    path = _duckdb_path(t)
    if path is not None:
        if must_exist and path != ":memory:" and not Path(path).exists():
            raise StoreError(
                f"{path}: no store here yet; run `costper demo` or `costper ingest` first"
            )
        return Store.open(path, read_only=read_only)
    from costper.store._backend import connect

    return connect(t)
