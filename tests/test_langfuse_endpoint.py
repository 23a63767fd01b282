"""Langfuse's OTLP path and Basic auth, nested usage details, and an unreadable usage
object refused alone (OTLP partial success) while the rest of its request is stored."""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from serve_process import ServeProcess

from costper.store._store import open_store

PUBLIC, SECRET = "pk-lf-test", "sk-lf-test"


def generation(span_id: int, usage: str) -> dict:
    now = time.time_ns()
    attrs = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o-mini",
        "langfuse.observation.usage_details": usage,
        "session.id": "s-lf",
    }
    return {
        "traceId": f"{span_id:032x}",
        "spanId": f"{span_id:016x}",
        "name": "OpenAI-generation",
        "startTimeUnixNano": str(now - 10**9),
        "endTimeUnixNano": str(now),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def test_langfuse_path_basic_auth_nested_usage_and_a_bad_usage_object(tmp_path: Path) -> None:
    good = json.dumps(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
            "service_tier": "default",
        }
    )
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "scope": {"name": "langfuse-sdk"},
                        "spans": [
                            generation(1, good),
                            generation(2, json.dumps({"input": "lots", "output": 3})),
                            generation(3, "not json"),
                        ],
                    }
                ]
            }
        ]
    }
    body = gzip.compress(json.dumps(doc).encode())
    auth = "Basic " + base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    db = tmp_path / "lf.duckdb"
    with ServeProcess(db, "--api-key", f"{PUBLIC}:{SECRET}") as server:
        url = server.url + "/api/public/otel/v1/traces"
        wrong = "Basic " + base64.b64encode(f"{PUBLIC}:nope".encode()).decode()
        assert (
            httpx.post(url, content=body, headers={**headers, "Authorization": wrong}).status_code
            == 401
        )
        r = httpx.post(url, content=body, headers={**headers, "Authorization": auth})
        assert r.status_code == 200, r.text
        partial = r.json()["partialSuccess"]
        assert int(partial["rejectedSpans"]) == 2
        message = partial["errorMessage"]
        assert (
            f"span {2:016x}" in message and "usage_details.input" in message and "'lots'" in message
        )
        assert f"span {3:016x}" in message and "not json" in message
        pb = httpx.post(
            url,
            content=b"",
            headers={"Content-Type": "application/x-protobuf", "Authorization": auth},
        )
        assert pb.status_code == 200
        assert not ExportTraceServiceResponse.FromString(pb.content).HasField("partial_success")
        server.stop()
    with open_store(db, read_only=True) as store:
        rows = store.sql(
            "SELECT span_id, session_id, input_tokens, output_tokens, cache_read_tokens, provider "
            "FROM calls"
        ).to_pylist()
    assert rows == [
        {
            "span_id": f"{1:016x}",
            "session_id": "s-lf",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cache_read_tokens": 1024,
            "provider": "openai",
        }
    ]
