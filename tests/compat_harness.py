"""The compatibility suite's harness: real libraries' spans to real costper ingest paths.

A library under test runs once against the fake upstream (`fake_openai`), with
the process's global OpenTelemetry tracer provider capturing every span as it
ends. The captured spans then go, through the real OTLP/HTTP exporter, to
real `costper serve` processes, once per batching mode:

* `per-span`: one export per span in the order spans ended, so a parent (the
  app's root span with the session) arrives after its children, as with
  `SimpleSpanProcessor`, Phoenix's `register()` default or Traceloop's
  `disable_batch`;
* `batch`: the spans in exports of up to 512, as `BatchSpanProcessor` sends;

and, as the OpenTelemetry Collector's file exporter writes them (protobuf,
length-prefixed), to a file that `costper ingest traces` reads. Every mode
must store the very same calls; expected values come from the scenario's
scripted usage and genai-prices, never from costper.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices import Usage, calc_price
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from serve_process import COSTPER, ServeProcess

from costper.store._store import open_store

PROMPT = "COMPAT-PROMPT-91c2 where is my parcel"
COMPLETION = "COMPAT-COMPLETION-4b7e it ships today"
MODES = ("per-span", "batch", "file")
CALL_COLUMNS = (
    "trace_id", "span_id", "session_id", "feature", "prompt_version", "turn_id", "tenant",
    "service_tier",
    "provider", "model", "operation", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "failed", "estimated_cost", "cost_source",
)  # fmt: skip

_lock = threading.Lock()
_spans: list[ReadableSpan] = []


class _Collect(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        with _lock:
            _spans.append(span)


_PROVIDER: TracerProvider | None = None


def provider() -> TracerProvider:
    """The process's global tracer provider, set once (OTel refuses to replace it)."""
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = TracerProvider(resource=Resource.create({"service.name": "compat-app"}))
        _PROVIDER.add_span_processor(_Collect())
        trace.set_tracer_provider(_PROVIDER)
    return _PROVIDER


@contextmanager
def captured() -> Iterator[list[ReadableSpan]]:
    """The spans that end inside the block, in the order they ended."""
    provider()
    with _lock:
        _spans.clear()
    out: list[ReadableSpan] = []
    yield out
    with _lock:
        out.extend(_spans)
        _spans.clear()


def app_span(session: str, feature: str, **more: str) -> Any:
    """The app's own root span around a conversation turn: the session and feature
    are set here, not on the LLM spans, and it ends after them."""
    attributes = {"session.id": session, "costper.feature": feature, **more}
    return trace.get_tracer("compat-app").start_as_current_span("turn", attributes=attributes)


def deliver(spans: Sequence[ReadableSpan], db: Path, mode: str) -> list[dict[str, Any]]:
    """Send the spans to a fresh store the way `mode` says; the stored calls."""
    if mode == "file":
        path = db.with_suffix(".pb")
        with path.open("wb") as f:
            for span in spans:
                body = encode_spans([span]).SerializeToString()
                f.write(len(body).to_bytes(4, "big") + body)
        out = subprocess.run(
            [COSTPER, "ingest", "traces", str(path), "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
    else:
        with ServeProcess(db) as server:
            exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces")
            size = 1 if mode == "per-span" else 512
            for i in range(0, len(spans), size):
                assert exporter.export(list(spans[i : i + size])).name == "SUCCESS"
            server.stop()
    return stored_calls(db)


def stored_calls(db: Path) -> list[dict[str, Any]]:
    cols = ", ".join(CALL_COLUMNS)
    with open_store(db, read_only=True) as store:
        return store.sql(f"SELECT {cols} FROM calls ORDER BY start_time, span_id").to_pylist()


def no_text_stored(db: Path) -> None:
    raw = db.read_bytes()
    for secret in (PROMPT, COMPLETION, "COMPAT-PROMPT", "COMPAT-COMPLETION"):
        assert secret.encode() not in raw, f"{secret!r} reached the store"


def price(
    model: str,
    provider_id: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read: int = 0,
    cache_write: int = 0,
) -> Decimal:
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    return calc_price(usage, model_ref=model, provider_id=provider_id).total_price


def all_modes(spans: Sequence[ReadableSpan], tmp_path: Path) -> list[dict[str, Any]]:
    """Deliver in every mode; assert they stored identical calls, and no text; return them."""
    results = {}
    for mode in MODES:
        db = tmp_path / f"{mode}.duckdb"
        results[mode] = deliver(spans, db, mode)
        no_text_stored(db)
    first = results[MODES[0]]
    for mode in MODES[1:]:
        assert results[mode] == first, (
            f"{mode} stored other calls than {MODES[0]}: {results[mode]} != {first}"
        )
    return first
