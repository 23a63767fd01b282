"""The store's schema on disk: tables made on first open, older stores brought up to
date (after a backup of the file as it was), a newer store refused."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager

import duckdb
import pyarrow as pa

from costper.errors import StoreError
from costper.store._schema import SCHEMA_VERSION, TABLES, UNINDEXED

SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us"): "TIMESTAMP",
}


PG_TYPES = {**SQL_TYPES, pa.float64(): "DOUBLE PRECISION", pa.string(): "TEXT"}
"""The same tables in PostgreSQL (store/_engine_sinks.py): only the names differ."""
PG_UNINDEXED = UNINDEXED - {"span_tags"}
"""PostgreSQL keeps `span_tags`' key index: a write there pulls its traces' rows by an
IN list and inserts a few rows behind a NOT EXISTS probe, both served by the index."""


def ddl(
    name: str,
    as_name: str | None = None,
    types: dict[pa.DataType, str] = SQL_TYPES,
    unindexed: frozenset[str] = UNINDEXED,
) -> str:
    schema, key, not_null = TABLES[name]
    cols = []
    for f in schema:
        col = f'"{f.name}" {types[f.type]}'
        if f.name in not_null:
            col += " NOT NULL"
        cols.append(col)
    if name not in unindexed:
        cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in key) + ")")
    return f'CREATE TABLE IF NOT EXISTS "{as_name or name}" (' + ", ".join(cols) + ")"


def migrate(
    con: duckdb.DuckDBPyConnection,
    path: str,
    read_only: bool,
    writing: Callable[[], AbstractContextManager[None]],
) -> str | None:
    """Make, check or upgrade the schema; the backup file written, if any."""
    if read_only:
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except duckdb.Error:
            raise StoreError(f"{path}: not a costper store (no meta table)") from None
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{path}: store schema version {row and row[0]} is not "
                f"{SCHEMA_VERSION}; open it once for writing to migrate"
            )
        return None
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is not None and int(row[0]) > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {row[0]} is newer than this costper "
            f"({SCHEMA_VERSION}); upgrade costper"
        )
    if row is not None and int(row[0]) < SCHEMA_VERSION:
        saved = backup(con, path, int(row[0]))
        upgrade(con, int(row[0]))
        return saved
    if row is None:
        with writing():
            for name in TABLES:
                con.execute(ddl(name))
            con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?), ('data_version', '0')",
                [str(SCHEMA_VERSION)],
            )
    return None


def backup(con: duckdb.DuckDBPyConnection, path: str, version: int) -> str | None:
    """A copy of the file as it was, before a migration touches it: a user who
    downgrades costper, or meets a migration bug, still has their data."""
    if path == ":memory:":
        return None
    con.execute("CHECKPOINT")
    target = f"{path}.v{version}.bak"
    shutil.copy2(path, target)
    return target


def upgrade(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Bring an older store to this schema in one transaction (2: bill restatements;
    3: `calls.tenant`, `.scope`, `.response_id`, appended so `SELECT *` order still
    matches the schema, and `span_tags`, made below with any other missing table;
    4: `calls.service_tier`; 5: `billing` rebuilt without its primary-key index, see
    UNINDEXED, and its snapshots marked as of 1970: lines are keyed by a new content
    hash since, so the next delivery of a scope must replace the lines stored under
    the old keys rather than add the same lines again; 6: `span_tags` rebuilt without
    its primary-key index, see UNINDEXED)."""
    con.execute("BEGIN")
    try:
        if version < 2:
            con.execute('ALTER TABLE billing ADD COLUMN IF NOT EXISTS "usage_kind" VARCHAR')
        if version < 3:
            for column in ("tenant", "scope", "response_id"):
                con.execute(f'ALTER TABLE calls ADD COLUMN IF NOT EXISTS "{column}" VARCHAR')
        if version < 4:
            con.execute('ALTER TABLE calls ADD COLUMN IF NOT EXISTS "service_tier" VARCHAR')
        if version < 5:
            _rebuild(con, "billing", "_billing_v5")
            con.execute("UPDATE bill_snapshots SET as_of = TIMESTAMP '1970-01-01 00:00:00'")
        if 3 <= version < 6:
            _rebuild(con, "span_tags", "_span_tags_v6")
        for name in TABLES:
            con.execute(ddl(name))
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _rebuild(con: duckdb.DuckDBPyConnection, name: str, scratch: str) -> None:
    """The table made again as `ddl` says now (an index dropped), its rows kept."""
    con.execute(ddl(name, scratch))
    con.execute(f'INSERT INTO "{scratch}" SELECT * FROM "{name}"')
    con.execute(f'DROP TABLE "{name}"')
    con.execute(f'ALTER TABLE "{scratch}" RENAME TO "{name}"')
