"""costper.sdk: session tags on every span (with the real OTel SDK and the official
OpenAI instrumentation), and outcomes recorded locally or through a server."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest
from fake_openai import FakeOpenAI, Reply
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_process import ServeProcess

from costper import sdk
from costper.config import Config
from costper.errors import AuthError, CostperError, InputError
from costper.store._store import open_store
from costper.telemetry._traces import calls_from_request


@pytest.fixture
def tracing():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(sdk.CostperSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider, spans
    provider.shutdown()


def tags(spans: InMemorySpanExporter) -> dict[str, tuple]:
    return {
        s.name: tuple((s.attributes or {}).get(k) for k in sdk.TAGS)
        for s in spans.get_finished_spans()
    }


def test_every_span_inside_a_session_is_tagged(tracing) -> None:
    provider, spans = tracing
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("before"):
        pass
    with sdk.session("s-1", feature="support-chat", prompt_version="v2"):
        with tracer.start_as_current_span("request"):
            with tracer.start_as_current_span("llm call"):
                pass
        with sdk.session("s-2"):
            with tracer.start_as_current_span("nested session"):
                pass
        with tracer.start_as_current_span("own", attributes={"costper.session.id": "mine"}):
            pass
    with tracer.start_as_current_span("after"):
        pass
    assert tags(spans) == {
        "before": (None, None, None),
        "request": ("s-1", "support-chat", "v2"),
        "llm call": ("s-1", "support-chat", "v2"),
        "nested session": ("s-2", "support-chat", "v2"),
        "own": ("mine", "support-chat", "v2"),
        "after": (None, None, None),
    }
    with pytest.raises(ValueError):
        with sdk.session(""):
            pass


def test_the_official_openai_instrumentation_gets_the_session(tracing) -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider, spans = tracing
    replies = {"x": Reply(prompt_tokens=900, completion_tokens=100)}
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeOpenAI(replies) as api, sdk.session("s-v2", feature="faq", prompt_version="p7"):
            client = openai.OpenAI(base_url=api.url, api_key="sk-fake", max_retries=0)
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "SCRIPT:x"}]
            )
    finally:
        instrumentor.uninstrument()
    finished = spans.get_finished_spans()
    assert len(finished) == 1 and finished[0].attributes["gen_ai.provider.name"] == "openai"
    batch = calls_from_request(encode_spans(finished), Config())
    [row] = batch.table.to_pylist()
    assert (row["session_id"], row["feature"], row["prompt_version"]) == ("s-v2", "faq", "p7")
    assert (row["input_tokens"], row["output_tokens"], row["cost_source"]) == (900, 100, "catalog")
    assert row["cost"] == pytest.approx((900 * 0.15 + 100 * 0.60) / 1e6)


def test_record_outcome_into_a_local_store(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "local.duckdb"
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert sdk.record_outcome("s-1", success=True, signal="exit_code", at=at, store=db) == 1
    assert sdk.record_outcome("s-1", success=True, signal="exit_code", at=at, store=db) == 0
    monkeypatch.setenv("COSTPER_DB", str(db))
    monkeypatch.delenv("COSTPER_ENDPOINT", raising=False)
    assert sdk.record_outcome("s-2", escalated=True, reviewed=False, at="2026-11-21T00:00:00Z") == 1
    with open_store(db) as store:
        assert sdk.record_outcome("s-3", success=False, store=store) == 1
        rows = store.sql(
            'SELECT session_id, "at", success, escalated, reviewed, signal, source '
            "FROM outcomes ORDER BY session_id"
        ).to_pylist()
    assert [r["session_id"] for r in rows] == ["s-1", "s-2", "s-3"]
    assert rows[0]["at"] == datetime(2026, 11, 20, 9, 30)
    assert (rows[0]["success"], rows[0]["signal"], rows[0]["source"]) == (
        True,
        "exit_code",
        "explicit",
    )
    assert (rows[1]["success"], rows[1]["escalated"], rows[1]["reviewed"]) == (None, True, False)
    assert rows[2]["success"] is False


def test_record_outcome_through_a_server_and_its_errors(tmp_path: Path) -> None:
    keys = {"COSTPER_API_KEYS": "other, k"}
    with ServeProcess(tmp_path / "srv.duckdb", env=keys) as server:
        at = datetime(2026, 11, 20, tzinfo=UTC)
        url = server.url + "/v1/traces"  # any OTLP path of the server is understood
        assert sdk.record_outcome("s-1", success=True, at=at, endpoint=url, api_key="k") == 1
        assert sdk.record_outcome("s-1", success=True, at=at, endpoint=server.url, api_key="k") == 0
        with pytest.raises(AuthError, match="no API key"):
            sdk.record_outcome("s-1", success=True, endpoint=server.url)
        with pytest.raises(InputError, match="at: expected an RFC 3339 time.*'yesterday'"):
            sdk.record_outcome(
                "s-1", success=True, at="yesterday", endpoint=server.url, api_key="k"
            )
        server.stop()
    with pytest.raises(CostperError, match="cannot reach costper serve"):
        sdk.record_outcome("s-1", success=True, endpoint=server.url, timeout=2, strict=True)
    with open_store(tmp_path / "srv.duckdb", read_only=True) as store:
        assert store.count("outcomes") == 1


def test_importing_the_sdk_loads_no_database_or_web_framework() -> None:
    code = (
        "import sys, costper.sdk; "
        "heavy = ('duckdb', 'fastapi', 'ibis', 'uvicorn', 'typer'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_record_outcome_never_breaks_the_app_when_the_server_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ServeProcess(tmp_path / "gone.duckdb") as server:
        url = server.url
    with caplog.at_level("WARNING", logger="costper"):
        assert sdk.record_outcome("s-9", success=True, endpoint=url, timeout=2) == 0
    [warning] = [r for r in caplog.records if r.name == "costper"]
    assert "s-9" in warning.getMessage() and "cannot reach costper serve" in warning.getMessage()


def test_sdk_without_its_extra_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n    import costper.sdk\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'costper[sdk]'" in out.stdout, out.stderr
