"""Benchmark: `costper ingest traces` of one file into DuckDB, PostgreSQL and Spark Parquet.

The file is bench/otlp_payload.py's (OpenInference support-bot turns, a third
of the spans are calls, the Collector's framed protobuf). Each engine gets
the file --repeat times, each into a fresh store (a new DuckDB file, a new
PostgreSQL database, a new Parquet folder), through `ingest_trace_files` on
the store `--db` opens (`open_store(url)`); then once more into the last
store (all keys already there: the idempotent re-run). Printed: medians of
wall time and spans/s, and each engine's ratio to DuckDB measured in the
same run. Stored calls are checked equal in number to DuckDB's.

    python bench/engine_writes.py [--spans 30000] [--repeat 3]
                                  [--postgres postgres://postgres@127.0.0.1:54329/costper_test]
                                  [--engines duckdb,postgres,spark]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from otlp_payload import payload, write_framed  # noqa: E402

from costper.config import Config  # noqa: E402
from costper.store._store import open_source, open_store  # noqa: E402
from costper.telemetry._trace_files import ingest_trace_files  # noqa: E402

SPARK = "spark.master=local[2]&spark.sql.shuffle.partitions=2&spark.default.parallelism=2"


def timed_ingest(url: str, path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with open_store(url) as store:
        summary = ingest_trace_files(store, Config(db=url), [str(path)])
    return time.perf_counter() - start, summary.new


def stored_calls(url: str) -> int:
    with open_source(url) as source:
        return source.count("calls")


def fresh_postgres(admin_url: str) -> Callable[[int], str]:
    import ibis

    admin = ibis.connect(admin_url)

    def make(i: int) -> str:
        name = f"costper_bench_writes_{i}"
        admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.raw_sql(f"CREATE DATABASE {name}")
        return admin_url.rsplit("/", 1)[0] + "/" + name

    return make


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:54329/costper_test")
    ap.add_argument("--engines", default="duckdb,postgres,spark")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="costper-bench-writes-"))
    path = tmp / "spans.binpb"
    bodies = payload(args.spans)
    write_framed(path, bodies)
    spans = args.spans
    makers: dict[str, Callable[[int], str]] = {
        "duckdb": lambda i: str(tmp / f"run{i}.duckdb"),
        "postgres": fresh_postgres(args.postgres),
        "spark": lambda i: f"pyspark://{(tmp / f'parquet{i}').resolve()}?{SPARK}",
    }
    results: dict[str, tuple[float, float, int]] = {}
    for engine in args.engines.split(","):
        times, url = [], ""
        for i in range(args.repeat):
            url = makers[engine](i)
            if engine == "spark":
                (tmp / f"parquet{i}").mkdir()
            seconds, new = timed_ingest(url, path)
            times.append(seconds)
        again, new_again = timed_ingest(url, path)
        assert new_again == 0, (engine, new_again)
        results[engine] = (statistics.median(times), again, stored_calls(url))
        print(
            f"{engine}: {spans:,} spans in {results[engine][0]:.2f} s (median of "
            f"{args.repeat}: {', '.join(f'{t:.2f}' for t in times)}), "
            f"{spans / results[engine][0]:,.0f} spans/s; same file again {again:.2f} s; "
            f"{results[engine][2]:,} calls stored",
            flush=True,
        )
    base = results.get("duckdb")
    if base is None:
        return
    for engine, (median, again, calls) in results.items():
        assert calls == base[2], (engine, calls, base[2])
        if engine != "duckdb":
            print(
                f"{engine} / duckdb: {median / base[0]:.1f}x (first ingest), "
                f"{again / base[1]:.1f}x (the same file again)"
            )


if __name__ == "__main__":
    main()
