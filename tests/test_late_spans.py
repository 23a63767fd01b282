"""A span that arrives after its trace's complete ancestor chain was stored.

The app's root span (session, feature, tenant) and an agent span end, and are
exported with the first call below them, as one complete request; a second
call below the same spans is exported later on its own (a retry, a slow
stream, another process's exporter). It must inherit the stored ancestors'
tags as if it had come in the same request: live, as separate requests to a
real `costper serve`, and from files, ingested one after the other or as one.
The expected tags are written out by hand from the tree below.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from serve_process import COSTPER, ServeProcess
from test_linking import LLM, spans_of

from costper.store._store import open_store

COLUMNS = "span_id, session_id, feature, tenant, input_tokens, output_tokens"


def tree() -> tuple[list[Any], list[Any]]:
    """turn (s-1, support, acme) > agent > call A, late B; turn > step (refund) > call S,
    late C. The second list is what arrives late."""
    late_names = {"late-b", "late-c"}

    def build(tp: Any) -> None:
        app = tp.get_tracer("app")
        llm = tp.get_tracer("openinference.instrumentation.openai")
        root = {"session.id": "s-1", "costper.feature": "support", "enduser.id": "acme"}
        with app.start_as_current_span("turn", attributes=root):
            with app.start_as_current_span("agent"):
                with llm.start_as_current_span("call-a", attributes=LLM):
                    pass
                with llm.start_as_current_span("late-b", attributes=LLM):
                    pass
            with app.start_as_current_span("step", attributes={"costper.feature": "refund"}):
                with llm.start_as_current_span("call-s", attributes=LLM):
                    pass
                with llm.start_as_current_span("late-c", attributes=LLM):
                    pass

    spans = spans_of(build)
    first = [s for s in spans if s.name not in late_names]
    late = [s for s in spans if s.name in late_names]
    return first, late


def expected(spans: list[Any]) -> list[tuple[Any, ...]]:
    feature = {"call-a": "support", "late-b": "support", "call-s": "refund", "late-c": "refund"}
    rows = [
        (format(s.context.span_id, "016x"), "s-1", feature[s.name], "acme", 1200, 300)
        for s in spans
        if s.name in feature
    ]
    return sorted(rows)


def calls(db: Path) -> list[tuple[Any, ...]]:
    with open_store(db, read_only=True) as store:
        rows = store.sql(f"SELECT {COLUMNS} FROM calls ORDER BY span_id").to_pylist()
    return [tuple(r.values()) for r in rows]


def write_file(path: Path, spans: list[Any]) -> Path:
    body = encode_spans(spans).SerializeToString()
    path.write_bytes(len(body).to_bytes(4, "big") + body)
    return path


def ingest(db: Path, *files: Path) -> None:
    out = subprocess.run(
        [COSTPER, "ingest", "traces", *map(str, files), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


def test_late_child_live_and_from_files_inherits_stored_ancestors(tmp_path: Path) -> None:
    first, late = tree()
    want = expected(first + late)
    assert len(want) == 4

    live = tmp_path / "live.duckdb"
    with ServeProcess(live) as server:
        for group in (first, late):
            r = httpx.post(
                server.url + "/v1/traces",
                content=encode_spans(group).SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
        server.stop()
    assert calls(live) == want

    two_files = tmp_path / "two-files.duckdb"
    ingest(two_files, write_file(tmp_path / "first.pb", first))
    ingest(two_files, write_file(tmp_path / "late.pb", late))
    assert calls(two_files) == want

    one_file = tmp_path / "one-file.duckdb"
    ingest(one_file, write_file(tmp_path / "all.pb", first + late))
    assert calls(one_file) == want
