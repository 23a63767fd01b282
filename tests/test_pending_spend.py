"""Spend is never hidden: fresh sessions with no outcome (pending) are left out of the
ratios but their calls, tokens and spend show in every report (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from serve_process import COSTPER, ServeProcess

from costper.config import Config
from costper.server.formatting import money
from costper.store._store import open_store
from costper.telemetry._traces import ingest_request


def fresh_calls(n: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    now = time.time_ns()
    for i in range(n):
        span = ss.spans.add()
        span.trace_id = (i + 1).to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = "chat"
        span.start_time_unix_nano = now - 1_000_000_000
        span.end_time_unix_nano = now
        for key, value in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "gpt-4o-mini"),
            ("costper.feature", "fresh"),
        ):
            kv = span.attributes.add(key=key)
            kv.value.string_value = value
        for key, value in (
            ("gen_ai.usage.input_tokens", 1000),
            ("gen_ai.usage.output_tokens", 100),
        ):
            kv = span.attributes.add(key=key)
            kv.value.int_value = value
    return req


def test_fresh_traffic_shows_in_report_json_text_and_dashboard(tmp_path: Path) -> None:
    db = tmp_path / "fresh.duckdb"
    with open_store(db) as store:
        ingest_request(store, Config(), fresh_calls(30))
    one = float(
        calc_price(
            Usage(input_tokens=1000, output_tokens=100), "gpt-4o-mini", provider_id="openai"
        ).total_price
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    run = [COSTPER, "report", "--db", str(db)]
    out = subprocess.run(
        [*run, "--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    [g] = json.loads(out.stdout)["groups"]
    assert (g["labeled_sessions"], g["pending_sessions"], g["calls"]) == (0, 30, 0)
    pending = g["pending"]
    assert (pending["sessions"], pending["calls"]) == (30, 30)
    assert pending["tokens"] == {"input": 30_000, "output": 3_000, "cache_read": 0, "total": 33_000}
    assert pending["cost"]["llm"] == pytest.approx(30 * one)

    text = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert (
        "Pending" in text.stdout and "30 call(s)" in text.stdout and "33,000 tokens" in text.stdout
    )

    with ServeProcess(db) as server:
        page = httpx.get(server.url + "/", timeout=60).text
        server.stop()
    assert 'id="pending-spend"' in page and "30 calls" in page
    card = page[page.index('id="pending-spend"') :][:400]
    assert money(30 * one) in card
