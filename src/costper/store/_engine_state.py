"""costper's own state kept on the user's engine: the stored session rollup.

Rolling millions of calls into sessions is the expensive part of every
report. DuckDB keeps it as a table caught up from `seq`; here the other
engines do the same, so a one-shot `report` against PostgreSQL or
`pyspark://DIR` reads the stored rollup instead of recomputing it:

- PostgreSQL: real tables (`costper_session_rollup`, `costper_meta`) written
  in one REPEATABLE READ transaction, the sessions touched by calls with
  `seq` above the watermark replaced.
- Spark on a folder of Parquet tables: Parquet under `DIR/_costper/rollup/`,
  one folder per version and a pointer (`DIR/_costper/rollup.json`) replaced
  last, so a reader sees the old version or the new, never half. Tables are
  appended as part files, so the files listed at the last catch-up name what
  is old: the sessions of new files are recomputed; a file rewritten or gone
  rebuilds the whole. The data version is that listing (names, sizes, mtimes):
  no Spark job.

The rollup is rebuilt whole when its definition (the builder's SQL) or the
calls' costs (the billing join's `call_costs`, store/_call_costs.py) change.
A read-only source reads a stored rollup that is current; one that is not
falls back to a rollup kept per connection, and says so once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import ibis
import ibis.expr.types as ir

from costper.store import _call_costs

if TYPE_CHECKING:
    from costper.store._backend import BackendSource

log = logging.getLogger("costper")

ROLLUP = "costper_session_rollup"
META = "costper_meta"
STATE_DIR = "_costper"
_VERSIONED = ("calls", "outcomes", "billing")

Builder = Callable[[ir.Table], ir.Table]
Listing = list[list[Any]]


class EngineState:
    """Nothing stored: the source keeps the rollup per connection."""

    def version(self) -> int | None:
        """A cheap data version, or None to let the source query one."""
        return None

    def session_rollup(self, builder: Builder) -> ir.Table | None:
        """The stored rollup, caught up; None when it cannot be stored here."""
        return None


def engine_state(source: BackendSource) -> EngineState:
    """The state a backend source can keep: PostgreSQL and `pyspark://DIR` store it."""
    folder = _call_costs.spark_folder(source)
    if source.name == "postgres":
        return PostgresState(source)
    if source.name == "pyspark" and folder is not None:
        return SparkDirState(source, folder)
    return EngineState()


def _digest(sql: str, costs: object) -> str:
    return hashlib.sha1(f"{sql}\n{costs!r}".encode()).hexdigest()


class _Unwritable(Exception):
    """The engine refused costper's write (permissions, a read-only replica)."""


class _Fallback(EngineState):
    """Say once that the rollup cannot be stored, then keep declining."""

    def __init__(self, source: BackendSource) -> None:
        self.source = source
        self.unwritable = False

    def _decline(self, why: str) -> None:
        if not self.unwritable:
            self.unwritable = True
            log.warning(
                "costper: %s: cannot store the session rollup here (%s); "
                "computing it once per connection instead",
                self.source.path,
                why,
            )


class PostgresState(_Fallback):
    """The rollup as a PostgreSQL table, its watermark in `costper_meta`."""

    def session_rollup(self, builder: Builder) -> ir.Table | None:
        if self.unwritable:
            return None
        src = self.source
        expr = builder(src.table("calls"))
        schema = expr.schema()
        full_sql = str(src.ibis.compile(expr))
        with src._lock:
            digest = _digest(full_sql, _call_costs.marker(src))
        try:
            with src._lock:
                if not self._current(digest):
                    why = src.read_only_reason()
                    if why is not None:
                        raise _Unwritable(why)
                    self._catch_up(builder, schema, full_sql, digest)
        except _Unwritable as e:
            self._decline(str(e))
            return None
        return ibis.table(schema, name=ROLLUP)

    def _current(self, digest: str) -> bool:
        """One small query: is the stored rollup of this definition and every call?"""
        with self.source.ibis.begin() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL", [META, ROLLUP])  # fmt: skip
            if not _one(cur):
                return False
            meta = _meta(cur)
            if meta.get("rollup_digest") != digest or "rollup_seq" not in meta:
                return False
            cur.execute("SELECT coalesce(max(seq), 0), count(*) FROM calls")
            latest, n = cur.fetchone()
            return bool(
                int(latest) == int(meta["rollup_seq"]) and int(n) == int(meta.get("rollup_n", -1))
            )

    def _catch_up(self, builder: Builder, schema: Any, full_sql: str, digest: str) -> None:
        import psycopg.errors as pe

        src = self.source
        cols = ", ".join(f'"{c}"' for c in schema)
        try:
            with src.ibis.begin() as cur:
                # One snapshot for the watermark and the rows rolled up under it.
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute(f"CREATE TABLE IF NOT EXISTS {META} (key text PRIMARY KEY, value text NOT NULL)")  # fmt: skip
                cur.execute(f"LOCK TABLE {META} IN EXCLUSIVE MODE")  # one catch-up at a time
                meta = _meta(cur)
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", [ROLLUP])
                have = _one(cur)
                mark = int(meta.get("rollup_seq", -1))
                cur.execute(
                    "SELECT coalesce(max(seq), 0), count(*), count(*) FILTER (WHERE seq > %s) FROM calls",  # fmt: skip
                    [mark],
                )
                latest, n, new = (int(x) for x in cur.fetchone())
                same_def = have and meta.get("rollup_digest") == digest and mark >= 0
                if same_def and latest == mark and n == int(meta.get("rollup_n", -1)):
                    return  # another process caught up meanwhile
                if same_def and n == int(meta.get("rollup_n", -1)) + new:
                    calls = src.table("calls")
                    touched = calls.filter(calls.seq > mark).select("session_id").distinct()
                    part = str(src.ibis.compile(builder(calls.semi_join(touched, "session_id"))))
                    cur.execute(
                        f"DELETE FROM {ROLLUP} WHERE session_id IN "
                        "(SELECT session_id FROM calls WHERE seq > %s)",
                        [mark],
                    )
                    cur.execute(f"INSERT INTO {ROLLUP} ({cols}) SELECT {cols} FROM ({part}) p")
                else:  # new definition, new costs, or calls removed: whole
                    cur.execute(f"DROP TABLE IF EXISTS {ROLLUP}")
                    cur.execute(f"CREATE TABLE {ROLLUP} ({_pg_columns(schema)})")
                    cur.execute(f"INSERT INTO {ROLLUP} ({cols}) SELECT {cols} FROM ({full_sql}) f")
                values = {"rollup_seq": latest, "rollup_n": n, "rollup_digest": digest}
                for key, value in values.items():
                    cur.execute(
                        f"INSERT INTO {META} VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        [key, str(value)],
                    )
        except (pe.InsufficientPrivilege, pe.ReadOnlySqlTransaction) as e:
            raise _Unwritable(str(e).strip().splitlines()[0]) from e


def _one(cur: Any) -> bool:
    row = cur.fetchone()
    return bool(row and row[0])


def _meta(cur: Any) -> dict[str, str]:
    cur.execute(f"SELECT key, value FROM {META} WHERE key LIKE 'rollup_%%'")
    return {str(k): str(v) for k, v in cur.fetchall()}


def _pg_columns(schema: Any) -> str:
    from ibis.backends.sql.datatypes import PostgresType

    return ", ".join(
        f'"{c}" {PostgresType.from_ibis(t).sql("postgres")}' for c, t in schema.items()
    )


class SparkDirState(_Fallback):
    """The rollup as versioned Parquet folders beside the tables of `pyspark://DIR`."""

    def __init__(self, source: BackendSource, folder: Path) -> None:
        super().__init__(source)
        self.folder = folder
        self.root = folder / STATE_DIR
        self.pointer = self.root / "rollup.json"
        self._shown: str | None = None  # the version folder the rollup view reads

    def _location(self, name: str) -> Path | None:
        for candidate in (self.folder / name, self.folder / f"{name}.parquet"):
            if candidate.exists():
                return candidate
        return None

    def listing(self, name: str) -> Listing:
        """A table's data files as Spark reads them (hidden and `_` files skipped),
        with size and mtime: the table's version, without a Spark job."""
        where = self._location(name)
        if where is None:
            return []
        if where.is_file():
            st = where.stat()
            return [[where.name, st.st_size, st.st_mtime_ns]]
        out = []
        for dirpath, dirs, files in os.walk(where):
            dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
            for f in sorted(files):
                if not f.startswith(("_", ".")):
                    p = Path(dirpath) / f
                    st = p.stat()
                    out.append([str(p.relative_to(where)), st.st_size, st.st_mtime_ns])
        return out

    def version(self) -> int:
        found: list[Any] = [self.listing(name) for name in _VERSIONED]
        found.append(_call_costs.marker(self.source))
        digest = hashlib.sha1(json.dumps(found).encode()).digest()
        return int.from_bytes(digest[:7], "big")

    def session_rollup(self, builder: Builder) -> ir.Table | None:
        if self.unwritable:
            return None
        src = self.source
        expr = builder(src.table("calls"))
        schema = expr.schema()
        digest = _digest(str(src.ibis.compile(expr)), _call_costs.marker(src))
        calls = self.listing("calls")
        state = self._read_pointer()
        if state is None or state["digest"] != digest or state["calls"] != calls:
            try:
                why = src.read_only_reason()
                if why is not None:
                    raise _Unwritable(why)
                with src._lock, self._locked():
                    state = self._catch_up(builder, digest, calls)
            except _Unwritable as e:
                self._decline(str(e))
                return None
        self._show(state)
        return ibis.table(schema, name="_costper_rollup")

    def _read_pointer(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.pointer.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return state if (self.root / "rollup" / state.get("folder", "?")).is_dir() else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One catch-up at a time across processes: an advisory lock on a file."""
        try:
            self.root.mkdir(exist_ok=True)
            handle = open(self.root / "lock", "a")  # noqa: SIM115 (held across the yield)
        except OSError as e:
            raise _Unwritable(f"{type(e).__name__}: {e.strerror or e}") from e
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _session(self) -> Any:
        return self.source.ibis._session

    def _catch_up(self, builder: Builder, digest: str, calls: Listing) -> dict[str, Any]:
        spark = self._session()
        old = self._read_pointer()
        if old is not None and old["digest"] == digest and old["calls"] == calls:
            return old  # another process caught up meanwhile
        self._refresh("calls", calls)
        src = self.source
        table = src.table("calls")
        before = {tuple(f[:1]): f for f in old["calls"]} if old else {}
        now = {tuple(f[:1]): f for f in calls}
        grown = (
            old is not None
            and old["digest"] == digest
            and all(now.get(k) == f for k, f in before.items())
        )
        if grown and old is not None:
            where = self._location("calls")
            assert where is not None
            new = [str(where / k[0]) for k in now if k not in before]
            spark.read.parquet(*new).select("session_id").distinct().createOrReplaceTempView(
                "_costper_touched"
            )
            touched = ibis.table({"session_id": "string"}, name="_costper_touched")
            self._show(old, "_costper_rollup_prev")
            prev = ibis.table(builder(table).schema(), name="_costper_rollup_prev")
            keep = spark.sql(str(src.ibis.compile(prev.anti_join(touched, "session_id"))))
            part = builder(table.semi_join(touched, "session_id"))
            df = keep.unionByName(spark.sql(str(src.ibis.compile(part))))
        else:
            df = spark.sql(str(src.ibis.compile(builder(table))))
        folder = f"v-{uuid.uuid4().hex[:12]}"
        try:
            df.write.parquet(str(self.root / "rollup" / folder))
        except Exception as e:
            if "ermission" in str(e):
                raise _Unwritable(str(e).strip().splitlines()[0]) from e
            raise
        state = {"folder": folder, "digest": digest, "calls": calls, "schema": df.schema.json()}
        tmp = self.root / f"rollup.json.{folder}"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.pointer)  # readers see the old version or this one
        self._prune(keep={folder, old["folder"] if old else folder})
        return state

    def _refresh(self, name: str, listing: Listing) -> None:
        """Point the table's view at the files listed now (a view lists its files once)."""
        where = self._location(name)
        if where is None:
            return
        spark = self._session()
        seen = {Path(unquote(urlsplit(f).path)) for f in spark.table(name).inputFiles()}
        want = {where / f[0] if where.is_dir() else where for f in listing}
        if seen != want:
            spark.read.parquet(str(where)).createOrReplaceTempView(name)

    def _show(self, state: dict[str, Any], view: str = "_costper_rollup") -> None:
        """Register the stored version as a view, its schema given (no inference job)."""
        if view == "_costper_rollup" and self._shown == state["folder"]:
            return
        from pyspark.sql.types import StructType

        schema = StructType.fromJson(json.loads(state["schema"]))
        path = str(self.root / "rollup" / state["folder"])
        self._session().read.schema(schema).parquet(path).createOrReplaceTempView(view)
        if view == "_costper_rollup":
            self._shown = state["folder"]

    def _prune(self, keep: set[str]) -> None:
        """Old versions go; the previous stays for readers still on it."""
        for entry in (self.root / "rollup").iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
