"""One record per real call, and tags from late ancestors, whatever the batching.

Spans are made with the real OpenTelemetry SDK and encoder, shaped as
OpenInference's LangChain and OpenAI instrumentors write them; each case is
ingested as one request and as one request per span (in the order spans
ended, so parents come last), and both must store the same calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import set_span_in_context

from costper.config import Config
from costper.store._store import open_store
from costper.telemetry._traces import ingest_request

LLM = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.provider": "openai",
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 300,
}
CACHED = {**LLM, "llm.token_count.prompt_details.cache_read": 1024}


def spans_of(build: Callable[[TracerProvider], None]) -> list[Any]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({"service.name": "bot"}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    build(tp)
    tp.shutdown()
    return list(exporter.get_finished_spans())


def stored(spans: list[Any], per_span: bool) -> list[dict[str, Any]]:
    store = open_store(":memory:")
    groups = [[s] for s in spans] if per_span else [spans]
    for group in groups:
        ingest_request(store, Config(), encode_spans(group))
    cols = "session_id, feature, input_tokens, output_tokens, cache_read_tokens, estimated_cost"
    rows = store.sql(f"SELECT {cols} FROM calls ORDER BY start_time, span_id").to_pylist()
    assert store.count("calls") == len(rows)
    store.close()
    return rows


def both(spans: list[Any]) -> list[dict[str, Any]]:
    one = stored(spans, per_span=False)
    assert stored(spans, per_span=True) == one
    return one


def cached_cost() -> float:
    usage = Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=300)
    return float(calc_price(usage, model_ref="gpt-4o-mini", provider_id="openai").total_price)


def test_sdk_span_in_a_trace_of_its_own_is_the_framework_call() -> None:
    """LangChain's ChatOpenAI span in the app's trace; the OpenAI instrumentor's span of
    the same request as the root of another trace (its context got lost): one call, in
    the app's session, with the SDK span's cache count and price."""

    def build(tp: TracerProvider) -> None:
        app = tp.get_tracer("app")
        chain = tp.get_tracer("openinference.instrumentation.langchain")
        sdk = tp.get_tracer("openinference.instrumentation.openai")
        with app.start_as_current_span("turn", attributes={"session.id": "s-1"}):
            with chain.start_as_current_span("ChatOpenAI", attributes=LLM):
                inner = sdk.start_span("ChatCompletion", context=Context(), attributes=CACHED)
                inner.end()

    calls = both(spans_of(build))
    assert len(calls) == 1
    [call] = calls
    assert (call["session_id"], call["input_tokens"], call["cache_read_tokens"]) == (
        "s-1",
        1200,
        1024,
    )
    assert call["estimated_cost"] == pytest.approx(cached_cost())


def test_identical_calls_at_once_from_one_library_are_two_calls() -> None:
    """The same prompt sent twice concurrently: same model, usage, overlapping time, one
    instrumentation: two calls, whether siblings or each the root of its trace."""

    def build(tp: TracerProvider) -> None:
        sdk = tp.get_tracer("openinference.instrumentation.openai")
        app = tp.get_tracer("app")
        with app.start_as_current_span("turn", attributes={"session.id": "s-1"}) as turn:
            ctx = set_span_in_context(turn)
            a = sdk.start_span("ChatCompletion", context=ctx, attributes=CACHED)
            b = sdk.start_span("ChatCompletion", context=ctx, attributes=CACHED)
            a.end()
            b.end()
        c = sdk.start_span("ChatCompletion", context=Context(), attributes=CACHED)
        d = sdk.start_span("ChatCompletion", context=Context(), attributes=CACHED)
        c.end()
        d.end()

    calls = both(spans_of(build))
    assert len(calls) == 4
    assert [c["session_id"] for c in calls][:2] == ["s-1", "s-1"]


def test_same_prompt_twice_in_a_row_across_layers_is_two_calls() -> None:
    """Two layers, two sequential identical requests: each SDK span pairs with the
    framework span around it only, never with the other request's."""

    def build(tp: TracerProvider) -> None:
        app = tp.get_tracer("app")
        chain = tp.get_tracer("openinference.instrumentation.langchain")
        sdk = tp.get_tracer("openinference.instrumentation.openai")
        with app.start_as_current_span("turn", attributes={"session.id": "s-1"}):
            for _ in range(2):
                with chain.start_as_current_span("ChatOpenAI", attributes=LLM):
                    inner = sdk.start_span("ChatCompletion", context=Context(), attributes=CACHED)
                    time.sleep(0.005)
                    inner.end()
                time.sleep(0.005)

    calls = both(spans_of(build))
    assert len(calls) == 2
    assert [c["cache_read_tokens"] for c in calls] == [1024, 1024]


def test_tags_from_a_root_that_arrives_last_and_deep_chains() -> None:
    """Session on the root, feature on an agent span between; calls two levels down.
    Exported one span per request, root last, as with SimpleSpanProcessor."""

    def build(tp: TracerProvider) -> None:
        app = tp.get_tracer("app")
        sdk = tp.get_tracer("openinference.instrumentation.openai")
        with app.start_as_current_span("turn", attributes={"session.id": "s-9"}):
            with app.start_as_current_span(
                "agent", attributes={"openinference.span.kind": "AGENT", "costper.feature": "f"}
            ):
                with app.start_as_current_span("step"):
                    with sdk.start_as_current_span("ChatCompletion", attributes=LLM):
                        pass

    calls = both(spans_of(build))
    assert [(c["session_id"], c["feature"]) for c in calls] == [("s-9", "f")]
