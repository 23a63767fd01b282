"""Real OTel SDK spans and their OTLP encodings, for the receiver's tests.

Spans are made by the OpenTelemetry SDK (TracerProvider + in-memory
exporter) and encoded by the OTLP exporter's own encoder, so the bytes are
what an app sends. OTLP/JSON is the protobuf JSON mapping with hex ids, as
the OTLP spec and the Collector write it.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

PROMPT_TEXT = "PROMPT-SECRET-7f3a: my card number is 4111"
COMPLETION_TEXT = "COMPLETION-SECRET-9b2c: here is your refund"

PRICES_TOML = """
[prices."openai/test-model"]
input = 1.0
output = 2.0
"""
"""Per million tokens: a call of 1000 in / 200 out costs 0.0014."""


def chat_attributes(
    session: str, input_tokens: int, output_tokens: int, *, model: str = "test-model"
) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "costper.session.id": session,
        "costper.feature": "support-chat",
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": PROMPT_TEXT}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": COMPLETION_TEXT}]),
    }


def agent_turn(
    session: str = "s-1", calls: Sequence[tuple[int, int]] = ((1000, 200), (500, 100))
) -> list[ReadableSpan]:
    """An agent span over a tool span and chat calls: only the chat spans are calls."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("costper-tests")
    total_in = sum(c[0] for c in calls)
    total_out = sum(c[1] for c in calls)
    with tracer.start_as_current_span(
        "invoke_agent support",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.usage.input_tokens": total_in,
            "gen_ai.usage.output_tokens": total_out,
            "costper.session.id": session,
        },
    ):
        with tracer.start_as_current_span(
            "execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool"}
        ):
            pass
        for input_tokens, output_tokens in calls:
            with tracer.start_as_current_span(
                "chat test-model", attributes=chat_attributes(session, input_tokens, output_tokens)
            ):
                pass
    provider.shutdown()
    return list(exporter.get_finished_spans())


def bad_span(session: str = "s-bad") -> list[ReadableSpan]:
    """One chat span with a negative token count, which the receiver must refuse alone."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("costper-tests")
    with tracer.start_as_current_span("chat bad", attributes=chat_attributes(session, -5, 10)):
        pass
    with tracer.start_as_current_span(
        "chat failed", attributes=chat_attributes(session, 10, 0)
    ) as s:
        s.set_status(Status(StatusCode.ERROR, "rate limited"))
        s.set_attribute("error.type", "<class 'openai.RateLimitError'>")
    provider.shutdown()
    return list(exporter.get_finished_spans())


def request_of(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def with_trace_id(request: ExportTraceServiceRequest, trace_id: bytes) -> ExportTraceServiceRequest:
    """A copy whose spans all belong to another trace (and so are other calls)."""
    copy = ExportTraceServiceRequest()
    copy.CopyFrom(request)
    for rs in copy.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                span.trace_id = trace_id
    return copy


def to_json(request: Any) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping, but trace and span ids in hex."""
    doc = json_format.MessageToDict(request)
    _ids_to_hex(doc)
    return json.dumps(doc).encode()


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def gz(body: bytes) -> bytes:
    return gzip.compress(body)
