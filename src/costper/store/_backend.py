"""Any Ibis backend as a `Source`, and opening one by URL.

A user whose calls outgrow one DuckDB file keeps costper's tables where the
rest of their data live (Spark, PostgreSQL, a warehouse) and points `--db` at
them by URL. costper reads there: every query is an Ibis expression compiled
for that engine, so only the answers travel. PostgreSQL and a Spark Parquet
folder also take ingest (calls, outcomes, span tags) through `writable()`
(store/_engine_writes.py); a source is read-only when its engine is another,
its URL says `?read_only=1`, or its login may not write (the reason is named).
The billing ingest and join stay with the DuckDB store, and say so.

Tables are read by costper's schema: a column the backend lacks reads as
null, one of another type is cast, so a table written by another tool (no
unsigned integers in PostgreSQL, say) reads as costper's. A table that is
missing reads as empty, so a warehouse with calls and outcomes but no bill
still reports. The driver's exceptions stop here: they become `StoreError`
naming the source.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from costper.errors import CostperError, ReadOnlyStore, StoreError
from costper.store._schema import TABLES

P = ParamSpec("P")
R = TypeVar("R")

SPARK_DEFAULTS = {
    "spark.master": "local[*]",
    # Loopback only: a local Spark driver otherwise listens on the machine's address.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # costper's times are UTC without a zone; Spark would read them in the JVM's zone.
    "spark.sql.session.timeZone": "UTC",
}


VERSION_TTL = 2.0


def _translates(method: Callable[P, R]) -> Callable[P, R]:
    """The engine's and driver's exceptions become StoreError, one line naming the source."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (CostperError, KeyboardInterrupt):
            raise
        except Exception as e:  # a driver's, Ibis's or the engine's: whatever it is, named
            where = getattr(args[0], "path", "source")
            raise StoreError(f"{where}: {type(e).__name__}: {_first_line(e)}") from e

    return wrapper


class BackendSource:
    """costper's tables on an Ibis backend; writable where `read_only` is false."""

    def __init__(
        self,
        backend: Any,
        *,
        path: str | None = None,
        owned: bool = True,
        read_only: bool = False,
        folder: Path | None = None,
    ) -> None:
        self.ibis = backend
        self.name = str(getattr(backend, "name", "ibis"))
        self.path = path or f"{self.name}://"
        self._owned = owned
        self._asked_read_only = read_only
        self._folder = folder
        self._why_read_only: str | None = None
        self._writer: Any = None
        self._tables: dict[str, ir.Table] = {}
        self._missing: set[str] = set()
        self._rollups: dict[Callable[[ir.Table], ir.Table], tuple[int, ir.Table]] = {}
        # One query at a time: a driver's connection (psycopg's, say) is not meant to
        # be shared by the server's threads mid-query; the engine parallelises inside.
        self._lock = threading.RLock()
        self._version: tuple[float, int] | None = None

    def __enter__(self) -> BackendSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            for _, cached in self._rollups.values():
                _release(cached)
            self._rollups.clear()
        if self._owned:
            try:
                self.ibis.disconnect()
            except Exception:  # closing a broken connection: nothing left to save
                pass

    @_translates
    def table(self, name: str) -> ir.Table:
        """The backend's table read as costper's schema (missing: empty)."""
        if name not in TABLES:
            raise StoreError(f"no table {name!r} (tables: {', '.join(TABLES)})")
        with self._lock:
            if name not in self._tables:
                self._tables[name] = self._conformed(name)
            return self._tables[name]

    def _conformed(self, name: str) -> ir.Table:
        schema = ibis.Schema.from_pyarrow(TABLES[name][0])
        if name not in set(self.ibis.list_tables()):
            self._missing.add(name)
            return ibis.memtable(TABLES[name][0].empty_table())
        t = self.ibis.table(name)
        have = t.schema()
        cols = []
        for col, dtype in schema.items():
            if col not in have:
                cols.append(ibis.null(dtype).name(col))
            elif have[col] != dtype:
                cols.append(t[col].cast(dtype).name(col))
            else:
                cols.append(t[col])
        return t.select(*cols)

    @_translates
    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        with self._lock:
            table: pa.Table = self.ibis.to_pyarrow(expr)
        return table

    @_translates
    def execute(self, expr: ir.Expr) -> Any:
        with self._lock:
            return self.ibis.execute(expr)

    def count(self, name: str) -> int:
        return int(self.execute(self.table(name).count()) or 0)

    def version(self) -> int:
        """A fingerprint of the data: rows and the latest time of each table, so a
        cached result is reused until something is added or removed. Taken at most
        once every `VERSION_TTL` seconds: on Spark it is three jobs, and one page
        asks for it several times."""
        now = time.monotonic()
        seen = self._version
        if seen is not None and now - seen[0] < VERSION_TTL:
            return seen[1]
        c, o, b = self.table("calls"), self.table("outcomes"), self.table("billing")
        parts = [
            c.aggregate(n=c.count(), t=c.start_time.max().cast("string"), s=c.seq.max()),
            o.aggregate(n=o.count(), t=o["at"].max().cast("string"), s=ibis.literal(0, "int64")),
            b.aggregate(
                n=b.count(), t=b.ChargePeriodEnd.max().cast("string"), s=ibis.literal(0, "int64")
            ),
        ]
        tagged = [p.mutate(k=ibis.literal(i, type="int64")) for i, p in enumerate(parts)]
        union = tagged[0].union(tagged[1]).union(tagged[2])
        found = self.to_arrow(union.order_by("k")).to_pylist()  # one query: one Spark job
        digest = hashlib.sha1(repr(found).encode()).digest()
        version = int.from_bytes(digest[:7], "big")
        self._version = (now, version)
        return version

    @_translates
    def session_rollup(self, builder: Callable[[ir.Table], ir.Table]) -> ir.Table:
        """`builder(calls)` computed once per data version and kept on the engine
        (Spark: a cached DataFrame; PostgreSQL, DuckDB: a temporary table), so
        only the first report after a change pays for rolling calls into
        sessions. It lives as long as this connection: a `serve` process or a
        notebook gains, a one-shot CLI report does not."""
        calls = self.table("calls")
        if "calls" in self._missing:
            return builder(calls)  # nothing to keep (and an in-memory table caches badly)
        version = self.version()
        with self._lock:
            hit = self._rollups.get(builder)
            if hit is not None and hit[0] == version:
                return hit[1]
            if hit is not None:
                _release(hit[1])
            cached = builder(calls).cache()
            self._rollups[builder] = (version, cached)
            return cached

    @property
    def read_only(self) -> bool:
        return self.read_only_reason() is not None

    def read_only_reason(self) -> str | None:
        """Why costper cannot write here, or None; asked of the engine once."""
        if self._asked_read_only:
            return "opened with ?read_only=1"
        if self._why_read_only is None:
            sink = self._sink()
            why = sink.read_only_reason() if sink is not None else None
            if sink is None:
                why = "costper writes to DuckDB, PostgreSQL and Spark Parquet folders"
            self._why_read_only = why or ""
        return self._why_read_only or None

    @_translates
    def _sink(self) -> Any:
        from costper.store._engine_sinks import ParquetSink, PostgresSink

        if self.name == "postgres":
            return PostgresSink(self.ibis, self._lock, self.path)
        if self.name == "pyspark":
            return ParquetSink(self._folder, self._register, self.path)
        return None

    def writable(self) -> Any:
        """The `Store` that ingest writes through (store/_engine_writes.py), one per source;
        refused (ReadOnlyStore) where this source is read-only."""
        if self.read_only:
            raise self.refuse("storing rows")
        with self._lock:
            if self._writer is None:
                from costper.store._engine_writes import EngineStore

                self._writer = EngineStore(self, self._sink())
            return self._writer

    def insert(self, name: str, batch: pa.Table) -> int:
        return int(self.writable().insert(name, batch))

    def insert_many(self, batches: Any) -> dict[str, int]:
        out: dict[str, int] = self.writable().insert_many(batches)
        return out

    def refresh(self) -> None:
        """Forget what was read of the tables: a write just changed them."""
        with self._lock:
            self._tables.clear()
            self._missing.clear()
            self._version = None

    def _register(self, name: str) -> None:
        if self._folder is not None:
            with self._lock:
                _register_view(self.ibis._session, self._folder, name)

    def refuse(self, what: str) -> ReadOnlyStore:
        return read_only_error(self.path, self.name, what, self.read_only_reason())


def read_only_error(
    where: str, backend: str, what: str = "writing", why: str | None = None
) -> ReadOnlyStore:
    return ReadOnlyStore(
        f"{where}: this {backend} source is read-only ({why or 'opened read-only'}), so "
        f"{what} is refused; read commands (report, compare, whatif, reconcile, export "
        "focus, serve) work here"
    )


def backend_name(url: str) -> str:
    return urlsplit(url).scheme.split("+")[0].lower()


def shown(url: str) -> str:
    """The URL as messages show it: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def connect(url: str) -> BackendSource:
    """A read-only source for an Ibis connection URL (anything `ibis.connect` knows,
    plus `pyspark://[/DIR][?spark.conf=value...]`: a local Spark session on
    127.0.0.1 with each `DIR/<table>` Parquet file or folder as a table)."""
    url, read_only = _read_only_param(url)
    where = shown(url)
    name = backend_name(url)
    folder = None
    try:
        if name in ("pyspark", "spark"):
            backend, folder = _spark(url)
        else:
            backend = ibis.connect(url)
    except (CostperError, KeyboardInterrupt):
        raise
    except ModuleNotFoundError as e:
        raise StoreError(
            f"{where}: the {name} backend needs its driver: pip install 'ibis-framework[{name}]' "
            f"({e.name} is missing)"
        ) from None
    except Exception as e:
        raise StoreError(f"{where}: cannot connect: {type(e).__name__}: {_first_line(e)}") from None
    return BackendSource(backend, path=where, owned=True, read_only=read_only, folder=folder)


def _read_only_param(url: str) -> tuple[str, bool]:
    """The URL without costper's `read_only` parameter, and whether it was set."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    flags = [v for k, v in params if k == "read_only"]
    if not flags:
        return url, False
    query = "&".join(f"{k}={v}" for k, v in params if k != "read_only")
    kept = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return kept, flags[-1].lower() not in ("0", "false", "no", "")


def _spark(url: str) -> tuple[Any, Path | None]:
    from pyspark.sql import SparkSession

    # The JVM this process starts picks its own address from here: loopback, like the driver.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    parts = urlsplit(url)
    conf = dict(SPARK_DEFAULTS)
    conf.update(parse_qsl(parts.query))
    builder = SparkSession.builder
    for k, v in conf.items():
        builder = builder.config(k, v)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    folder = Path(parts.netloc + parts.path) if (parts.netloc or parts.path) else None
    if folder is not None:
        if not folder.is_dir():
            raise StoreError(f"{url}: no folder {folder} (expected one Parquet table per name)")
        for name in TABLES:
            _register_view(session, folder, name)
    return ibis.pyspark.connect(session), folder


def _register_view(session: Any, folder: Path, name: str) -> None:
    """`DIR/<name>` (a folder of Parquet parts) or `DIR/<name>.parquet` as Spark's view `name`."""
    for candidate in (folder / name, folder / f"{name}.parquet"):
        if candidate.exists():
            session.read.parquet(str(candidate)).createOrReplaceTempView(name)
            return
    session.catalog.dropTempView(name)  # one left by another folder in this session


def _release(cached: ir.Table) -> None:
    try:
        cached.release()
    except Exception:  # a temporary table goes with its connection anyway
        pass


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
