"""End to end with real parts: the `openai` client, instrumented by
openinference-instrumentation-openai, calls a fake OpenAI-compatible server on
127.0.0.1; its spans, tagged by `costper.sdk.session`, go through the real
OTLP/HTTP exporter to a real `costper serve` process with an API key;
outcomes are recorded with `costper.sdk.record_outcome`; then `costper report
--format json` (a subprocess) must show the calls, tokens, costs and cost per
success computed by hand below, and no prompt or completion text may be found
anywhere in the DuckDB file.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest
from fake_openai import FakeOpenAI, Reply
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_process import COSTPER, ServeProcess

from costper import sdk
from costper.store._store import open_store

KEY = "e2e-secret-key"
PROMPT = "E2E-PROMPT-5e1d please refund order 1234"
COMPLETION = "E2E-COMPLETION-77aa your refund is on its way"

# gpt-4o-mini in the genai-prices catalog, USD per million tokens.
INPUT, CACHED, OUTPUT = 0.15, 0.075, 0.60
REPLIES = {
    "a1": Reply(prompt_tokens=1200, cached_tokens=1024, completion_tokens=300, text=COMPLETION),
    "a2": Reply(prompt_tokens=800, completion_tokens=150, text=COMPLETION),
    "b1": Reply(prompt_tokens=1000, completion_tokens=200, text=COMPLETION),
    "c_limited": Reply(status=429),
    "c1": Reply(prompt_tokens=1000, cached_tokens=512, completion_tokens=250, text=COMPLETION),
}


def call_cost(reply: Reply) -> float:
    uncached = reply.prompt_tokens - reply.cached_tokens
    return (
        uncached * INPUT + reply.cached_tokens * CACHED + reply.completion_tokens * OUTPUT
    ) / 1e6


@pytest.fixture
def instrumented():
    spans = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider, spans
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def test_openai_app_to_report(tmp_path: Path, instrumented) -> None:
    provider, seen = instrumented
    with (
        ServeProcess(tmp_path / "e2e.duckdb", "--api-key", KEY) as server,
        FakeOpenAI(REPLIES) as api,
    ):
        sdk.configure(server.url, api_key=KEY, tracer_provider=provider, set_global=False)
        client = openai.OpenAI(base_url=api.url, api_key="sk-fake", max_retries=0)

        def ask(script: str) -> None:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"{PROMPT} SCRIPT:{script}"}],
            )

        with sdk.session("chat-A", feature="support-chat", prompt_version="v3"):
            ask("a1")
            ask("a2")
        with sdk.session("chat-B", feature="support-chat", prompt_version="v3"):
            ask("b1")
        with sdk.session("chat-C", feature="support-chat", prompt_version="v3"):
            with pytest.raises(openai.RateLimitError):
                ask("c_limited")
            ask("c1")  # the app's own retry
        assert provider.force_flush(10_000)

        outcome = dict(endpoint=server.url, api_key=KEY)
        assert sdk.record_outcome("chat-A", success=True, signal="thumbs_up", **outcome) == 1
        assert sdk.record_outcome("chat-B", escalated=True, signal="ticket_created", **outcome) == 1
        now = datetime.now(UTC)
        assert sdk.record_outcome("chat-C", success=True, reviewed=True, at=now, **outcome) == 1
        assert sdk.record_outcome("chat-C", success=True, reviewed=True, at=now, **outcome) == 0
        assert len(api.requests) == 5
        server.stop()

    finished = seen.get_finished_spans()
    assert any(PROMPT in json.dumps(dict(s.attributes or {})) for s in finished), (
        "the instrumentation should have recorded the prompt, or this test proves nothing"
    )
    assert {s.attributes.get("costper.session.id") for s in finished} == {
        "chat-A",
        "chat-B",
        "chat-C",
    }

    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    out = subprocess.run(
        [COSTPER, "report", "--db", str(tmp_path / "e2e.duckdb"), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    [group] = report["groups"]
    assert group["key"] == {"feature": "support-chat"}
    assert (group["sessions"], group["labeled_sessions"], group["pending_sessions"]) == (3, 3, 0)
    assert (group["successes"], group["escalations"]) == (2, 1)
    # The rate-limited call has no tokens; its model is read from OpenInference's
    # invocation parameters, so the catalog prices it: a refused call costs nothing.
    assert (group["calls"], group["failed_calls"], group["unpriced_calls"]) == (5, 1, 0)
    assert group["tokens"] == {
        "input": 1200 + 800 + 1000 + 1000,
        "output": 300 + 150 + 200 + 250,
        "cache_read": 1024 + 512,
        "total": 4000 + 900,
    }
    llm = sum(call_cost(REPLIES[k]) for k in ("a1", "a2", "b1", "c1"))
    assert llm == pytest.approx(0.0002832 + 0.00021 + 0.00027 + 0.0002616)
    escalation, review = 15.0, 2.0  # one escalated session, one reviewed (defaults)
    total = llm + escalation + review
    cost = group["cost"]
    assert cost["llm"] == pytest.approx(llm)
    assert cost["retries"] == 0.0  # the rate-limited call carried no tokens
    assert (cost["escalation"], cost["review"]) == (escalation, review)
    assert cost["total"] == pytest.approx(total)
    assert group["cost_sources"] == {"catalog": 5}
    assert group["cost_per_intent"]["value"] == pytest.approx(total / 3)
    assert group["cost_per_success"]["value"] == pytest.approx(total / 2)
    assert group["cost_per_success"]["value"] == pytest.approx(8.5005124)

    with open_store(tmp_path / "e2e.duckdb", read_only=True) as store:
        calls = store.sql(
            "SELECT session_id, prompt_version, model, provider, failed, error_type, "
            "input_tokens, cache_read_tokens FROM calls ORDER BY start_time"
        ).to_pylist()
        everything = json.dumps(
            [store.sql(f"SELECT * FROM {t}").to_pylist() for t in ("calls", "outcomes", "billing")],
            default=str,
        )
    assert [(c["session_id"], c["failed"], c["input_tokens"]) for c in calls] == [
        ("chat-A", False, 1200),
        ("chat-A", False, 800),
        ("chat-B", False, 1000),
        ("chat-C", True, None),
        ("chat-C", False, 1000),
    ]
    assert {(c["prompt_version"], c["provider"]) for c in calls} == {("v3", "openai")}
    assert calls[0]["model"].startswith("gpt-4o-mini")
    assert "RateLimitError" in (calls[3]["error_type"] or "")
    raw = (tmp_path / "e2e.duckdb").read_bytes()
    for secret in (PROMPT, COMPLETION, "E2E-PROMPT", "E2E-COMPLETION", "refund"):
        assert secret not in everything and secret.encode() not in raw
