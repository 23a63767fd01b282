"""Bulk loads that never pass through Python: a scratch area on the writer's connection.

A million-line bill as Python objects or even as Arrow tables takes gigabytes;
DuckDB can read the file itself, check it with queries and copy it into the
store, holding at most `memory_limit` and spilling the rest to its temporary
directory. A `Stage` is that place: temporary tables and registered Arrow
tables live on the writer cursor (temporary tables are per connection), are
dropped when the stage closes, and every statement goes through the store's
lock, so a bulk write is one transaction like any other (`Store.transaction`).
The SQL comes from the caller (billing/ knows FOCUS); only this package holds
the driver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from costper.errors import InputError, StoreError

if TYPE_CHECKING:
    from costper.store._store import Store

_BAD_DATA = (
    duckdb.ConversionException,
    duckdb.ConstraintException,
    duckdb.InvalidInputException,
    duckdb.IOException,
)
MEMORY_LIMIT = "384MB"
"""DuckDB's own memory during a bulk load; the rest spills to disk. With Python,
pyarrow and Ibis loaded (about 200 MB) this keeps a 1M-line ingest under 1 GB."""


class Stage:
    """Temporary tables and registered Arrow tables for one bulk load (see module doc)."""

    def __init__(self, store: Store, con: duckdb.DuckDBPyConnection) -> None:
        self.path = store.path
        self._store = store
        self._con = con
        self._temps: list[str] = []
        self._views: list[str] = []

    def _run(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, params or [])
        except duckdb.Error as e:
            kind = InputError if isinstance(e, _BAD_DATA) else StoreError
            raise kind(_first_line(e)) from e

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self._run(sql, params)

    def create(
        self, name: str, query: str, params: list[Any] | None = None, *, big: bool = False
    ) -> None:
        """A table from a query, dropped when the stage closes. A `big` one (a whole
        file) is made in the store's file, not as a TEMP table: DuckDB writes it
        compressed, row group by row group, where a temporary table past
        `memory_limit` spills uncompressed and took 4x as long."""
        self._temps.append(name)
        kind = "" if big and self.path != ":memory:" else "TEMP "
        if not big:
            self._run(f'CREATE OR REPLACE {kind}TABLE "{name}" AS {query}', params)
            return
        # One thread: a parallel scan that must keep the file's order (rowid is the
        # line) buffers out-of-order chunks, and under `memory_limit` that took twice
        # as long as reading on one thread (measured: a 1M-line CSV, 55 s vs 26 s).
        threads = self._run("SELECT current_setting('threads')").fetchone()
        self._run("SET threads = 1")
        try:
            self._run(f'CREATE OR REPLACE {kind}TABLE "{name}" AS {query}', params)
        finally:
            self._run(f"SET threads = {int(threads[0]) if threads else 1}")

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self._run(sql, params).fetch_arrow_table()

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self._run(sql, params).fetchall()

    def batches(self, sql: str, size: int = 65536) -> Iterator[pa.RecordBatch]:
        """A query's result a batch at a time, so Python never holds all of it."""
        reader = self._run(sql).to_arrow_reader(size)
        yield from reader

    def register(self, name: str, table: pa.Table) -> None:
        """An Arrow table under a name (small tables: keys, lookups)."""
        self._views.append(name)
        self._con.register(name, table)

    def columns(self, query: str) -> list[tuple[str, str]]:
        """Column names and DuckDB types a query would return (nothing is read)."""
        return [(r[0], r[1]) for r in self.rows(f"DESCRIBE {query}")]

    def close(self) -> None:
        for name in self._views:
            try:
                self._con.unregister(name)
            except duckdb.Error:
                pass
        for name in self._temps:
            try:
                self._con.execute(f'DROP TABLE IF EXISTS "{name}"')
            except duckdb.Error:
                pass


def settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = ("memory_limit", "TimeZone", "preserve_insertion_order")
    return {n: str(con.execute(f"SELECT current_setting('{n}')").fetchone()[0]) for n in names}  # type: ignore[index]


def apply(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    for name, value in values.items():
        if not re.fullmatch(r"[A-Za-z0-9_./ -]+", value):
            continue
        con.execute(f"SET {name} = '{value}'")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
