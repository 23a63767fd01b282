"""Benchmark: how long the `costper` command takes to start, against what it must do.

Medians of --repeat fresh processes (or in-process runs), all measured in this run,
as wall time and as CPU time (user + system), the steadier figure on a shared machine:

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
import resource
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


def cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def median_of(run: Callable[[], object], repeat: int, who: int) -> tuple[float, float]:
    """Medians of wall time and of CPU time (user + system of `who`): on a machine
    shared with other work the CPU time is the steadier figure."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu(who)
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu(who) - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def process(argv: list[str], repeat: int) -> tuple[float, float]:
    return median_of(
        lambda: subprocess.run(argv, check=True, capture_output=True, env=os.environ),
        repeat,
        resource.RUSAGE_CHILDREN,
    )


def in_process_report(db: str) -> None:
    with open_store(db) as store:
        report(store, ["feature"])


def line(name: str, t: tuple[float, float], base: tuple[float, float], note: str) -> str:
    wall, cpu_ = t
    return (
        f"{name + ':':<28} wall {wall:.3f} s, CPU {cpu_:.3f} s  "
        f"({wall / base[0]:.2f}x / {cpu_ / base[1]:.2f}x {note}; "
        f"{wall - base[0]:+.3f} s / {cpu_ - base[1]:+.3f} s over it)"
    )


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
        query = median_of(lambda: in_process_report(db), args.repeat, resource.RUSAGE_SELF)
    print(f"medians of {args.repeat} runs; demo store of {args.sessions:,} sessions; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'python -c pass:':<28} wall {bare[0]:.3f} s, CPU {bare[1]:.3f} s")
    print(line("costper --help", helped, bare, "the interpreter") + "  target < 0.5 s")
    print(line("costper --version", version, bare, "the interpreter"))
    print(f"{'report in this process:':<28} wall {query[0]:.3f} s, CPU {query[1]:.3f} s  "
          "(open_store + report, engine loaded)")  # fmt: skip
    print(line("costper report (a process)", cli, query, "the report") + "  target < 1.0 s over")


if __name__ == "__main__":
    main()
