"""Concurrency soak: everything at once against a real `costper serve`, killed -9 and restarted.

Per round, for `--seconds`: OTLP span exporters (the OpenTelemetry SDK's own
OTLPSpanExporter), outcome events (the SDK's OTLPLogExporter) and outcome
records (JSON, as costper.sdk sends them), page and API readers, and `costper
report` (which reads through the running server) all run together; then the
server is killed with SIGKILL while they keep sending, and restarted on the
same store and port. After the last round the server gets SIGTERM and the
store is checked against what was acknowledged:

  lost        acknowledged spans/outcomes missing from the store      (must be 0)
  duplicated  stored rows beyond one per key, or tokens beyond the sum (must be 0)
  unreported  stored calls missing from `costper report`'s totals     (must be 0)
  5xx         answers of 500 or more, from any client                  (must be 0)
  hang        a client or the server not answering within its timeout (must be 0)

    python bench/soak.py --seconds 20 --rounds 3      # >= 60 s of traffic
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

COSTPER = str(Path(sys.executable).with_name("costper"))
PRICES = '[prices."openai/test-model"]\ninput = 1.0\noutput = 2.0\n'
SPANS_PER_BATCH = 20
SESSIONS_PER_WORKER = 40
RESOURCE = Resource.create({"service.name": "soak"})
SCOPE = InstrumentationScope("soak")
T0 = 1_790_000_000_000_000_000
PAGES = (
    "/",
    "/features/f0",
    "/calc",
    "/sessions/w0-s1",
    "/api/report?by=feature,model",
    "/api/report?by=day&since=30d",
    "/api/compare?by=feature&baseline=f0",
    "/api/features",
    "/api/sessions/w1-s2",
    "/healthz",
)


def tokens(trace: int, span: int) -> tuple[int, int]:
    """The tokens of a span, from its ids: a stored row can be checked without a log."""
    n = trace * 31 + span
    return 100 + n % 17, 10 + n % 5


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent_spans: set[tuple[str, str]] = field(default_factory=set)
    acked_spans: set[tuple[str, str]] = field(default_factory=set)
    acked_outcomes: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    reports: int = 0
    down: threading.Event = field(default_factory=threading.Event)

    def status(self, code: int, what: str) -> None:
        with self.lock:
            self.statuses[code] += 1
            if code >= 500:
                self.failures.append(f"{code} from {what}")

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)


class Server:
    """`costper serve` on a fixed port, so exporters keep their endpoint across restarts."""

    def __init__(self, db: Path, config: Path, port: int) -> None:
        self.db, self.config, self.port = db, config, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".serve.log")

    def start(self, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
        cmd = [COSTPER, "serve", "--port", str(self.port), "--db", str(self.db),
               "--config", str(self.config)]  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    time.sleep(0.05)
            if time.monotonic() >= deadline:
                raise RuntimeError(f"costper serve did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)  # the store was briefly held by a direct `costper report`: retry

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 30) -> float:
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - began


def span_batch(worker: int, n: int) -> list[ReadableSpan]:
    trace = (worker + 1) << 40 | (n + 1)
    session = f"w{worker}-s{n % SESSIONS_PER_WORKER}"
    spans = []
    for i in range(SPANS_PER_BATCH):
        inp, out = tokens(trace, i + 1)
        start = T0 + (n * SPANS_PER_BATCH + i) * 1_000_000
        spans.append(
            ReadableSpan(
                name="chat test-model",
                context=SpanContext(trace, i + 1, is_remote=False, trace_flags=TraceFlags(1)),
                resource=RESOURCE,
                instrumentation_scope=SCOPE,
                kind=SpanKind.CLIENT,
                start_time=start,
                end_time=start + 400_000,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "test-model",
                    "gen_ai.usage.input_tokens": inp,
                    "gen_ai.usage.output_tokens": out,
                    "costper.session.id": session,
                    "costper.feature": f"f{worker % 3}",
                },
            )
        )
    return spans


def exporter_worker(worker: int, url: str, tally: Tally, stop: threading.Event) -> None:
    session = requests.Session()
    session.hooks["response"].append(
        lambda r, *a, **k: tally.status(r.status_code, "OTLPSpanExporter")
    )
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces", timeout=10, session=session)
    n = 0
    while not stop.is_set():
        spans = span_batch(worker, n)
        ids = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans}
        with tally.lock:
            tally.sent_spans |= ids
        if exporter.export(spans) is SpanExportResult.SUCCESS:
            with tally.lock:
                tally.acked_spans |= ids
        n += 1
    exporter.shutdown()


class _AckingLogExporter(OTLPLogExporter):
    last: LogRecordExportResult | None = None

    def export(self, batch: Any) -> LogRecordExportResult:
        self.last = super().export(batch)
        return self.last


def outcome_event_worker(url: str, tally: Tally, stop: threading.Event) -> None:
    session = requests.Session()
    session.hooks["response"].append(
        lambda r, *a, **k: tally.status(r.status_code, "OTLPLogExporter")
    )
    exporter = _AckingLogExporter(endpoint=url + "/v1/logs", timeout=10, session=session)
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("soak")
    n = 0
    while not stop.is_set():
        sid = f"ev-{n}"
        exporter.last = None  # an emit the processor drops must not count as acknowledged
        logger.emit(
            event_name="costper.outcome",
            timestamp=T0 + n * 1_000_000_000,
            attributes={"costper.session.id": sid, "success": n % 4 != 0, "signal": "soak"},
        )
        if exporter.last is LogRecordExportResult.SUCCESS:
            with tally.lock:
                tally.acked_outcomes.add(sid)
        n += 1
        time.sleep(0.01)
    provider.shutdown()


def outcome_record_worker(url: str, tally: Tally, stop: threading.Event) -> None:
    """Outcome records as JSON, as costper.sdk.record_outcome sends them. (The SDK
    itself is not used: it never raises into the app, so a refused record and a
    stored one look alike to its caller.)"""
    n = 0
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            sid = f"w{n % 4}-s{n % SESSIONS_PER_WORKER}"
            record = {"session_id": sid, "at": f"2026-09-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
                      "success": n % 3 != 0, "source": "explicit"}  # fmt: skip
            try:
                r = client.post(url + "/v1/outcomes", json=record)
            except httpx.HTTPError:
                time.sleep(0.05)  # down between kill and restart: not acknowledged
            else:
                tally.status(r.status_code, "POST /v1/outcomes")
                if r.status_code == 200:
                    with tally.lock:
                        tally.acked_outcomes.add(sid)
            n += 1
            time.sleep(0.01)


def reader_worker(k: int, url: str, tally: Tally, stop: threading.Event) -> None:
    with httpx.Client(timeout=60) as client:
        i = k
        while not stop.is_set():
            path = PAGES[i % len(PAGES)]
            i += 1
            try:
                r = client.get(url + path)
            except httpx.TimeoutException:
                if not tally.down.is_set():
                    tally.fail(f"GET {path}: no answer within 60 s")
                continue
            except httpx.HTTPError:
                time.sleep(0.05)  # down between kill and restart
                continue
            tally.status(r.status_code, f"GET {path}")


def report_worker(db: Path, tally: Tally, stop: threading.Event, cli: threading.Lock) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    while not stop.is_set():
        with cli:
            if tally.down.is_set():
                time.sleep(0.05)
                continue
            try:
                r = subprocess.run(
                    [COSTPER, "report", "--by", "feature", "-f", "json", "--db", str(db)],
                    capture_output=True, text=True, timeout=120, env=env,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                tally.fail("costper report: no answer within 120 s")
                continue
        # A report caught by the kill fails to reach the server; that is not a fault.
        if r.returncode == 0:
            with tally.lock:
                tally.reports += 1
        elif not tally.down.is_set() and "cannot reach" not in r.stderr:
            tally.fail(f"costper report exit {r.returncode}: {r.stderr.strip()[:300]}")
        time.sleep(0.2)


@dataclass
class Result:
    seconds: float
    rounds: int
    requests: int
    acked_spans: int
    stored_calls: int
    acked_outcomes: int
    lost_spans: int
    lost_outcomes: int
    duplicated: int
    unreported: int
    fivexx: int
    reports: int
    failures: list[str]
    sigterm_seconds: float

    def ok(self) -> bool:
        return not (
            self.lost_spans or self.lost_outcomes or self.duplicated or self.unreported
            or self.fivexx or self.failures
        )  # fmt: skip


def run(
    seconds: float,
    rounds: int,
    workdir: Path,
    exporters: int = 4,
    readers: int = 2,
    servers: list[Server] | None = None,
) -> Result:
    """The soak; `servers` receives the server, so a watchdog can kill it."""
    logging.getLogger("opentelemetry.exporter").setLevel(logging.ERROR)
    db, config = workdir / "soak.duckdb", workdir / "costper.toml"
    config.write_text(PRICES)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Server(db, config, port)
    if servers is not None:
        servers.append(server)
    server.start()
    tally, stop, cli = Tally(), threading.Event(), threading.Lock()
    threads = [threading.Thread(target=exporter_worker, args=(w, server.url, tally, stop))
               for w in range(exporters)]  # fmt: skip
    threads += [threading.Thread(target=outcome_event_worker, args=(server.url, tally, stop))]
    threads += [threading.Thread(target=outcome_record_worker, args=(server.url, tally, stop))]
    threads += [threading.Thread(target=reader_worker, args=(k, server.url, tally, stop))
                for k in range(readers)]  # fmt: skip
    threads += [threading.Thread(target=report_worker, args=(db, tally, stop, cli))]
    began = time.monotonic()
    for t in threads:
        t.daemon = True
        t.start()
    for r in range(rounds):
        time.sleep(seconds)
        if r == rounds - 1:
            break
        with cli:  # no direct `costper report` may hold the store while the server restarts
            tally.down.set()
            server.kill9()
            time.sleep(0.3)
            server.start()
            tally.down.clear()
    stop.set()
    for t in threads:
        t.join(120)
    hung = [t.name for t in threads if t.is_alive()]
    if hung:
        tally.fail(f"clients did not finish: {hung}")
    traffic = time.monotonic() - began
    sigterm = server.terminate()
    return _verify(db, tally, traffic, rounds, sigterm)


def _verify(db: Path, tally: Tally, seconds: float, rounds: int, sigterm: float) -> Result:
    from costper.store._store import open_store

    with open_store(db, read_only=True) as store:
        rows = store.sql("SELECT trace_id, span_id, input_tokens, output_tokens FROM calls")
        outcomes = {
            r["session_id"] for r in store.sql("SELECT session_id FROM outcomes").to_pylist()
        }
        [agg] = store.sql(
            "SELECT count(*) AS n, count(DISTINCT (trace_id, span_id)) AS d, "
            "count(DISTINCT session_id) AS sessions FROM calls"
        ).to_pylist()
    stored = set(zip(rows["trace_id"].to_pylist(), rows["span_id"].to_pylist(), strict=True))
    inp, out = sum(rows["input_tokens"].to_pylist()), sum(rows["output_tokens"].to_pylist())
    expected = [tokens(int(t, 16), int(s, 16)) for t, s in stored]
    duplicated = (agg["n"] - agg["d"]) + (inp != sum(e[0] for e in expected))
    duplicated += out != sum(e[1] for e in expected)
    lost = sorted(tally.acked_outcomes - outcomes)
    if lost:
        tally.fail(f"{len(lost)} acknowledged outcomes missing, e.g. {lost[:5]}")
    strangers = stored - tally.sent_spans
    if strangers:
        tally.fail(f"{len(strangers)} stored spans that were never sent")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    rep = subprocess.run(
        [COSTPER, "report", "--by", "feature", "-f", "json", "--db", str(db)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    if rep.returncode != 0:
        tally.fail(f"final costper report: {rep.stderr.strip()[:300]}")
        reported_calls = reported_sessions = 0
    else:
        groups = json.loads(rep.stdout)["groups"]
        reported_calls = sum(g["calls"] for g in groups)
        reported_sessions = sum(g["sessions"] for g in groups)
    unreported = (agg["n"] - reported_calls) + (agg["sessions"] - reported_sessions)
    return Result(
        seconds=round(seconds, 1),
        rounds=rounds,
        requests=sum(tally.statuses.values()),
        acked_spans=len(tally.acked_spans),
        stored_calls=agg["n"],
        acked_outcomes=len(tally.acked_outcomes),
        lost_spans=len(tally.acked_spans - stored),
        lost_outcomes=len(tally.acked_outcomes - outcomes),
        duplicated=int(duplicated),
        unreported=int(unreported),
        fivexx=sum(n for code, n in tally.statuses.items() if code >= 500),
        reports=tally.reports,
        failures=tally.failures[:20],
        sigterm_seconds=round(sigterm, 2),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="traffic per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; a kill -9 between each")
    ap.add_argument("--exporters", type=int, default=4)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--keep", help="keep the store and the server's log in this folder")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        result = run(args.seconds, args.rounds, Path(args.keep), args.exporters, args.readers)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(args.seconds, args.rounds, Path(tmp), args.exporters, args.readers)
    print(json.dumps(result.__dict__, indent=2))
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
