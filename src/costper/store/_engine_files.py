"""A query's result written to a file by the engine that runs it.

An export of millions of rows should not travel through Python: DuckDB
writes with `COPY ... TO`, PostgreSQL streams `COPY (...) TO STDOUT` in CSV
straight into the file, Spark writes with its own writer (one partition at
the end, so the file is one file in the query's order). Other engines, and
PostgreSQL's Parquet, go through Ibis's writers, which stream Arrow batches
from the engine to the file. CSV is RFC 4180 (quotes doubled, fields quoted
where needed, null as an empty field), gzip-compressed when the name ends
in `.gz`.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

import ibis.expr.types as ir
import pyarrow.parquet as pq

from costper.errors import StoreError


def write_file(source: Any, expr: ir.Table, path: Path, fmt: str) -> int:
    """Write `expr` to `path` as `fmt` ('csv' or 'parquet'); return the rows written."""
    if fmt not in ("csv", "parquet"):
        raise StoreError(f"{path}: cannot write {fmt!r} (csv or parquet)")
    if not path.parent.is_dir():
        raise StoreError(f"{path}: the folder {path.parent} does not exist")
    from costper.store._store import Store

    if isinstance(source, Store):
        n: int = source._read(lambda backend: _duckdb(backend, expr, path, fmt))
        return n
    with source._lock:
        backend = source.ibis
        name = source.name
        try:
            if name == "duckdb":
                return _duckdb(backend, expr, path, fmt)
            if name == "pyspark":
                return _spark(backend, expr, path, fmt)
            if name == "postgres" and fmt == "csv":
                return _postgres_csv(backend, expr, path)
            return _ibis(backend, expr, path, fmt)
        except StoreError:
            raise
        except Exception as e:  # the engine's or driver's, named with the source
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(f"{source.path}: {type(e).__name__}: {first}") from e


def _duckdb(backend: Any, expr: ir.Table, path: Path, fmt: str) -> int:
    query = str(backend.compile(expr))
    target = str(path).replace("'", "''")
    if fmt == "parquet":
        options = "FORMAT parquet"
    else:
        gz = ", COMPRESSION gzip" if path.name.endswith(".gz") else ", COMPRESSION none"
        options = f"FORMAT csv, HEADER{gz}"
    row = backend.con.execute(f"COPY ({query}) TO '{target}' ({options})").fetchone()
    return int(row[0]) if row else 0


def _postgres_csv(backend: Any, expr: ir.Table, path: Path) -> int:
    query = str(backend.compile(expr))
    with _opened(path) as out, backend.begin() as cur:
        with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                out.write(block)
        return int(cur.rowcount)


def _spark(backend: Any, expr: ir.Table, path: Path, fmt: str) -> int:
    session = backend._session
    df = session.sql(str(backend.compile(expr))).coalesce(1)
    with tempfile.TemporaryDirectory(prefix=".costper-", dir=path.parent) as tmp:
        folder = Path(tmp) / "out"
        if fmt == "parquet":
            session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            df.write.parquet(str(folder))
            part = _single_part(folder, ".parquet")
            n = int(pq.read_metadata(part).num_rows)
        else:
            writer = df.write.options(
                header="true",
                quote='"',
                escape='"',
                emptyValue='""',
                ignoreLeadingWhiteSpace="false",
                ignoreTrailingWhiteSpace="false",
                lineSep="\n",
                compression="gzip" if path.name.endswith(".gz") else "none",
            )
            writer.csv(str(folder))
            part = _single_part(folder, ".csv.gz" if path.name.endswith(".gz") else ".csv")
            n = (
                session.read.options(header="true", multiLine="true", escape='"')
                .csv(str(part))
                .count()
            )
        shutil.move(str(part), str(path))
    return int(n)


def _ibis(backend: Any, expr: ir.Table, path: Path, fmt: str) -> int:
    if fmt == "parquet":
        backend.to_parquet(expr, str(path))
        return int(pq.read_metadata(str(path)).num_rows)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            backend.to_csv(expr, fh)
    else:
        backend.to_csv(expr, str(path))
    return int(backend.execute(expr.count()))


def _single_part(folder: Path, suffix: str) -> Path:
    parts = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
    if len(parts) != 1 or not parts[0].name.endswith(suffix):
        raise StoreError(f"{folder}: expected one {suffix} part file, found {len(parts)}")
    return parts[0]


def _opened(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "wb")  # type: ignore[return-value]
    return path.open("wb")
