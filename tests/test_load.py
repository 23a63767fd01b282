"""Load on loopback: many concurrent OTLP exporters against one `costper serve`.

16 threads, each with its own real `OTLPSpanExporter`, send 50 requests of
100 chat spans (80,000 spans), and each re-sends its first request at the
end, as an exporter retrying after a lost answer would. Every span whose
request was acknowledged must be stored exactly once, with its tokens.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from serve_process import ServeProcess
from server_payloads import PRICES_TOML

from costper.store._store import open_store

THREADS, REQUESTS, SPANS = 16, 50, 100
RESOURCE = Resource.create({"service.name": "load-test"})
SCOPE = InstrumentationScope("load-test")
T0 = 1_790_000_000_000_000_000


def batch(thread: int, request: int) -> list[ReadableSpan]:
    """100 chat spans with ids that say where they came from."""
    spans = []
    for i in range(SPANS):
        n = (thread * REQUESTS + request) * SPANS + i
        ctx = SpanContext(
            trace_id=(thread + 1) << 64 | request + 1,
            span_id=n + 1,
            is_remote=False,
            trace_flags=TraceFlags(1),
        )
        start = T0 + n * 1_000_000
        spans.append(
            ReadableSpan(
                name="chat test-model",
                context=ctx,
                resource=RESOURCE,
                instrumentation_scope=SCOPE,
                kind=SpanKind.CLIENT,
                start_time=start,
                end_time=start + 500_000,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "test-model",
                    "gen_ai.usage.input_tokens": 100 + n % 7,
                    "gen_ai.usage.output_tokens": 10 + n % 3,
                    "costper.session.id": f"t{thread}-r{request}",
                },
            )
        )
    return spans


@pytest.mark.slow
def test_every_acknowledged_span_is_stored_once(tmp_path: Path) -> None:
    config = tmp_path / "costper.toml"
    config.write_text(PRICES_TOML)
    acked: list[list[tuple[int, int]]] = [[] for _ in range(THREADS)]
    failures: list[str] = []
    with ServeProcess(tmp_path / "load.duckdb", "--config", str(config)) as server:
        start = threading.Barrier(THREADS)

        def exporter_thread(t: int) -> None:
            exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces", timeout=60)
            start.wait()
            for r in [*range(REQUESTS), 0]:
                spans = batch(t, r)
                if exporter.export(spans) is SpanExportResult.SUCCESS:
                    acked[t].extend((s.context.trace_id, s.context.span_id) for s in spans)
                else:
                    failures.append(f"thread {t} request {r}")
            exporter.shutdown()

        threads = [threading.Thread(target=exporter_thread, args=(t,)) for t in range(THREADS)]
        began = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=300)
        elapsed = time.monotonic() - began
        assert not any(th.is_alive() for th in threads), "exporters did not finish"
        server.stop()

    assert not failures, failures
    sent = [pair for per_thread in acked for pair in per_thread]
    assert len(sent) == THREADS * (REQUESTS + 1) * SPANS
    unique = {(f"{tr:032x}", f"{sp:016x}") for tr, sp in sent}
    assert len(unique) == THREADS * REQUESTS * SPANS
    with open_store(tmp_path / "load.duckdb", read_only=True) as store:
        [stats] = store.sql(
            "SELECT count(*) AS n, count(DISTINCT (trace_id, span_id)) AS d, "
            "sum(input_tokens) AS inp, sum(output_tokens) AS out, "
            "count(DISTINCT session_id) AS sessions, sum(cost) AS cost FROM calls"
        ).to_pylist()
        stored = {
            (r["trace_id"], r["span_id"])
            for r in store.sql("SELECT trace_id, span_id FROM calls").to_pylist()
        }
    total = THREADS * REQUESTS * SPANS
    inputs = sum(100 + n % 7 for n in range(total))
    outputs = sum(10 + n % 3 for n in range(total))
    assert stored == unique
    assert (stats["n"], stats["d"]) == (total, total)
    assert (stats["inp"], stats["out"]) == (inputs, outputs)
    assert stats["sessions"] == THREADS * REQUESTS
    assert stats["cost"] == pytest.approx((inputs * 1.0 + outputs * 2.0) / 1e6)
    print(f"\n{total} spans from {THREADS} exporters in {elapsed:.1f}s: {total / elapsed:,.0f}/s")
