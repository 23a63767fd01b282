"""Benchmark: how long the `costper` command takes to start, against what it must do.

Three figures, medians of --repeat runs of fresh processes:

- `costper --help` against `python -c pass` (the interpreter alone): the
  cost of importing the CLI. Target: under 0.5 s.
- `costper report --by feature` on a store whose session rollup is current,
  against the same report computed in an already warm process (the query's
  own time): the overhead of starting. Target: under 1.0 s over the query.

    python bench/cli_startup.py [--sessions 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from costper.engine._report import report
from costper.store._store import open_store

COSTPER = str(Path(sys.executable).with_name("costper"))


def timed(argv: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=os.environ)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        subprocess.run([COSTPER, "demo", "--sessions", str(args.sessions), "--db", db],
                       check=True, capture_output=True)  # fmt: skip
        bare = timed([sys.executable, "-c", "pass"], args.repeat)
        helped = timed([COSTPER, "--help"], args.repeat)
        cli = timed([COSTPER, "report", "--by", "feature", "--db", db], args.repeat)
        with open_store(db) as store:
            report(store, ["feature"])  # rollup current, caches warm
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                report(store, ["feature"])
                runs.append(time.perf_counter() - start)
            query = statistics.median(runs)
    print(f"python -c pass:            {bare:.3f} s")
    print(
        f"costper --help:            {helped:.3f} s  ({helped - bare:+.3f} s over the interpreter; target < 0.5 s)"
    )
    print(f"report, in a warm process: {query:.3f} s")
    print(
        f"costper report (process):  {cli:.3f} s  ({cli - query:+.3f} s over the query; target < 1.0 s)"
    )
    print(f"ratio costper --help / python -c pass: {helped / bare:.1f}x")


if __name__ == "__main__":
    main()
