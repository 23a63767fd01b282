"""Benchmark: OTLP spans in, decoded to durable rows, on one core; against Arize Phoenix.

The payload is made with the real OpenTelemetry SDK and encoder: turns of an
OpenInference-instrumented support bot, each a CHAIN span (with the session),
an LLM span with its token counts and message content, and a TOOL span; so a
third of the spans are calls. Requests of ~1,000 spans are written as the
OpenTelemetry Collector's file exporter writes protobuf.

Figures, each the median of --repeat runs in fresh stores:

1. file: `ingest_trace_files` in a child process pinned to one CPU, DuckDB
   limited to one thread; spans/s by wall clock and by CPU time (the price
   catalog, loaded once per process, is timed apart), and the child's peak
   RSS for the file and for a quarter of it (the Python side streams; DuckDB
   holds the file's uncommitted rows, since a file commits whole or not at all);
2. baseline decode: the same file parsed with the generated OTLP classes and
   every attribute read into a dict (what a straightforward decoder does,
   before any mapping or storing): spans/s, and costper's ratio to it;
3. HTTP: `costper serve` pinned to one CPU; 4 concurrent exporters POST the
   same requests (application/x-protobuf); time until every request is
   acknowledged (acknowledged means committed), then the stored rows checked;
4. Phoenix: `phoenix serve` (from a separate venv, --phoenix) pinned to one
   CPU, the same requests POSTed to its /v1/traces; time until its GraphQL
   API counts every span stored; costper's ratio to it.

    python bench/ingest.py [--spans 200000] [--repeat 3] [--phoenix /tmp/phoenix-venv/bin/phoenix]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from otlp_payload import SPANS_PER_REQUEST, payload, write_framed


def child_file(path: str, db: str) -> None:
    """In a child pinned to one CPU: ingest the file, print the figures as JSON."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from costper.config import Config
    from costper.pricing._prices import catalog_prices
    from costper.store._store import open_store
    from costper.telemetry._trace_files import ingest_trace_files

    with open_store(db) as store:
        store.sql("SET threads = 1")
        w = time.perf_counter()
        catalog_prices("openai", "gpt-4o-mini", 0)  # loads genai-prices, once per process
        warmup = time.perf_counter() - w
        w, c = time.perf_counter(), time.process_time()
        summary = ingest_trace_files(store, Config(), [path])
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "warmup": warmup,
                "spans": summary.spans,
                "calls": summary.calls,
                "new": summary.new,
                "maxrss_kb": rss,
            }
        )
    )


def child_naive(path: str) -> None:
    """Baseline: generated classes, every attribute of every span into a dict."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    w, c = time.perf_counter(), time.process_time()
    spans = 0
    with open(path, "rb") as f:
        while size := f.read(4):
            req = ExportTraceServiceRequest.FromString(f.read(int.from_bytes(size, "big")))
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        attrs = {}
                        for kv in s.attributes:
                            v = kv.value
                            kind = v.WhichOneof("value")
                            attrs[kv.key] = getattr(v, kind) if kind else None
                        spans += 1
    print(
        json.dumps(
            {"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "spans": spans}
        )
    )


def run_child(*args: str, src: str | None = None) -> dict[str, Any]:
    """Run this script as a child; `src` puts another costper source tree first on its path."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def post_all(url: str, bodies: list[bytes], clients: int = 4) -> float:
    """POST every body from `clients` threads; seconds until all are acknowledged."""
    errors: list[str] = []
    chunks = [bodies[i::clients] for i in range(clients)]

    def send(chunk: list[bytes]) -> None:
        with httpx.Client(timeout=300) as client:
            for body in chunk:
                r = client.post(
                    url, content=body, headers={"content-type": "application/x-protobuf"}
                )
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return time.perf_counter() - start


def serve_costper(db: Path, cpu: int) -> tuple[subprocess.Popen[str], str]:
    exe = str(Path(sys.executable).with_name("costper"))
    proc = subprocess.Popen(
        [exe, "serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    m = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"costper serve did not start: {line!r}")
    os.sched_setaffinity(proc.pid, {cpu})
    wait_http(m.group(1) + "/healthz", 60)
    return proc, m.group(1)


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def bench_http(bodies: list[bytes], work: Path, run: int, cpu: int) -> dict[str, Any]:
    db = work / f"http-{run}.duckdb"
    proc, url = serve_costper(db, cpu)
    try:
        elapsed = post_all(url + "/v1/traces", bodies)
    finally:
        stop(proc)
    from costper.store._store import open_store

    with open_store(db, read_only=True) as store:
        stored = store.count("calls")
    return {"seconds": elapsed, "stored_calls": stored}


def phoenix_count(url: str) -> int:
    q = {"query": "{ projects { edges { node { recordCount } } } }"}
    data = httpx.post(url + "/graphql", json=q, timeout=30).json()
    return sum(e["node"]["recordCount"] for e in data["data"]["projects"]["edges"])


def bench_phoenix(
    exe: str, bodies: list[bytes], spans: int, work: Path, run: int, cpu: int
) -> dict[str, Any]:
    home = work / f"phoenix-{run}"
    home.mkdir()
    port, grpc = 16006 + run, 14317 + run
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(home),
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        "PHOENIX_HOST": "127.0.0.1",
    }
    log = (home / "log.txt").open("w")
    proc = subprocess.Popen(
        [exe, "serve"], stdout=log, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", 300)
        os.sched_setaffinity(proc.pid, {cpu})
        for child in _children(proc.pid):
            os.sched_setaffinity(child, {cpu})
        start = time.perf_counter()
        acked = post_all(url + "/v1/traces", bodies)
        deadline = time.monotonic() + 1800
        count = 0
        while time.monotonic() < deadline:
            count = phoenix_count(url)
            if count >= spans:
                break
            time.sleep(0.5)
        stored = time.perf_counter() - start
    finally:
        stop(proc)
        log.close()
    return {"acked_seconds": acked, "stored_seconds": stored, "stored_spans": count}


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    return [int(p) for p in out.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--phoenix",
        default="/tmp/phoenix-venv/bin/phoenix",
        help="the phoenix executable of a separate venv ('' to skip)",
    )
    ap.add_argument(
        "--phoenix-spans",
        type=int,
        default=5_000,
        help="spans sent to Phoenix (it is slow; costper is timed on the same ones)",
    )
    ap.add_argument(
        "--baseline-src",
        help="another costper source tree (e.g. `git archive <commit> src | tar -x -C DIR`, "
        "then DIR/src): its file path is timed in the same run, interleaved, and the ratio printed",
    )
    ap.add_argument("--file-only", action="store_true", help="only the file path (and baseline)")
    ap.add_argument("--child-file", nargs=2, metavar=("PATH", "DB"), help=argparse.SUPPRESS)
    ap.add_argument("--child-naive", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_file:
        return child_file(*args.child_file)
    if args.child_naive:
        return child_naive(args.child_naive)

    if args.phoenix and shutil.which(args.phoenix):
        pip = Path(args.phoenix).with_name("pip")
        shown = subprocess.run([str(pip), "show", "arize-phoenix"], capture_output=True, text=True)
        m = re.search(r"^Version: (.+)$", shown.stdout, re.M)
        args.phoenix_version = m.group(1) if m else "(version unknown)"
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0]
    os.sched_setaffinity(0, set(cpus[1:]) or {cpus[0]})  # the senders stay off the server's CPU
    work = Path(tempfile.mkdtemp(prefix="costper-bench-ingest-"))
    try:
        t = time.perf_counter()
        bodies = payload(args.spans)
        spans = len(bodies) * SPANS_PER_REQUEST
        calls = spans // 3
        path = work / "spans.binpb"
        write_framed(path, bodies)
        quarter = work / "quarter.binpb"
        write_framed(quarter, bodies[: max(1, len(bodies) // 4)])
        size = path.stat().st_size
        print(
            f"payload: {spans:,} spans ({calls:,} LLM calls) in {len(bodies)} requests, "
            f"{size / 1e6:.0f} MB protobuf, made with the OTel SDK in {time.perf_counter() - t:.0f}s"
        )

        files, base = [], []
        for i in range(args.repeat):
            files.append(run_child("--child-file", str(path), str(work / f"file-{i}.duckdb")))
            if args.baseline_src:
                db = str(work / f"base-{i}.duckdb")
                base.append(run_child("--child-file", str(path), db, src=args.baseline_src))
        assert all(f["calls"] == calls and f["new"] == calls for f in files), files
        if base:
            mine_cpu = statistics.median(f["cpu"] for f in files)
            base_cpu = statistics.median(b["cpu"] for b in base)
            print(
                f"file path against {args.baseline_src} (same payload, interleaved, medians of "
                f"{args.repeat}): {spans / mine_cpu:,.0f} vs {spans / base_cpu:,.0f} spans/s CPU, "
                f"ratio {base_cpu / mine_cpu:.3f}"
            )
        if args.file_only:
            return
        small = run_child("--child-file", str(quarter), str(work / "quarter.duckdb"))
        naive = [run_child("--child-naive", str(path)) for _ in range(args.repeat)]
        wall = statistics.median(f["wall"] for f in files)
        cpu = statistics.median(f["cpu"] for f in files)
        naive_cpu = statistics.median(n["cpu"] for n in naive)
        warm = statistics.median(f["warmup"] for f in files)
        print(
            f"file -> durable rows, one core: {spans / wall:,.0f} spans/s wall, "
            f"{spans / cpu:,.0f} spans/s CPU (median of {args.repeat}: {wall:.2f}s wall, "
            f"{cpu:.2f}s CPU; plus {warm:.2f}s once per process to load the price catalog: "
            f"{spans / (wall + warm):,.0f} spans/s counting it)"
        )
        print(
            f"peak RSS: {max(f['maxrss_kb'] for f in files) / 1024:.0f} MB for the file, "
            f"{small['maxrss_kb'] / 1024:.0f} MB for a quarter of it"
        )
        print(
            f"baseline, generated classes decoding every attribute (no mapping, no store): "
            f"{spans / naive_cpu:,.0f} spans/s CPU; costper end to end is "
            f"{naive_cpu / cpu:.2f}x its speed"
        )

        https = [bench_http(bodies, work, i, server_cpu) for i in range(args.repeat)]
        assert all(h["stored_calls"] == calls for h in https), https
        http_s = statistics.median(h["seconds"] for h in https)
        print(
            f"HTTP, costper serve on one core, 4 exporters: {spans / http_s:,.0f} spans/s "
            f"acknowledged and durable (median {http_s:.2f}s; every call stored once)"
        )

        if not args.phoenix:
            print("phoenix: skipped (--phoenix '')")
            return
        if not shutil.which(args.phoenix):
            print(
                f"phoenix: not run: {args.phoenix} not found; install it in a separate venv: "
                "python -m venv /tmp/phoenix-venv && /tmp/phoenix-venv/bin/pip install arize-phoenix"
            )
            return
        # Phoenix stores ~100 spans/s here, so it gets the first requests of the payload;
        # costper is timed on exactly those requests too, for the ratio.
        subset = bodies[: max(1, args.phoenix_spans // SPANS_PER_REQUEST)]
        sub_spans = len(subset) * SPANS_PER_REQUEST
        mine = [bench_http(subset, work, 100 + i, server_cpu) for i in range(args.repeat)]
        assert all(h["stored_calls"] == sub_spans // 3 for h in mine), mine
        mine_s = statistics.median(h["seconds"] for h in mine)
        runs = [
            bench_phoenix(args.phoenix, subset, sub_spans, work, i, server_cpu)
            for i in range(args.repeat)
        ]
        done = [r for r in runs if r["stored_spans"] >= sub_spans]
        if not done:
            print(f"phoenix: did not store all spans within 30 min: {runs}")
            return
        ph = statistics.median(r["stored_seconds"] for r in done)
        ph_ack = statistics.median(r["acked_seconds"] for r in done)
        print(
            f"Phoenix {args.phoenix_version} on one core, the first {sub_spans:,} spans: "
            f"{sub_spans / ph:,.0f} spans/s stored (median {ph:.1f}s until its GraphQL API "
            f"counts them all; it acknowledged them after {ph_ack:.1f}s)"
        )
        print(
            f"costper serve on one core, the same {sub_spans:,} spans: "
            f"{sub_spans / mine_s:,.0f} spans/s acknowledged and durable (median {mine_s:.2f}s)"
        )
        print(f"ratio: costper stores spans {ph / mine_s:,.0f}x as fast as Phoenix over HTTP")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
