"""Real OTLP payloads for ingest tests, made with the OpenTelemetry SDK and its encoder.

`record()` runs a block of instrumentation-like code under a real TracerProvider
and returns the ExportTraceServiceRequest the OTLP exporter would send; the
writers turn it into every file layout costper reads.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

SECRET = "CONTENT-7f3a: my card number is 4111 1111 1111 1111"
"""Put in every content attribute; must never appear in the store."""


def record(
    body: Callable[[Tracer], None], service: str = "support-bot"
) -> ExportTraceServiceRequest:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    body(provider.get_tracer("tests"))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


@contextmanager
def span(
    tracer: Tracer, name: str, attrs: Mapping[str, Any], *, error: bool = False
) -> Iterator[Any]:
    with tracer.start_as_current_span(name, attributes=dict(attrs)) as s:
        yield s
        if error:
            s.set_status(Status(StatusCode.ERROR, "boom"))


def genai_chat(model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    """OTel GenAI (current names) chat span attributes, with content."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": SECRET}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": SECRET}]),
    }
    attrs.update(extra)
    return attrs


def openinference_llm(model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.model_name": model,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": SECRET,
        "llm.output_messages.0.message.content": SECRET,
        "input.value": SECRET,
        "output.value": SECRET,
    }
    attrs.update(extra)
    return attrs


def cached_chat() -> dict[str, Any]:
    """gpt-4o-mini's dated snapshot: 1000 input tokens (400 read from cache), 100 output."""
    return genai_chat(
        **{
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 400,
            "gen_ai.response.id": "chatcmpl-1",
        }
    )


def mixed_request() -> ExportTraceServiceRequest:
    """A trace per convention plus non-call spans: 4 calls among 9 spans."""

    def body(t: Tracer) -> None:
        with span(t, "agent", {"gen_ai.operation.name": "invoke_agent", "session.id": "s1"}):
            with span(
                t,
                "chat gpt-4o-mini",
                cached_chat(),
            ):
                with span(t, "POST", {"http.request.method": "POST", "url.full": SECRET}):
                    pass
            with span(t, "search", {"gen_ai.operation.name": "execute_tool"}):
                pass
        with span(t, "chain", {"openinference.span.kind": "CHAIN", "session.id": "s2"}):
            with span(
                t,
                "ChatCompletion",
                openinference_llm(
                    **{"llm.token_count.prompt": 200, "llm.token_count.completion": 20}
                ),
            ):
                pass
        with span(
            t,
            "workflow",
            {"traceloop.span.kind": "workflow", "traceloop.workflow.name": "triage"},
        ):
            with span(
                t,
                "openai.chat",
                {
                    "llm.request.type": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.prompt_tokens": 50,
                    "gen_ai.usage.completion_tokens": 5,
                    "traceloop.association.properties.session_id": "s3",
                    "gen_ai.prompt.0.content": SECRET,
                },
            ):
                pass
        with span(
            t,
            "generation",
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "gpt-4o-mini",
                "langfuse.session.id": "s4",
                "langfuse.observation.usage_details": json.dumps({"input": 30, "output": 3}),
                "langfuse.observation.cost_details": json.dumps({"total": 0.5}),
                "langfuse.observation.input": SECRET,
            },
        ):
            pass

    return record(body)


def chats(n: int, session: str = "s", sessions: int = 7) -> ExportTraceServiceRequest:
    """`n` GenAI chat calls of gpt-4o-mini: call i has 100 + i input and 10 output
    tokens, in conversation `{session}{i % sessions}`."""

    def body(t: Tracer) -> None:
        for i in range(n):
            attrs = genai_chat(
                **{
                    "gen_ai.usage.input_tokens": 100 + i,
                    "gen_ai.usage.output_tokens": 10,
                    "gen_ai.conversation.id": f"{session}{i % sessions}",
                }
            )
            with span(t, "chat", attrs):
                pass

    return record(body)


def to_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """OTLP/JSON as the Collector writes it: camelCase, hex ids, int64 as strings."""
    doc = json_format.MessageToDict(request)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    return doc


def write_jsonl(path: Path, requests: list[ExportTraceServiceRequest]) -> Path:
    path.write_text("".join(json.dumps(to_json(r)) + "\n" for r in requests))
    return path


def write_framed(path: Path, requests: list[ExportTraceServiceRequest]) -> Path:
    """The Collector file exporter's proto format: 4-byte big-endian length, message."""
    with path.open("wb") as f:
        for r in requests:
            b = r.SerializeToString()
            f.write(len(b).to_bytes(4, "big"))
            f.write(b)
    return path


def gzip_file(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst
