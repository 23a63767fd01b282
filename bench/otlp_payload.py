"""The benchmark payload: OTLP requests made with the real OpenTelemetry SDK and encoder.

Turns of an OpenInference-instrumented support bot: a CHAIN span carrying the
session, an LLM span with token counts and message content, a TOOL span.
One template request is recorded with the SDK; copies get fresh trace and
span ids, so every span of the payload is distinct.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

SPANS_PER_REQUEST = 999
CONTENT = "Where is my order 4471? It was due on Monday and the tracking page says nothing. " * 3


def template_request() -> Any:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    rng = random.Random(1)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    for turn in range(SPANS_PER_REQUEST // 3):
        session = f"session-{turn // 3}"
        chain = {"openinference.span.kind": "CHAIN", "session.id": session, "input.value": CONTENT}
        with tracer.start_as_current_span("support-turn", attributes=chain):
            llm = {
                "openinference.span.kind": "LLM",
                "llm.provider": "openai",
                "llm.system": "openai",
                "llm.model_name": "gpt-4o-mini-2024-07-18",
                "llm.token_count.prompt": rng.randint(200, 3000),
                "llm.token_count.completion": rng.randint(20, 400),
                "llm.token_count.prompt_details.cache_read": rng.choice([0, 0, 128, 1024]),
                "llm.token_count.total": 0,
                "session.id": session,
                "llm.invocation_parameters": '{"temperature": 0.2, "max_tokens": 512}',
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "You are a helpful support agent.",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": CONTENT,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": CONTENT,
                "input.value": CONTENT,
                "input.mime_type": "application/json",
                "output.value": CONTENT,
                "output.mime_type": "application/json",
            }
            with tracer.start_as_current_span("ChatCompletion", attributes=llm):
                pass
            tool = {
                "openinference.span.kind": "TOOL",
                "tool.name": "lookup_order",
                "session.id": session,
            }
            with tracer.start_as_current_span("lookup_order", attributes=tool):
                pass
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def payload(n_spans: int, seed: int = 7) -> list[bytes]:
    """Copies of the template request with fresh trace and span ids, serialized."""
    template = template_request()
    rng = random.Random(seed)
    bodies = []
    for _ in range(max(1, round(n_spans / SPANS_PER_REQUEST))):
        req = type(template)()
        req.CopyFrom(template)
        new: dict[bytes, bytes] = {}
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    s.trace_id = new.setdefault(s.trace_id, rng.randbytes(16))
                    s.span_id = new.setdefault(s.span_id, rng.randbytes(8))
                    if s.parent_span_id:
                        s.parent_span_id = new.setdefault(s.parent_span_id, rng.randbytes(8))
        bodies.append(req.SerializeToString())
    return bodies


def write_framed(path: Path, bodies: list[bytes]) -> None:
    with path.open("wb") as f:
        for b in bodies:
            f.write(len(b).to_bytes(4, "big") + b)
