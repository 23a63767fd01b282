"""Benchmark: how long the `costper` command takes to start, against what it must do.

Medians of --repeat fresh processes (or in-process runs), all measured in this run:

- `python -c pass`: the interpreter alone, the baseline for the two below.
- `costper --help` and `costper --version`: the cost of importing the CLI.
  Target: `--help` under 0.5 s.
- `costper report --by feature` on a demo store whose session rollup is current,
  against the report's own time measured in this process: `open_store` + `report`
  on a store opened afresh each run (the engine already imported, as a
  long-lived process would have it). Target: under 1.0 s over that.

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
from collections.abc import Callable
from pathlib import Path

from costper.engine._report import report
from costper.store._store import open_store

COSTPER = str(Path(sys.executable).with_name("costper"))


def median_of(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def process(argv: list[str], repeat: int) -> float:
    return median_of(
        lambda: subprocess.run(argv, check=True, capture_output=True, env=os.environ), repeat
    )


def in_process_report(db: str) -> None:
    with open_store(db) as store:
        report(store, ["feature"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        subprocess.run([COSTPER, "demo", "--sessions", str(args.sessions), "--db", db],
                       check=True, capture_output=True)  # fmt: skip
        in_process_report(db)  # the rollup is current from here on
        bare = process([sys.executable, "-c", "pass"], args.repeat)
        helped = process([COSTPER, "--help"], args.repeat)
        version = process([COSTPER, "--version"], args.repeat)
        cli = process([COSTPER, "report", "--by", "feature", "--db", db], args.repeat)
        query = median_of(lambda: in_process_report(db), args.repeat)
    print(f"medians of {args.repeat} runs; demo store of {args.sessions:,} sessions")
    print(f"python -c pass:              {bare:.3f} s")
    for name, t in (("costper --help", helped), ("costper --version", version)):
        print(
            f"{name + ':':<28} {t:.3f} s  ({t / bare:.1f}x the interpreter, "
            f"{t - bare:+.3f} s over it; target for --help < 0.5 s)"
        )
    print(f"report in this process:      {query:.3f} s  (open_store + report)")
    print(
        f"costper report (a process):  {cli:.3f} s  ({cli / query:.2f}x the report, "
        f"{cli - query:+.3f} s over it; target < 1.0 s over)"
    )


if __name__ == "__main__":
    main()
