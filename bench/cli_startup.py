"""Benchmark: how long the `costper` command takes to start, against what it must do.

Medians of --repeat fresh processes (or in-process runs), all measured in this run,
as wall time and as CPU time (user + system), the steadier figure on a shared machine:

- `python -c pass`: the interpreter alone, the baseline for the two below.
- `costper --help` and `costper --version`: the cost of importing the CLI.
  Target: `--help` under 0.5 s.
- `costper report --by feature` on a demo store, against the report's own time
  measured in this process the same way: `open_store` + `report` on a store
  opened afresh each run (the engine already imported, as a long-lived process
  would have it). Target: under 1.0 s over that. Three cases:
  - warm: the session rollup is current and the store keeps the report's SQL
    compiled (`store._compiled`), so no Ibis is loaded;
  - cold: one call added before each run (outside the timing), so the rollup
    first catches up, through the kept SQL as well;
  - first: the kept SQL deleted before each run, so Ibis compiles the report
    (and keeps it again), as the first report with new options or config does.
  Nothing caches a result: every run queries the data.

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
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from costper.engine._report import report
from costper.store._store import open_store

COSTPER = str(Path(sys.executable).with_name("costper"))


def cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def median_of(
    run: Callable[[], object], repeat: int, who: int, before: Callable[[], object] = lambda: None
) -> tuple[float, float]:
    """Medians of wall time and of CPU time (user + system of `who`) of `run`,
    `before` done untimed ahead of each: on a machine shared with other work
    the CPU time is the steadier figure."""
    walls, cpus = [], []
    for _ in range(repeat):
        before()
        start, start_cpu = time.perf_counter(), cpu(who)
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu(who) - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def process(
    argv: list[str], repeat: int, before: Callable[[], object] = lambda: None
) -> tuple[float, float]:
    return median_of(
        lambda: subprocess.run(argv, check=True, capture_output=True, env=os.environ),
        repeat,
        resource.RUSAGE_CHILDREN,
        before,
    )


def in_process_report(db: str) -> None:
    with open_store(db) as store:
        report(store, ["feature"])


def add_call(db: str) -> None:
    """A data change: one more call in a stored session (a copy of one, new span id)."""
    with open_store(db) as store:
        row = store.sql("SELECT * FROM calls LIMIT 1")
        i = row.schema.get_field_index("span_id")
        row = row.set_column(i, "span_id", pa.array([uuid.uuid4().hex[:16]]))
        store.insert("calls", row)


def forget_compiled(db: str) -> None:
    with open_store(db) as store:
        store.sql("DELETE FROM meta WHERE starts_with(key, 'compiled:')")


def line(name: str, t: tuple[float, float], base: tuple[float, float], note: str) -> str:
    wall, cpu_ = t
    return (
        f"{name + ':':<36} wall {wall:.3f} s, CPU {cpu_:.3f} s  "
        f"({wall / base[0]:.2f}x / {cpu_ / base[1]:.2f}x {note}; "
        f"{wall - base[0]:+.3f} s / {cpu_ - base[1]:+.3f} s over it)"
    )


def plain(name: str, t: tuple[float, float], note: str) -> str:
    return f"{name + ':':<36} wall {t[0]:.3f} s, CPU {t[1]:.3f} s  ({note})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n = args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        subprocess.run([COSTPER, "demo", "--sessions", str(args.sessions), "--db", db],
                       check=True, capture_output=True)  # fmt: skip
        in_process_report(db)  # the rollup is current and the SQL kept from here on
        cmd = [COSTPER, "report", "--by", "feature", "--db", db]
        me = resource.RUSAGE_SELF
        bare = process([sys.executable, "-c", "pass"], n)
        helped = process([COSTPER, "--help"], n)
        version = process([COSTPER, "--version"], n)
        warm = process(cmd, n)
        warm_q = median_of(lambda: in_process_report(db), n, me)
        cold = process(cmd, n, lambda: add_call(db))
        cold_q = median_of(lambda: in_process_report(db), n, me, lambda: add_call(db))
        first = process(cmd, n, lambda: forget_compiled(db))
        first_q = median_of(lambda: in_process_report(db), n, me, lambda: forget_compiled(db))
    print(f"medians of {n} runs; demo store of {args.sessions:,} sessions; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(plain("python -c pass", bare, "the interpreter"))
    print(line("costper --help", helped, bare, "the interpreter") + "  target < 0.5 s")
    print(line("costper --version", version, bare, "the interpreter"))
    print(plain("warm, in this process", warm_q, "open_store + report, SQL kept"))
    print(line("warm, costper report", warm, warm_q, "the report") + "  target < 1.0 s over")
    print(plain("cold, in this process", cold_q, "a call added first: rollup catch-up"))
    print(line("cold, costper report", cold, cold_q, "the report") + "  target < 1.0 s over")
    print(plain("first, in this process", first_q, "no SQL kept: Ibis compiles"))
    print(line("first, costper report", first, first_q, "the report") + "  target < 1.0 s over")


if __name__ == "__main__":
    main()
