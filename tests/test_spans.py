"""Span mapping: which spans are calls and what each convention's attributes say."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Status, StatusCode
from otlp_payloads import SECRET, genai_chat, mixed_request, openinference_llm, record, span

from costper.config import Config
from costper.telemetry._otlp_wire import kv_value
from costper.telemetry._span_attributes import normalise_error_type
from costper.telemetry._traces import calls_from_request


def rows(request: Any, config: Config | None = None) -> list[dict[str, Any]]:
    batch = calls_from_request(request, config or Config())
    assert batch.rejected == []
    return batch.table.to_pylist()


def by_session(table_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["session_id"]: r for r in table_rows}


def test_only_inference_spans_become_calls_one_per_convention() -> None:
    batch = calls_from_request(mixed_request(), Config())
    assert batch.spans == 9
    calls = by_session(batch.table.to_pylist())
    assert sorted(calls) == ["s1", "s2", "s3", "s4"]
    assert sum(r["input_tokens"] for r in calls.values()) == 1000 + 200 + 50 + 30
    assert sum(r["output_tokens"] for r in calls.values()) == 100 + 20 + 5 + 3


def test_otel_genai_current_names() -> None:
    r = by_session(rows(mixed_request()))["s1"]
    assert r["provider"] == "openai"
    assert r["model"] == "gpt-4o-mini-2024-07-18"  # the response model: what was billed
    assert r["operation"] == "chat"
    assert (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"]) == (1000, 100, 400)
    assert r["request_id"] == "chatcmpl-1"
    assert r["turn_id"] == r["trace_id"]
    assert r["feature"] == "support-bot"  # the resource's service.name
    assert r["failed"] is False


def test_openinference_openllmetry_and_langfuse() -> None:
    calls = by_session(rows(mixed_request()))
    oi = calls["s2"]
    assert (oi["provider"], oi["model"], oi["input_tokens"], oi["output_tokens"]) == (
        "openai",
        "gpt-4o-mini",
        200,
        20,
    )
    tl = calls["s3"]
    assert tl["feature"] == "triage"  # traceloop.workflow.name on the parent workflow span
    assert (tl["provider"], tl["input_tokens"], tl["output_tokens"]) == ("openai", 50, 5)
    lf = calls["s4"]
    assert (lf["input_tokens"], lf["output_tokens"]) == (30, 3)
    assert lf["cost_source"] == "reported" and lf["cost"] == 0.5


def test_deprecated_genai_names_give_the_same_row() -> None:
    def body(names: dict[str, str]) -> Any:
        def run(t: Tracer) -> None:
            attrs = {
                "gen_ai.operation.name": "chat",
                names["provider"]: "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                names["input"]: 120,
                names["output"]: 30,
                "gen_ai.conversation.id": "c1",
            }
            with span(t, "chat", attrs):
                pass

        return run

    current = rows(
        record(
            body(
                {
                    "provider": "gen_ai.provider.name",
                    "input": "gen_ai.usage.input_tokens",
                    "output": "gen_ai.usage.output_tokens",
                }
            )
        )
    )[0]
    old = rows(
        record(
            body(
                {
                    "provider": "gen_ai.system",
                    "input": "gen_ai.usage.prompt_tokens",
                    "output": "gen_ai.usage.completion_tokens",
                }
            )
        )
    )[0]
    keep = ("session_id", "provider", "model", "input_tokens", "output_tokens", "cost")
    assert {k: current[k] for k in keep} == {k: old[k] for k in keep}
    assert current["session_id"] == "c1"
    assert current["cost"] == (120 * 0.15 + 30 * 0.60) / 1e6


def test_no_content_reaches_the_table() -> None:
    table = calls_from_request(mixed_request(), Config()).table
    for column in table.columns:
        for value in column.to_pylist():
            assert SECRET not in str(value)
    assert "gen_ai.input.messages" not in table.column_names


def test_wrapping_llm_span_is_dropped_and_tags_are_inherited() -> None:
    def body(t: Tracer) -> None:
        root = {
            "openinference.span.kind": "CHAIN",
            "session.id": "root-s",
            "costper.feature": "faq",
        }
        with span(t, "chain", root):
            with span(t, "ChatOpenAI", openinference_llm(**{"llm.token_count.prompt": 10})):
                with span(t, "ChatCompletion", openinference_llm(**{"llm.token_count.prompt": 10})):
                    pass

    calls = rows(record(body))
    assert len(calls) == 1  # LangChain's LLM span wraps the SDK's: counted once
    assert (calls[0]["session_id"], calls[0]["feature"]) == ("root-s", "faq")


def test_project_keys_take_precedence() -> None:
    def body(t: Tracer) -> None:
        attrs = genai_chat(
            **{
                "costper.session.id": "mine",
                "session.id": "theirs",
                "costper.feature": "billing-bot",
                "gen_ai.workflow.name": "wf",
                "costper.prompt.version": "v7",
                "llm.prompt_template.version": "v1",
                "costper.request.id": "req-9",
                "gen_ai.response.id": "chatcmpl-9",
            }
        )
        with span(t, "chat", attrs):
            pass

    r = rows(record(body))[0]
    assert (r["session_id"], r["feature"], r["prompt_version"]) == ("mine", "billing-bot", "v7")
    assert (r["turn_id"], r["request_id"]) == ("req-9", "req-9")


def test_failed_calls() -> None:
    def body(t: Tracer) -> None:
        with span(
            t,
            "a",
            genai_chat(
                **{"error.type": "<class 'openai.RateLimitError'>", "gen_ai.conversation.id": "a"}
            ),
            error=True,
        ):
            pass
        with span(t, "b", genai_chat(**{"gen_ai.conversation.id": "b"})) as s:
            s.record_exception(TimeoutError("slow"))
            s.set_status(Status(StatusCode.ERROR))
        with span(
            t,
            "c",
            genai_chat(
                **{
                    "costper.call.valid": False,
                    "gen_ai.conversation.id": "c",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 10,
                }
            ),
        ):
            pass
        with span(t, "d", genai_chat(**{"gen_ai.conversation.id": "d"}), error=True):
            pass

    calls = by_session(rows(record(body)))
    assert (calls["a"]["failed"], calls["a"]["error_type"]) == (True, "openai.RateLimitError")
    assert (calls["b"]["failed"], calls["b"]["error_type"]) == (True, "TimeoutError")
    assert (calls["c"]["failed"], calls["c"]["error_type"]) == (True, "invalid_output")
    assert calls["c"]["cost"] == (100 * 0.15 + 10 * 0.60) / 1e6  # failed calls are billed
    assert (calls["d"]["failed"], calls["d"]["error_type"]) == (True, "_OTHER")


def test_error_type_normalisation() -> None:
    assert normalise_error_type("<class 'openai.RateLimitError'>") == "openai.RateLimitError"
    assert normalise_error_type(" 429 ") == "429"
    assert normalise_error_type("") is None


def test_cache_counts_beyond_input_mean_uncached_input_was_reported() -> None:
    def body(t: Tracer) -> None:
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-20250514",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read_input_tokens": 1000,
            "gen_ai.usage.cache_creation_input_tokens": 50,
            "gen_ai.usage.output_tokens": 10,
        }
        with span(t, "chat", attrs):
            pass

    r = rows(record(body))[0]
    assert (r["input_tokens"], r["cache_read_tokens"], r["cache_write_tokens"]) == (1150, 1000, 50)
    # claude-sonnet-4: $3 input, $0.30 cache read, $3.75 cache write, $15 output per 1M
    assert abs(r["cost"] - (100 * 3 + 1000 * 0.30 + 50 * 3.75 + 10 * 15) / 1e6) < 1e-15


def test_bad_span_is_rejected_and_the_rest_accepted() -> None:
    def body(t: Tracer) -> None:
        with span(t, "good", genai_chat(**{"gen_ai.usage.input_tokens": 5})):
            pass
        with span(t, "bad", genai_chat(**{"gen_ai.usage.input_tokens": "lots"})):
            pass

    batch = calls_from_request(record(body), Config(), source="POST /v1/traces")
    assert batch.table.num_rows == 1
    ((index, reason),) = batch.rejected
    assert index == 1
    assert "gen_ai.usage.input_tokens" in reason and "'lots'" in reason
    assert reason.startswith("POST /v1/traces: span ")


def test_langfuse_buckets_fold_into_otel_totals() -> None:
    usage = {"input": 70, "cache_read_input_tokens": 30, "output": 8, "output_reasoning_tokens": 2}

    def body(t: Tracer) -> None:
        attrs = {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "o3",
            "gen_ai.system": "openai",
            "langfuse.observation.usage_details": json.dumps(usage),
        }
        with span(t, "gen", attrs):
            pass

    r = rows(record(body))[0]
    assert (r["input_tokens"], r["cache_read_tokens"]) == (100, 30)
    assert (r["output_tokens"], r["reasoning_tokens"]) == (10, 2)


SCALARS = st.one_of(
    st.text(max_size=300).map(lambda s: AnyValue(string_value=s)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=False).map(lambda d: AnyValue(double_value=d)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.just(AnyValue()),
)


@given(key=st.text(min_size=1, max_size=60), value=SCALARS)
def test_lean_value_decoder_agrees_with_protobuf(key: str, value: AnyValue) -> None:
    kv = KeyValue(key=key, value=value).SerializeToString()
    if kv[1] >= 128:
        return
    kind = value.WhichOneof("value")
    expected = getattr(value, kind) if kind else None
    assert kv_value(kv, 2 + kv[1]) == expected


def test_arrow_types_match_the_store_schema() -> None:
    from costper.store._schema import CALLS

    table = calls_from_request(mixed_request(), Config()).table
    for f in table.schema:
        assert CALLS.field(f.name).type == f.type
    assert table.column("start_time").type == pa.timestamp("us")


def test_resource_attributes_tag_every_call_of_the_service() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": "api", "costper.feature": "invoice-extraction"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with span(tracer, "chat", genai_chat(**{"gen_ai.usage.input_tokens": 1})):
        pass
    with span(tracer, "tool", {"gen_ai.operation.name": "execute_tool"}):
        pass
    (r,) = rows(encode_spans(exporter.get_finished_spans()))
    assert (r["feature"], r["service_name"]) == ("invoice-extraction", "api")
