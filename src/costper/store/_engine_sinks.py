"""The engine's side of a write staged by store/_engine_writes.py: one atomic apply.

PostgreSQL: costper's tables are created if missing (store/_migrations.py's
DDL with PostgreSQL's type names); costper's writers take one advisory lock
and every table of the write is locked against other tools' writers (SHARE
ROW EXCLUSIVE: readers go on), `seq` is max(seq)+1 read
under that lock, keys gone are deleted, and rows are copied in (COPY) and
inserted where their key is not stored: one transaction, so a failure
writes nothing.

A Spark Parquet folder (`pyspark://DIR`): each table is DIR/<table>/, append
only. Under a lock file (DIR/.costper-write.lock), the rows whose key is
already in the folder are dropped, each table's rows are written by pyarrow
to a hidden temporary file (Spark and pyarrow skip names starting with '.')
and renamed to part-<seq>-<uuid>.parquet, so a reader sees a whole part or
none. A table kept as one file DIR/<table>.parquet becomes a folder holding
that file (hard-linked, then the old name removed) on the first write. A
write that would edit stored rows (a late root span re-tagging calls, two
layers' records of one call merged) is refused before anything is written:
Parquet parts are not rewritten in place.
"""

from __future__ import annotations

import fcntl
import io
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from costper.errors import StoreError
from costper.store._engine_writes import Changes
from costper.store._migrations import PG_TYPES, PG_UNINDEXED, ddl
from costper.store._schema import TABLES

LOCK_FILE = ".costper-write.lock"


class PostgresSink:
    def __init__(self, backend: Any, lock: threading.RLock, where: str) -> None:
        self.con = backend.con  # psycopg's connection (autocommit: transactions are explicit)
        self.lock = lock
        self.where = where

    def read_only_reason(self) -> str | None:
        """Why this login cannot write costper's tables, or None."""
        with self.lock, self.con.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
            recovery, ro = cur.fetchone() or (False, "off")
            if recovery or ro == "on":
                return "the server is read-only (a replica, or transaction_read_only)"
            for name in TABLES:
                cur.execute(
                    "SELECT CASE WHEN to_regclass(%s) IS NULL "
                    "THEN has_schema_privilege(current_schema(), 'CREATE') "
                    "ELSE has_table_privilege(to_regclass(%s), 'INSERT') "
                    "AND has_table_privilege(to_regclass(%s), 'DELETE') END",
                    [f'"{name}"'] * 3,
                )
                row = cur.fetchone()
                if not (row and row[0]):
                    return f"user {self.con.info.user} may not write table {name}"
        return None

    def apply(self, changes: Changes) -> dict[str, int]:
        names = sorted(set(changes.rows) | set(changes.gone))
        added: dict[str, int] = {}
        with self.lock, self.con.transaction(), self.con.cursor() as cur:
            # costper's writers one at a time per database, DDL included (two concurrent
            # CREATE TABLE IF NOT EXISTS can both try to create the table).
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('costper write'))")
            for name in names:
                cur.execute(ddl(name, types=PG_TYPES, unindexed=PG_UNINDEXED))
                cur.execute(f'LOCK TABLE "{name}" IN SHARE ROW EXCLUSIVE MODE')
            seq = None
            if "calls" in names:
                cur.execute("SELECT coalesce(max(seq), 0) + 1 FROM calls")
                seq = int((cur.fetchone() or (1,))[0])
            for name, keys in changes.gone.items():
                tmp = self._copy(cur, name, keys)
                on = " AND ".join(f't."{k}" = g."{k}"' for k in keys.column_names)
                cur.execute(f'DELETE FROM "{name}" t USING "{tmp}" g WHERE {on}')
            if changes.sessions:
                cur.execute(
                    "UPDATE calls SET seq = %s WHERE session_id = ANY(%s)",
                    [seq, changes.sessions],
                )
            for name, rows in changes.rows.items():
                if name == "calls":
                    rows = _with_seq(rows, seq or 1)
                tmp = self._copy(cur, name, rows)
                cols = ", ".join(f'"{f.name}"' for f in TABLES[name][0])
                on = " AND ".join(f't."{k}" = i."{k}"' for k in TABLES[name][1])
                cur.execute(
                    f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM "{tmp}" i '
                    f'WHERE NOT EXISTS (SELECT 1 FROM "{name}" t WHERE {on})'
                )
                added[name] = cur.rowcount
        return added

    def _copy(self, cur: Any, name: str, rows: pa.Table) -> str:
        """`rows` into a temporary table dropped at commit, by COPY."""
        tmp = f"_costper_in_{name}_{len(rows.column_names)}"
        types = {f.name: PG_TYPES[f.type] for f in TABLES[name][0]}
        cols = ", ".join(f'"{c}" {types[c]}' for c in rows.column_names)
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{tmp}" ({cols}) ON COMMIT DROP')
        names = ", ".join(f'"{c}"' for c in rows.column_names)
        text = io.BytesIO()  # CSV by Arrow: nulls unquoted-empty, '' quoted, floats exact
        pacsv.write_csv(
            rows, text, pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
        with cur.copy(f'COPY "{tmp}" ({names}) FROM STDIN (FORMAT csv)') as copy:
            copy.write(text.getvalue())
        return tmp


class ParquetSink:
    def __init__(self, folder: Path | None, refresh: Any, where: str) -> None:
        self.folder = folder
        self.refresh = refresh  # re-registers a table's Spark view from its folder
        self.where = where

    def read_only_reason(self) -> str | None:
        if self.folder is None:
            return "no folder in the URL (pyspark://DIR names where the tables are)"
        if not os.access(self.folder, os.W_OK):
            return f"no write permission on {self.folder}"
        return None

    def apply(self, changes: Changes) -> dict[str, int]:
        assert self.folder is not None
        if changes.gone:
            what = ", ".join(f"{t.num_rows} {n}" for n, t in changes.gone.items())
            raise StoreError(
                f"{self.where}: this write edits stored rows ({what}: late tags or two "
                "layers' records of one call merged); a Parquet folder is append-only in "
                "costper, so nothing was written (ingest these traces into PostgreSQL or "
                "DuckDB, or send each trace whole)"
            )
        added: dict[str, int] = {}
        with _locked(self.folder / LOCK_FILE):
            seq = self._max_seq() + 1
            ready: list[tuple[Path, Path]] = []
            try:
                for name, rows in changes.rows.items():
                    rows = self._unseen(name, rows)
                    added[name] = rows.num_rows
                    if not rows.num_rows:
                        continue
                    if name == "calls":
                        rows = _with_seq(rows, seq)
                    folder = self._folder(name)
                    part = f"part-{seq:010d}-{uuid.uuid4().hex}.parquet"
                    tmp = folder / f".{part}.tmp"
                    pq.write_table(rows, tmp)
                    ready.append((tmp, folder / part))
                for tmp, final in ready:
                    os.replace(tmp, final)
            finally:
                for tmp, _ in ready:
                    tmp.unlink(missing_ok=True)
        for name in changes.rows:
            self.refresh(name)
        return added

    def _where(self, name: str) -> Path | None:
        assert self.folder is not None
        for candidate in (self.folder / name, self.folder / f"{name}.parquet"):
            if candidate.exists():
                return candidate
        return None

    def _folder(self, name: str) -> Path:
        """DIR/<name>/, made on first use; a single DIR/<name>.parquet moved inside."""
        assert self.folder is not None
        folder = self.folder / name
        if folder.is_dir():
            return folder
        staging = self.folder / f".{name}.{uuid.uuid4().hex}"
        staging.mkdir()
        single = self.folder / f"{name}.parquet"
        if single.is_file():
            os.link(single, staging / "part-0000000000-single.parquet")
        os.replace(staging, folder)
        single.unlink(missing_ok=True)
        return folder

    def _read(self, name: str, columns: list[str], filter: Any = None) -> pa.Table:
        where = self._where(name)
        if where is None:
            return pa.table({c: pa.array([], TABLES[name][0].field(c).type) for c in columns})
        data = ds.dataset(where, format="parquet")
        out: pa.Table = data.to_table(columns=columns, filter=filter)
        return out

    def _max_seq(self) -> int:
        seqs = self._read("calls", ["seq"]).column("seq")
        top = pc.max(seqs).as_py() if len(seqs) else None
        return int(top or 0)

    def _unseen(self, name: str, rows: pa.Table) -> pa.Table:
        """`rows` whose key is not in the folder (read under the lock: exact)."""
        key = list(TABLES[name][1])
        first = key[0]
        stored = self._read(name, key, ds.field(first).isin(rows.column(first).unique()))
        if not stored.num_rows:
            return rows
        mark = "_costper_stored"
        seen = stored.append_column(mark, pa.array([True] * stored.num_rows))
        joined = rows.join(seen, key, join_type="left outer")
        fresh = joined.filter(pc.is_null(joined.column(mark))).drop_columns([mark])
        return fresh.select(rows.column_names).cast(rows.schema)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` across processes (one writer per folder at a time)."""
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _with_seq(rows: pa.Table, seq: int) -> pa.Table:
    i = rows.schema.get_field_index("seq")
    return rows.set_column(i, "seq", pa.array([seq] * rows.num_rows, pa.int64()))
