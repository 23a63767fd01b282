"""A directory as the Collector's file exporter leaves it, from the real OpenTelemetry SDK.

Sessions of an agent app on two services, recorded with the SDK's tracer and
encoded by the OTLP exporter's encoder, spans written in the order they end (as
a batch processor sends them, so a trace's root comes after its children, often
in a later file), a few spans per line (one ExportTraceServiceRequest each,
OTLP/JSON as the exporter's `format: json` writes), lines spread over `files`
files named as rotation names them: `traces-<UTC time>.json` backups, then the
live `traces.json`; every seventh file gzipped. The calls cover several
providers and models, cached input, failures, an unpriced model, and one call
recorded by two instrumentation layers: siblings in the app's trace, and an SDK
span in a trace of its own (its framework's context lost).
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from otlp_payloads import to_json

MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("google", "gemini-1.5-flash"),
    ("acme", "acme-llm-1"),
]


def _genai(provider: str, model: str, i: int, **extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 300 + 37 * i,
        "gen_ai.usage.output_tokens": 40 + 11 * (i % 9),
        "gen_ai.input.messages": "[never stored]",
    }
    if i % 3 == 0:
        attrs["gen_ai.usage.cache_read.input_tokens"] = 128
    if i % 4 == 0:
        attrs["gen_ai.response.id"] = f"resp-{i}"
    attrs.update(extra)
    return attrs


_LLM = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.provider": "openai",
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 300,
}


def _session(tp: TracerProvider, n: int) -> None:
    app = tp.get_tracer("app")
    sdk = tp.get_tracer("opentelemetry.instrumentation.genai")
    chain = tp.get_tracer("openinference.instrumentation.langchain")
    oi_sdk = tp.get_tracer("openinference.instrumentation.openai")
    root_attrs = {"session.id": f"s-{n}", "costper.tenant": f"t-{n % 4}"}
    with app.start_as_current_span("turn", attributes=root_attrs) as turn:
        with app.start_as_current_span(
            "agent",
            attributes={"gen_ai.operation.name": "invoke_agent", "costper.feature": f"f{n % 3}"},
        ):
            for k in range(1 + n % 3):
                i = n * 3 + k
                provider, model = MODELS[i % len(MODELS)]
                failed = i % 7 == 0
                extra = {"error.type": "RateLimitError"} if failed else {}
                with sdk.start_as_current_span(
                    f"chat {model}", attributes=_genai(provider, model, i, **extra)
                ) as s:
                    if failed:
                        s.set_status(Status(StatusCode.ERROR, "429"))
        if n % 5 == 0:  # one call, two layers, siblings under the turn
            with chain.start_as_current_span("ChatOpenAI", attributes={**_LLM}):
                inner = oi_sdk.start_span(
                    "ChatCompletion",
                    context=set_span_in_context(turn),
                    attributes={**_LLM, "llm.token_count.prompt_details.cache_read": 1024},
                )
                inner.end()
        if n % 5 == 1:  # one call, two layers, the SDK's span in a trace of its own
            with chain.start_as_current_span("ChatOpenAI", attributes={**_LLM}):
                inner = oi_sdk.start_span(
                    "ChatCompletion",
                    context=Context(),
                    attributes={**_LLM, "llm.token_count.prompt_details.cache_read": 512},
                )
                inner.end()


def collector_dir(folder: Path, *, files: int = 100, sessions: int = 60) -> list[Path]:
    """Write the files; returns them in rotation (name) order."""
    spans: list[Any] = []
    for service in ("support-bot", "search-api"):
        exporter = InMemorySpanExporter()
        tp = TracerProvider(resource=Resource.create({"service.name": service}))
        tp.add_span_processor(SimpleSpanProcessor(exporter))
        for n in range(sessions // 2):
            _session(tp, n if service == "support-bot" else n + sessions)
        tp.shutdown()
        spans.extend(exporter.get_finished_spans())
    spans.sort(key=lambda s: s.end_time)
    lines = [
        json.dumps(to_json(encode_spans(spans[i : i + 3]))) + "\n" for i in range(0, len(spans), 3)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 12, 2, 10, 0, 0)
    written = []
    for f in range(files):
        chunk = "".join(lines[f * len(lines) // files : (f + 1) * len(lines) // files])
        live = f == files - 1
        stamp = (start + timedelta(minutes=f)).strftime("%Y-%m-%dT%H-%M-%S.000")
        name = "traces.json" if live else f"traces-{stamp}.json"
        path = folder / name
        if f % 7 == 3:
            path = folder / (name + ".gz")
            path.write_bytes(gzip.compress(chunk.encode()))
        else:
            path.write_text(chunk)
        written.append(path)
    return sorted(written)
