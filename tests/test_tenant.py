"""`tenant`: the customer a call was made for, read from the span or an ancestor, and a
group key of every report (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_process import COSTPER

from costper.config import Config
from costper.store._store import open_store
from costper.telemetry._traces import ingest_request

CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 100,
}
TENANT_KEYS = ("enduser.id", "user.id", "langfuse.user.id", "ai.telemetry.metadata.userId")


def test_tenant_from_every_convention_and_report_by_tenant(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("app")
    for i, key in enumerate(TENANT_KEYS):
        with tracer.start_as_current_span(
            "turn", attributes={key: f"t{i % 2}", "session.id": f"s{i}"}
        ):
            with tracer.start_as_current_span("chat", attributes=CALL):
                pass
    with tracer.start_as_current_span("chat", attributes={**CALL, "costper.tenant": "t1"}):
        pass
    tp.shutdown()
    db = tmp_path / "t.duckdb"
    with open_store(db) as store:
        for span in exporter.get_finished_spans():  # one request per span, parents last
            ingest_request(store, Config(), encode_spans([span]))
        tenants = store.sql("SELECT tenant FROM calls ORDER BY start_time").column(0).to_pylist()
    assert tenants == ["t0", "t1", "t0", "t1", "t1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    out = subprocess.run(
        [COSTPER, "report", "--db", str(db), "--by", "tenant", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    groups = json.loads(out.stdout)["groups"]
    assert {g["key"]["tenant"]: g["sessions"] for g in groups} == {"t0": 2, "t1": 3}
    assert {g["key"]["tenant"]: g["pending"]["calls"] for g in groups} == {"t0": 2, "t1": 3}
