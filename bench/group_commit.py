"""Group commit against one commit per request, for concurrent OTLP requests.

What `costper serve` does with the calls of many exporters sending at once:
16 threads each write 10 requests of 100 priced calls into a fresh DuckDB
store, first the baseline way (each request its own `Store.insert`, one
transaction each, serialised by the store), then through `GroupCommit` (the
requests queued during a write are committed together). Same rows, same
store, same run; medians of --repeat runs and their ratio are printed, and
the stored row counts and token sums are checked equal.

    python bench/group_commit.py [--threads 16] [--requests 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from costper.config import Config, Price
from costper.server.group_commit import GroupCommit
from costper.store._store import Store, open_store
from costper.telemetry._traces import calls_from_request

SPANS = 100
T0 = 1_790_000_000_000_000_000


def request(thread: int, number: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i in range(SPANS):
        n = (thread * 1000 + number) * SPANS + i
        span = spans.add()
        span.trace_id = (thread + 1).to_bytes(8, "big") + (number + 1).to_bytes(8, "big")
        span.span_id = (n + 1).to_bytes(8, "big")
        span.name = "chat"
        span.start_time_unix_nano = T0 + n * 1_000_000
        span.end_time_unix_nano = T0 + n * 1_000_000 + 500_000
        for key, value in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "bench-model"),
            ("gen_ai.usage.input_tokens", 100 + n % 7),
            ("gen_ai.usage.output_tokens", 10 + n % 3),
            ("costper.session.id", f"t{thread}-r{number}"),
        ):
            kind = "int_value" if isinstance(value, int) else "string_value"
            span.attributes.append(KeyValue(key=key, value=AnyValue(**{kind: value})))
    return req


Writer = Callable[[Store], Callable[[pa.Table], int]]


def run(tables: list[list[pa.Table]], make_writer: Writer) -> tuple[float, tuple[int, int]]:
    """Seconds for every thread to write its tables, and (rows, input tokens) stored."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder) / "bench.duckdb")
        writer = make_writer(store)
        barrier = threading.Barrier(len(tables) + 1)

        def worker(mine: list[pa.Table]) -> None:
            barrier.wait()
            for table in mine:
                writer(table)

        threads = [threading.Thread(target=worker, args=(t,)) for t in tables]
        for th in threads:
            th.start()
        barrier.wait()
        began = time.perf_counter()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - began
        [stats] = store.sql("SELECT count(*) AS n, sum(input_tokens) AS t FROM calls").to_pylist()
        store.close()
    return elapsed, (stats["n"], stats["t"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    config = Config(prices={"openai/bench-model": Price(input=1.0, output=2.0)})
    tables = [
        [calls_from_request(request(t, r), config).table for r in range(args.requests)]
        for t in range(args.threads)
    ]
    rows = args.threads * args.requests * SPANS
    results: dict[str, list[float]] = {"per request": [], "group commit": []}
    checks = set()
    for _ in range(args.repeat):
        seconds, check = run(tables, lambda store: lambda table: store.insert("calls", table))
        results["per request"].append(seconds)
        checks.add(check)
        seconds, check = run(tables, lambda store: GroupCommit(store).write)
        results["group commit"].append(seconds)
        checks.add(check)
    if len(checks) != 1 or next(iter(checks))[0] != rows:
        print(f"stored rows differ between runs: {checks}", file=sys.stderr)
        return 1
    print(f"{args.threads} threads x {args.requests} requests x {SPANS} calls = {rows:,} rows")
    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, median in medians.items():
        print(f"  {name:>13}: median {median:6.2f} s  {rows / median:10,.0f} rows/s")
    print(f"  group commit is {medians['per request'] / medians['group commit']:.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
