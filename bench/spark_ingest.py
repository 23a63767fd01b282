"""Benchmark: the Spark ingest job against `costper ingest traces`, same files, same run.

Files as the Collector's file exporter writes them, from the real OpenTelemetry
SDK (tests/collector_files.py: sessions over two services, roots in later files,
duplicates across layers, failures, cached input). Each figure is a whole CLI
command in a fresh process and a fresh store, so Spark's start (JVM, Python
workers) is in its figure, as a user pays it:

1. baseline: `costper ingest traces FILE... --db fresh.duckdb`;
2. spark: `costper ingest traces --engine spark --db pyspark://fresh?master=local[N] DIR`.

Prints spans/s of each (medians of --repeat runs, alternated) and the ratio.

    python bench/spark_ingest.py [--files 100] [--sessions 600] [--repeat 3] [--master local[2]]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from collector_files import collector_dir  # noqa: E402


def _run(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "costper", *args], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"costper {' '.join(args[:3])}... failed:\n{proc.stderr[-2000:]}")
    spans = re.search(r"(\d+) spans read", proc.stdout)
    return took, int(spans.group(1)) if spans else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = [str(p) for p in collector_dir(root / "otel", files=a.files, sessions=a.sessions)]
        size = sum(Path(p).stat().st_size for p in paths)
        base: list[float] = []
        spark: list[float] = []
        spans = 0
        for i in range(a.repeat):
            took, spans = _run(["ingest", "traces", *paths, "--db", str(root / f"b{i}.duckdb")])
            base.append(took)
            conf = f"spark.master={a.master}&spark.sql.shuffle.partitions=4"
            url = f"pyspark://{root / f's{i}'}?{conf}"
            took, n = _run(
                ["ingest", "traces", "--engine", "spark", "--db", url, str(root / "otel")]
            )
            assert n == spans, (n, spans)
            spark.append(took)
        b, s = statistics.median(base), statistics.median(spark)
        print(f"{a.files} files, {size / 1e6:.1f} MB, {spans} spans; medians of {a.repeat}")
        print(f"costper ingest traces (DuckDB):   {b:7.1f} s  {spans / b:8.0f} spans/s")
        print(f"--engine spark ({a.master}):      {s:7.1f} s  {spans / s:8.0f} spans/s")
        print(f"spark / baseline throughput: {b / s:.2f}x")


if __name__ == "__main__":
    main()
