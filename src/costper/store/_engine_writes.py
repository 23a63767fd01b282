"""Writes to another engine (PostgreSQL, a Spark Parquet folder) through the ingest paths
the DuckDB store already has.

Ingest is more than appending rows: a late root span re-tags calls stored
earlier, two instrumentation layers' records of one call are merged, a key
already stored is skipped. That logic lives once, as DuckDB SQL over a
`Store` (telemetry/_linking.py, store/_call_edits.py). So a write to another
engine runs it unchanged on a scratch in-memory DuckDB `Store` (an overlay)
that first loads from the engine every stored row the write can touch: the
rows with the batch's keys, the calls and span tags of its traces, and the
candidates for a duplicate (the same response id; the same token counts
within an hour). When the outermost transaction commits, the difference
between what was loaded and what the overlay holds (rows new or changed,
keys gone) is applied to the engine in one transaction of its own
(store/_engine_sinks.py), with `seq` taken there; then the overlay is
emptied. A batch the overlay refuses never reaches the engine.

Reads (`table`, `to_arrow`, `count`, `version`) go to the engine. Writes that
need the whole store at hand (billing ingest with its staging, the billing
join, prune, raw SQL) stay with a DuckDB file and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from costper.errors import StoreError
from costper.store._schema import TABLES, UNINDEXED
from costper.store._store import Store, conform

if TYPE_CHECKING:
    from costper.store._backend import BackendSource


@dataclass
class Changes:
    """One write as the engine applies it: rows to insert unless their key is stored,
    keys to delete first (rows removed or rewritten), and the sessions those calls
    left, whose calls take the new `seq` so a stored rollup rebuilds them."""

    rows: dict[str, pa.Table] = field(default_factory=dict)
    gone: dict[str, pa.Table] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rows or self.gone)


class Sink(Protocol):
    """An engine's side of a write (store/_engine_sinks.py)."""

    def read_only_reason(self) -> str | None: ...

    def apply(self, changes: Changes) -> dict[str, int]: ...


class EngineStore(Store):
    """A `Store` whose rows live on an Ibis backend; DuckDB in memory only stages a write."""

    joins_bills = False
    keeps_compiled = False

    def __init__(self, target: BackendSource, sink: Sink) -> None:
        super().__init__(duckdb.connect(":memory:"), target.path)
        self.target, self.sink = target, sink
        self.name = target.name
        self.ibis = target.ibis  # what readers compile for (store/_dialect.py asks it)
        for name in TABLES:
            self._con.execute(f'CREATE TABLE "_loaded_{name}" AS FROM "{name}" LIMIT 0')
        self._traces: set[str] = set()
        self._responses: set[str] = set()
        self._windows: set[tuple[Any, Any, tuple[int, ...]]] = set()
        self.owner: BackendSource | None = None

    # Reads: the engine's.

    def table(self, name: str) -> ir.Table:
        return self.target.table(name)

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        return self.target.to_arrow(expr)

    def execute(self, expr: ir.Expr) -> Any:
        return self.target.execute(expr)

    def count(self, name: str) -> int:
        return self.target.count(name)

    def version(self) -> int:
        return self.target.version()

    def session_rollup(self, builder: Callable[[ir.Table], ir.Table]) -> ir.Table:
        return self.target.session_rollup(builder)

    def _renew_writer(self) -> None:
        super()._renew_writer()
        self.ibis = self.target.ibis

    def close(self) -> None:
        """The overlay; and the engine's connection when this store was opened by URL
        (`open_store`), which is then its `owner`."""
        if self._closed:
            return
        super().close()
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.close()

    # Writes that need the whole store in DuckDB.

    def _refuse(self, what: str) -> StoreError:
        return StoreError(
            f"{self.path}: {what} needs a DuckDB store (--db costper.duckdb); on the "
            f"{self.name} backend costper stores calls, outcomes and span tags"
        )

    def stage(self, memory_limit: str = "") -> Any:
        raise self._refuse("ingesting a bill (its staging and restatement run in DuckDB)")

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse("replacing stored rows")

    def update_calls(self, costs: pa.Table) -> int:
        raise self._refuse("the billing join")

    def update_calls_from(self, expr: ibis.Table) -> int:
        raise self._refuse("the billing join")

    def prune(self, *args: Any, **kwargs: Any) -> dict[str, int]:
        raise self._refuse("pruning")

    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        raise self._refuse("raw SQL")

    # The write path.

    def insert_many(
        self, batches: Mapping[str, pa.Table], *, fresh: bool = False
    ) -> dict[str, int]:
        """The store's insert, after loading the stored rows it may meet; `fresh` is
        ignored (the overlay is small; the engine checks keys anyway)."""
        with self._lock, self.transaction():
            for name, batch in batches.items():
                if name in TABLES and batch.num_rows:
                    self._load_for(name, batch)
            return super().insert_many(batches)

    def prefetch(self, traces: Iterable[str], calls: pa.Table | None = None) -> None:
        """Load the stored calls and span tags of `traces`, and the stored calls that may
        be another layer's record of one of `calls`, that are not loaded yet."""
        wanted = set(traces)
        if calls is not None and "trace_id" in calls.column_names:
            wanted |= {t for t in calls.column("trace_id").to_pylist() if t}
        todo = sorted(wanted - self._traces)
        if todo:
            self._traces.update(todo)
            keys = pa.table({"trace_id": pa.array(todo, pa.string())})
            for name in ("calls", "span_tags"):
                self._load(name, self._pull(name, keys))
        if calls is not None and calls.num_rows:
            self._load_candidates(calls)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                with super().transaction():
                    yield
                return
            try:
                with super().transaction():
                    yield
                    changes = self._changes()
                if changes:
                    self.sink.apply(changes)
                    self.target.refresh()
            finally:
                self._reset()

    def _load_for(self, name: str, batch: pa.Table) -> None:
        if name == "calls":
            self.prefetch((), batch)
            return
        if name == "span_tags":
            if "trace_id" in batch.column_names:
                self.prefetch(t for t in batch.column("trace_id").to_pylist() if t)
            return
        key = list(TABLES[name][1])
        if set(key) <= set(batch.column_names):
            keys = batch.select(key).drop_null()
            self._load(name, self._pull(name, pa.table(keys.columns, names=key)))

    def _load_candidates(self, batch: pa.Table) -> None:
        """Stored calls that may be another layer's record of a call in `batch`."""
        if "response_id" in batch.column_names:
            ids = {r for r in batch.column("response_id").to_pylist() if r} - self._responses
            if ids:
                self._responses |= ids
                t = self.target.table("calls")
                self._load("calls", self._run(t.filter(t.response_id.isin(sorted(ids)))))
        if "start_time" not in batch.column_names or "input_tokens" not in batch.column_names:
            return
        start = pc.min_max(batch.column("start_time"))
        if start["min"].as_py() is None:
            return
        tokens = sorted({n for n in batch.column("input_tokens").to_pylist() if n is not None})
        asked = (start["min"].as_py(), start["max"].as_py(), tuple(tokens))
        if asked in self._windows:
            return  # the same calls again (their link step after their insert)
        self._windows.add(asked)
        t = self.target.table("calls")
        hour = ibis.interval(hours=1)  # store/_call_edits.py's window for another layer
        near = t.filter(
            t.start_time.between(
                ibis.literal(start["min"].as_py()) - hour, ibis.literal(start["max"].as_py()) + hour
            ),
            t.input_tokens.isin(tokens) | t.input_tokens.isnull(),
        )
        self._load("calls", self._run(near))

    def _pull(self, name: str, keys: pa.Table) -> pa.Table:
        """The stored rows matching `keys`: one column as an IN list (an in-memory table
        costs a row-by-row upload on PostgreSQL), several by a semi join."""
        t = self.target.table(name)
        if keys.num_columns == 1:
            col = keys.column_names[0]
            return self._run(t.filter(t[col].isin(keys.column(0).unique().to_pylist())))
        return self._run(t.semi_join(ibis.memtable(keys), keys.column_names))

    def _run(self, expr: ir.Table) -> pa.Table:
        return self.target.to_arrow(expr)

    def _load(self, name: str, rows: pa.Table) -> None:
        """Stored rows into the overlay as they are (`seq` kept), once each."""
        if not rows.num_rows:
            return
        key = ", ".join(f'"{k}"' for k in TABLES[name][1])
        self._con.register("_pulled", conform(name, rows))
        try:
            self._con.execute(
                f"CREATE OR REPLACE TEMP TABLE _fresh AS SELECT * FROM _pulled p WHERE NOT EXISTS "
                f'(SELECT 1 FROM "_loaded_{name}" l WHERE ({_cols(name, "l")}) '
                f"= ({_cols(name, 'p')})) QUALIFY row_number() OVER (PARTITION BY {key}) = 1"
            )
            self._con.execute(f'INSERT INTO "_loaded_{name}" FROM _fresh')
            if name in UNINDEXED:  # no key index to ignore a conflict by
                on = " AND ".join(f't."{k}" = f."{k}"' for k in TABLES[name][1])
                self._con.execute(
                    f'INSERT INTO "{name}" SELECT * FROM _fresh f '
                    f'WHERE NOT EXISTS (SELECT 1 FROM "{name}" t WHERE {on})'
                )
            else:
                self._con.execute(f'INSERT OR IGNORE INTO "{name}" FROM _fresh')
        finally:
            self._con.unregister("_pulled")
            self._con.execute("DROP TABLE IF EXISTS _fresh")

    def _changes(self) -> Changes:
        """What this transaction did, against what it loaded; `seq` left to the engine."""
        out = Changes()
        for name, (schema, key, _) in TABLES.items():
            cols = ", ".join(f'"{f.name}"' for f in schema if f.name != "seq")
            mine, loaded = f'"{name}"', f'"_loaded_{name}"'
            new = self._con.execute(
                f"SELECT {cols} FROM {mine} EXCEPT SELECT {cols} FROM {loaded}"
            ).fetch_arrow_table()
            old = self._con.execute(
                f"SELECT * FROM (SELECT {cols} FROM {loaded} EXCEPT SELECT {cols} FROM {mine})"
            ).fetch_arrow_table()
            if new.num_rows:
                out.rows[name] = conform(name, new)
            if old.num_rows:
                out.gone[name] = old.select(list(key))
                if name == "calls":
                    sessions = set(old.column("session_id").to_pylist())
                    out.sessions = sorted(s for s in sessions if s is not None)
        return out

    def _reset(self) -> None:
        for name in TABLES:
            self._con.execute(f'DELETE FROM "{name}"')
            self._con.execute(f'DELETE FROM "_loaded_{name}"')
        self._traces.clear()
        self._responses.clear()
        self._windows.clear()


def _cols(name: str, alias: str) -> str:
    return ", ".join(f'{alias}."{k}"' for k in TABLES[name][1])
