"""Benchmark: `report --by feature` on DuckDB, Spark local[2] and PostgreSQL, same data, same run.

For each size (default 250k, 500k and 1M calls, a third as many sessions),
bench/report.py's generator writes calls and outcomes into a DuckDB store;
they are copied to Parquet part files (`DIR/<table>/part-00000.parquet`,
read by Spark local[2] on 127.0.0.1 through `pyspark://DIR`) and into
PostgreSQL (COPY, when a server answers at --postgres). Each engine is
opened by URL, as `--db` opens it, with a new connection per report (as each
CLI run opens one; Spark's JVM stays up). Per engine:

- first: the first report (every engine builds and stores its session rollup);
- current: the median of --repeat reports with the stored rollup current;
- catch-up: the report after 1% more calls arrive (a new part file; rows with a
  higher `seq`), half in existing sessions, half in new ones: the stored
  rollup catches up on the sessions they touch.

Ratios are against DuckDB in the same run; every engine's report is checked
equal to DuckDB's (counts exactly, money to 1e-9), before and after the
append. Spark's jobs per current report are counted.

    python bench/engines.py [--calls 250000,500000,1000000] [--repeat 3]
                            [--postgres postgres://postgres@127.0.0.1:54329/costper_test]
                            [--engines duckdb,spark,postgres]
"""

from __future__ import annotations

import argparse
import io
import math
import shutil
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
from costper.store._store import open_source, open_store  # noqa: E402

NOW = datetime(2026, 1, 31)
SPARK = "spark.master=local[2]&spark.sql.shuffle.partitions=4&spark.default.parallelism=2"


APPENDED = """
SELECT * REPLACE (
  span_id || '-late' AS span_id,
  CASE WHEN hash(session_id) % 2 = 0 THEN session_id ELSE session_id || '-late' END AS session_id,
  start_time + INTERVAL 1 HOUR AS start_time,
  (SELECT max(seq) FROM calls) + 1 AS seq)
FROM calls WHERE hash(span_id) % 100 = 0
"""


def generate(folder: Path, calls: int) -> Path:
    db = folder / "costper.duckdb"
    with open_store(db) as store:
        sessions = max(1, calls // 3)
        store.sql(GENERATE_CALLS.format(calls=calls, sessions=sessions))
        store.sql(GENERATE_OUTCOMES.format(sessions=sessions))
        for name in ("calls", "outcomes"):
            (folder / "parquet" / name).mkdir(parents=True)
            data = store.to_arrow(store.table(name))
            pq.write_table(data, folder / "parquet" / name / "part-00000.parquet")
        pq.write_table(store.sql(APPENDED), folder / "appended.parquet")
    return db


def append(name: str, url: str, folder: Path) -> None:
    """1% more calls, the way each engine's writers add them."""
    late = folder / "appended.parquet"
    if name == "duckdb":
        with open_store(url.removeprefix("duckdb://")) as store:
            store.sql(f"INSERT INTO calls BY NAME SELECT * FROM '{late}'")
    elif name == "spark":
        shutil.copy(late, folder / "parquet" / "calls" / "part-00001.parquet")
    else:
        import psycopg

        buf = io.BytesIO()
        pacsv.write_csv(pq.read_table(late), buf, pacsv.WriteOptions(include_header=False))
        with psycopg.connect(url.replace("postgres://", "postgresql://")) as pg:
            with pg.cursor().copy("COPY calls FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getvalue())


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
            data = pq.read_table(folder / "parquet" / table)
            buf = io.BytesIO()
            pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
            with pg.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
        pg.execute("ANALYZE")
    return target


def once(url: str, cfg: Config) -> tuple[float, dict[str, Any], int]:
    """One report in a new connection, as a CLI run: seconds (connecting included), the
    report, and Spark's jobs (connecting's too; 0 on other engines)."""
    spark = None
    if url.startswith("pyspark://"):
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    tag = f"report-{time.monotonic_ns()}"
    if spark is not None:
        spark.sparkContext.setJobGroup(tag, tag)
    t = time.perf_counter()
    source = open_source(url)
    got = report(source, ["feature"], config=cfg, now=NOW).to_dict()
    took = time.perf_counter() - t
    jobs = 0
    if spark is not None:
        jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(tag))
    if not url.startswith("pyspark://"):
        source.close()  # (closing Spark's would stop the shared session)
    return took, got, jobs


def timed(
    name: str, url: str, folder: Path, cfg: Config, repeat: int
) -> tuple[tuple[float, float, float, int], dict[str, Any], dict[str, Any]]:
    """First report, median with the rollup current, report after the 1% append."""
    cold, first, _ = once(url, cfg)
    runs = [once(url, cfg) for _ in range(repeat)]
    append(name, url, folder)
    late, after, _ = once(url, cfg)
    warm = statistics.median(r[0] for r in runs)
    jobs = int(statistics.median(r[2] for r in runs))
    return (cold, warm, late, jobs), first, after


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
    for n in (int(x) for x in args.calls.split(",")):
        folder = root / f"n{n}"
        folder.mkdir()
        t = time.perf_counter()
        db = generate(folder, n)
        print(f"{n:,} calls: generated in {time.perf_counter() - t:.1f} s", flush=True)
        urls: list[tuple[str, str]] = [("duckdb", f"duckdb://{db}")]
        if "spark" in engines:
            urls.append(("spark", f"pyspark://{folder / 'parquet'}?{SPARK}"))
        if "postgres" in engines:
            t = time.perf_counter()
            try:
                url = to_postgres(args.postgres, folder, f"costper_bench_{n}")
            except Exception as e:  # no server: say so and go on
                print(f"  postgres: skipped ({type(e).__name__}: {str(e).splitlines()[0]})")
            else:
                print(f"  postgres: loaded in {time.perf_counter() - t:.1f} s", flush=True)
                urls.append(("postgres", url))
        results: dict[str, tuple[float, float, float, int]] = {}
        expected: tuple[dict[str, Any], dict[str, Any]] | None = None
        for name, url in urls:
            times, first, after = timed(name, url, folder, cfg, args.repeat)
            if expected is None:
                expected = (first, after)
            else:
                diff = differences(expected[0], first) + differences(expected[1], after)
                assert not diff, f"{name} differs from DuckDB: {diff[:5]}"
            results[name] = times
        base = results["duckdb"]
        for name, (cold, warm, late, jobs) in results.items():
            rows.append((n, name, warm))
            spark_jobs = f"   {jobs} Spark jobs" if name == "spark" else ""
            print(
                f"  {name:8s} first {cold:6.2f} s   current {warm:6.2f} s ({warm / base[1]:4.1f}x)"
                f"   catch-up {late:6.2f} s ({late / base[2]:4.1f}x){spark_jobs}",
                flush=True,
            )
    print("\nscaling (median, rollup current):")
    for name in engines:
        mine = [(n, warm) for n, e, warm in rows if e == name]
        if len(mine) > 1:
            steps = ", ".join(
                f"{b[0] / a[0]:.0f}x data -> {b[1] / a[1]:.2f}x time"
                for a, b in zip(mine, mine[1:], strict=False)
            )
            print(f"  {name:8s} {steps}")


if __name__ == "__main__":
    main()
