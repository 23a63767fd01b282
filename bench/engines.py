"""Benchmark: `report --by feature` on DuckDB, Spark local[2] and PostgreSQL, same data, same run.

For each size (default 250k, 500k and 1M calls, a third as many sessions),
bench/report.py's generator writes calls and outcomes into a DuckDB store;
they are copied to Parquet (read by Spark local[2] on 127.0.0.1 through
`pyspark://DIR`) and into PostgreSQL (COPY, when a server answers at
--postgres). Each engine is opened by URL, as `--db` opens it. Per engine:
the first report (DuckDB builds its stored session rollup; Spark and
PostgreSQL compute the rollup and keep it for the connection), then the
median of --repeat reports with the rollup current. Ratios are against
DuckDB's median in the same run, and every engine's report is checked equal
to DuckDB's (counts exactly, money to 1e-9).

    python bench/engines.py [--calls 250000,500000,1000000] [--repeat 3]
                            [--postgres postgres://postgres@127.0.0.1:54329/costper_test]
                            [--engines duckdb,spark,postgres]
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from report import GENERATE_CALLS, GENERATE_OUTCOMES  # noqa: E402

from costper.config import Config  # noqa: E402
from costper.engine._report import report  # noqa: E402
from costper.store._schema import TABLES  # noqa: E402
from costper.store._source import Source  # noqa: E402
from costper.store._store import open_source, open_store  # noqa: E402

NOW = datetime(2026, 1, 31)
SPARK = "spark.master=local[2]&spark.sql.shuffle.partitions=4&spark.default.parallelism=2"


def generate(folder: Path, calls: int) -> Path:
    db = folder / "costper.duckdb"
    with open_store(db) as store:
        sessions = max(1, calls // 3)
        store.sql(GENERATE_CALLS.format(calls=calls, sessions=sessions))
        store.sql(GENERATE_OUTCOMES.format(sessions=sessions))
        (folder / "parquet").mkdir()
        for name in ("calls", "outcomes"):
            pq.write_table(
                store.to_arrow(store.table(name)), folder / "parquet" / f"{name}.parquet"
            )
    return db


def to_postgres(url: str, folder: Path, name: str) -> str:
    """A fresh database holding the Parquet tables, loaded with COPY."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    target = url.rsplit("/", 1)[0] + "/" + name
    import ibis

    con = ibis.connect(target)
    for table in ("calls", "outcomes", "billing"):
        con.create_table(table, schema=ibis.Schema.from_pyarrow(TABLES[table][0]))
    con.disconnect()
    with psycopg.connect(target.replace("postgres://", "postgresql://")) as pg:
        for table in ("calls", "outcomes"):
            data = pq.read_table(folder / "parquet" / f"{table}.parquet")
            buf = io.BytesIO()
            pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
            with pg.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
        pg.execute("ANALYZE")
    return target


def timed(source: Source, cfg: Config, repeat: int) -> tuple[float, float, dict[str, Any]]:
    t = time.perf_counter()
    first = report(source, ["feature"], config=cfg, now=NOW).to_dict()
    cold = time.perf_counter() - t
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        report(source, ["feature"], config=cfg, now=NOW)
        runs.append(time.perf_counter() - t)
    return cold, statistics.median(runs), first


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]  # fmt: skip
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]  # fmt: skip
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else [f"{path}: {a} / {b}"]
    return [] if a == b else [f"{path}: {a!r} / {b!r}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="250000,500000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:54329/costper_test")
    ap.add_argument("--engines", default="duckdb,spark,postgres")
    args = ap.parse_args()
    engines = args.engines.split(",")
    cfg = Config()
    root = Path(tempfile.mkdtemp(prefix="costper-engines-"))
    rows = []
    spark_sources: list[Source] = []
    for n in (int(x) for x in args.calls.split(",")):
        folder = root / f"n{n}"
        folder.mkdir()
        t = time.perf_counter()
        db = generate(folder, n)
        print(f"{n:,} calls: generated in {time.perf_counter() - t:.1f} s", flush=True)
        results: dict[str, tuple[float, float]] = {}
        with open_source(f"duckdb://{db}") as duck:
            cold, warm, expected = timed(duck, cfg, args.repeat)
        results["duckdb"] = (cold, warm)
        others: list[tuple[str, str]] = []
        if "spark" in engines:
            others.append(("spark", f"pyspark://{folder / 'parquet'}?{SPARK}"))
        if "postgres" in engines:
            t = time.perf_counter()
            try:
                url = to_postgres(args.postgres, folder, f"costper_bench_{n}")
            except Exception as e:  # no server: say so and go on
                print(f"  postgres: skipped ({type(e).__name__}: {str(e).splitlines()[0]})")
            else:
                print(f"  postgres: loaded in {time.perf_counter() - t:.1f} s", flush=True)
                others.append(("postgres", url))
        for name, url in others:
            source = open_source(url)
            cold, warm, got = timed(source, cfg, args.repeat)
            diff = differences(expected, got)
            assert not diff, f"{name} differs from DuckDB: {diff[:5]}"
            results[name] = (cold, warm)
            if name == "spark":
                spark_sources.append(source)  # closing would stop the shared Spark session
            else:
                source.close()
        base = results["duckdb"][1]
        for name, (cold, warm) in results.items():
            rows.append((n, name, cold, warm, warm / base))
            print(
                f"  {name:8s} first {cold:7.2f} s   rollup current: median {warm:7.2f} s"
                f"   ratio {warm / base:6.1f}x DuckDB   (same report: checked)",
                flush=True,
            )
    print("\nscaling (median, rollup current):")
    for name in engines:
        mine = [(n, warm) for n, e, _, warm, _ in rows if e == name]
        if len(mine) > 1:
            steps = ", ".join(
                f"{b[0] / a[0]:.0f}x data -> {b[1] / a[1]:.2f}x time"
                for a, b in zip(mine, mine[1:], strict=False)
            )
            print(f"  {name:8s} {steps}")
    for s in spark_sources[-1:]:
        s.close()


if __name__ == "__main__":
    main()
