"""The OTLP/HTTP receiver and outcome endpoint, against a real `costper serve` process.

Every test starts its own server on 127.0.0.1 and a free port, with its own
DuckDB file, sends real HTTP requests and, where it checks what was stored,
stops the server (SIGTERM) and opens the store it wrote.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from serve_process import ServeProcess
from server_payloads import (
    COMPLETION_TEXT,
    PRICES_TOML,
    PROMPT_TEXT,
    agent_turn,
    bad_span,
    gz,
    request_of,
    to_json,
    with_trace_id,
)

from costper.store._store import open_store

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
LIMIT = 200_000


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "costper.toml"
    path.write_text(PRICES_TOML + f"\n[server]\nmax_request_bytes = {LIMIT}\n")
    return path


@pytest.fixture
def server(tmp_path: Path, config_file: Path):
    """A server of the test's own, for tests that stop it to read what it stored."""
    with ServeProcess(tmp_path / "served.duckdb", "--config", str(config_file)) as s:
        yield s


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One server for the tests that only look at answers (a start costs seconds)."""
    folder = tmp_path_factory.mktemp("shared")
    config = folder / "costper.toml"
    config.write_text(PRICES_TOML + f"\n[server]\nmax_request_bytes = {LIMIT}\n")
    with ServeProcess(folder / "shared.duckdb", "--config", str(config)) as s:
        yield s


def post(server: ServeProcess, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def calls_of(db: Path) -> list[dict]:
    with open_store(db, read_only=True) as store:
        return store.sql("SELECT * FROM calls ORDER BY trace_id, span_id").to_pylist()


def test_every_encoding_stores_the_same_rows(server: ServeProcess) -> None:
    base = request_of(agent_turn("s-1", [(1000, 200), (500, 100)]))
    variants = {
        "pb": (with_trace_id(base, b"\x01" * 16), False, PB),
        "pb+gzip": (with_trace_id(base, b"\x02" * 16), True, PB),
        "json": (with_trace_id(base, b"\x03" * 16), False, JS),
        "json+gzip": (with_trace_id(base, b"\x04" * 16), True, JS),
    }
    for name, (request, zipped, headers) in variants.items():
        body = to_json(request) if headers is JS else request.SerializeToString()
        if zipped:
            body, headers = gz(body), {**headers, "Content-Encoding": "gzip"}
        r = post(server, "/v1/traces", body, headers)
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"] == headers["Content-Type"]
        assert r.headers["x-costper-new"] == "2", name  # agent and tool spans are not calls
        if headers["Content-Type"] == PB["Content-Type"]:
            assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
        else:
            assert r.json() == {}
    again = post(server, "/v1/traces", variants["pb"][0].SerializeToString(), PB)
    assert (again.status_code, again.headers["x-costper-new"]) == (200, "0")
    server.stop()

    rows = calls_of(server.db)
    assert len(rows) == 8
    by_trace: dict[str, list[dict]] = {}
    for row in rows:
        by_trace.setdefault(row["trace_id"], []).append(row)
    assert sorted(by_trace) == [(bytes([i]) * 16).hex() for i in (1, 2, 3, 4)]
    stripped = [
        [{k: v for k, v in r.items() if k not in ("trace_id", "turn_id", "seq")} for r in calls]
        for calls in by_trace.values()
    ]
    for s in stripped:
        for a, b in zip(s, stripped[0], strict=True):
            assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    first = sorted(stripped[0], key=lambda r: r["input_tokens"])
    assert [(r["input_tokens"], r["output_tokens"]) for r in first] == [(500, 100), (1000, 200)]
    # 1.00 and 2.00 per million: 500*1 + 100*2 = 700e-6, 1000*1 + 200*2 = 1400e-6
    assert [r["cost"] for r in first] == pytest.approx([0.0007, 0.0014])
    assert {r["cost_source"] for r in first} == {"config"}
    assert {(r["session_id"], r["feature"], r["model"]) for r in first} == {
        ("s-1", "support-chat", "test-model")
    }
    raw = server.db.read_bytes()
    flat = json.dumps(rows, default=str)
    for secret in (PROMPT_TEXT, COMPLETION_TEXT, "PROMPT-SECRET", "COMPLETION-SECRET"):
        assert secret not in flat and secret.encode() not in raw


def test_deflate_is_accepted_too(shared: ServeProcess) -> None:
    server = shared
    body = zlib.compress(request_of(agent_turn("s-d")).SerializeToString())
    r = post(server, "/v1/traces", body, {**PB, "Content-Encoding": "deflate"})
    assert r.status_code == 200, r.text
    assert r.headers["x-costper-new"] == "2"


def test_a_bad_span_is_refused_alone_with_a_partial_success(shared: ServeProcess) -> None:
    server = shared
    request = request_of(bad_span("s-bad"))
    bad_id = next(
        s.span_id.hex()
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
        if s.name == "chat bad"
    )
    r = post(server, "/v1/traces", request.SerializeToString(), PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1
    assert bad_id in partial.error_message
    assert "gen_ai.usage.input_tokens" in partial.error_message
    assert "-5" in partial.error_message
    assert r.headers["x-costper-new"] == "1"

    js = post(server, "/v1/traces", to_json(with_trace_id(request, b"\x09" * 16)), JS)
    assert js.status_code == 200
    body = js.json()["partialSuccess"]
    assert int(body["rejectedSpans"]) == 1 and "negative token count" in body["errorMessage"]
    assert js.headers["x-costper-new"] == "1"


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"\xff\xfe not protobuf", PB, 400, "not a valid OTLP protobuf request"),
        (b'{"resourceSpans": [', JS, 400, "not valid JSON"),
        (
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}',
            JS,
            400,
            "traceId: not hex: 'zz'",
        ),
        (b"\x1f\x8b\x08\x00 truncated gzip", {**PB, "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"abc", {**PB, "Content-Encoding": "br"}, 400, "Content-Encoding: 'br' is not supported"),
        (b"abc", {"Content-Type": "text/plain"}, 415, "Content-Type: 'text/plain'"),
    ],
)
def test_unreadable_payloads_are_refused_with_the_reason_and_write_nothing(
    shared: ServeProcess, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    server = shared
    before = server.data_version()
    r = post(server, "/v1/traces", body, headers)
    assert r.status_code == status
    if headers["Content-Type"] == PB["Content-Type"]:
        message = status_pb2.Status.FromString(r.content).message
    else:
        message = r.json()["message"]
    assert reason in message
    assert server.data_version() == before


def test_over_the_limit_is_413_on_the_wire_and_inflated(shared: ServeProcess) -> None:
    server = shared
    before = server.data_version()
    big = b"\x00" * (LIMIT + 1)
    assert post(server, "/v1/traces", big, PB).status_code == 413

    def chunks():
        for _ in range(5):
            yield b"\x00" * (LIMIT // 4)

    chunked = httpx.post(server.url + "/v1/traces", content=chunks(), headers=PB, timeout=30)
    assert chunked.status_code == 413
    assert "over the limit of 200000 bytes" in status_pb2.Status.FromString(chunked.content).message

    # A gzip bomb: 12 concatenated members of 16 MiB of zeros: 192 MiB inflated, 196 kB sent.
    member = gzip.compress(b"\x00" * (16 << 20), 9)
    bomb = member * 12
    assert len(bomb) < LIMIT
    peak_before = _peak_rss_kib(server.proc.pid)
    r = post(server, "/v1/traces", bomb, {**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert "inflated" in status_pb2.Status.FromString(r.content).message
    growth = _peak_rss_kib(server.proc.pid) - peak_before
    assert growth < 32 * 1024, f"peak memory grew {growth} KiB: the bomb was inflated"
    assert post(server, "/v1/logs", bomb, {**JS, "Content-Encoding": "gzip"}).status_code == 413
    outcomes = httpx.post(server.url + "/v1/outcomes", content=big, headers=JS, timeout=30)
    assert outcomes.status_code == 413 and "max_request_bytes" in outcomes.json()["error"]
    assert server.data_version() == before


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_api_keys_from_flags_override_the_environment(tmp_path: Path) -> None:
    """(Keys from COSTPER_API_KEYS alone are used in test_sdk.)"""
    body = request_of(agent_turn("s-key")).SerializeToString()
    env = {"COSTPER_API_KEYS": "k3"}
    with ServeProcess(
        tmp_path / "a.duckdb", "--api-key", "k1", "--api-key", "k2", env=env
    ) as flags:
        for path in ("/v1/traces", "/v1/logs", "/v1/outcomes"):
            assert post(flags, path, body, PB).status_code == 401
        refused = post(flags, "/v1/traces", body, {**PB, "Authorization": "Bearer nope"})
        assert refused.status_code == 401 and "unknown API key" in refused.json()["error"]
        assert post(flags, "/v1/traces", body, {**PB, "x-api-key": "k3"}).status_code == 401
        bearer = post(flags, "/v1/traces", body, {**PB, "Authorization": "Bearer k1"})
        header = post(flags, "/v1/traces", body, {**PB, "x-api-key": "k2"})
        assert (bearer.status_code, header.status_code) == (200, 200)
        assert (bearer.headers["x-costper-new"], header.headers["x-costper-new"]) == ("2", "0")
        assert httpx.get(flags.url + "/healthz").status_code == 200
        # A browser opens the dashboard once with ?api_key=; a cookie carries it afterwards.
        assert httpx.get(flags.url + "/v1/outcomes?api_key=nope").status_code == 401
        opened = httpx.get(flags.url + "/v1/outcomes?api_key=k2")
        assert opened.status_code == 405  # past the key check; the route takes POST only
        assert "costper_api_key=k2" in opened.headers["set-cookie"]
        assert "HttpOnly" in opened.headers["set-cookie"]
        record = {"session_id": "s-cookie", "success": True, "at": "2026-11-20T00:00:00Z"}
        posted = httpx.post(flags.url + "/v1/outcomes", json=record, cookies=opened.cookies)
        assert posted.status_code == 200 and posted.json()["new"] == 1
        assert httpx.post(flags.url + "/v1/outcomes?api_key=k2", json=record).status_code == 401


def test_outcome_events_through_the_real_log_exporter(server: ServeProcess) -> None:
    traced = request_of(agent_turn("s-from-trace"))
    trace_id = traced.resource_spans[0].scope_spans[0].spans[0].trace_id
    assert post(server, "/v1/traces", traced.SerializeToString(), PB).status_code == 200

    provider = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=server.url + "/v1/logs")
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("support-bot")
    t0 = 1_790_000_000_000_000_000
    logger.emit(
        event_name="costper.outcome",
        timestamp=t0,
        attributes={"costper.session.id": "s-1", "success": True, "signal": "thumbs_up"},
    )
    logger.emit(
        event_name="gen_ai.evaluation.result",
        timestamp=t0 + 1_000_000_000,
        attributes={
            "gen_ai.conversation.id": "s-2",
            "gen_ai.evaluation.name": "relevance",
            "gen_ai.evaluation.score.label": "not_relevant",
        },
    )
    logger.emit(body="an ordinary log line", severity_number=SeverityNumber.INFO)
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    in_trace = set_span_in_context(
        NonRecordingSpan(SpanContext(int.from_bytes(trace_id), 7, False, TraceFlags(1)))
    )
    logger.emit(
        event_name="costper.outcome",
        timestamp=t0 + 2_000_000_000,
        context=in_trace,
        attributes={"costper.outcome.escalated": True, "costper.outcome.signal": "ticket_created"},
    )
    provider.shutdown()
    server.stop()
    with open_store(server.db, read_only=True) as store:
        rows = store.sql(
            'SELECT session_id, "at", success, escalated, signal, source FROM outcomes ORDER BY 2'
        ).to_pylist()
    assert [(r["session_id"], r["success"], r["escalated"], r["signal"]) for r in rows] == [
        ("s-1", True, None, "thumbs_up"),
        ("s-2", False, None, "evaluation:relevance:not_relevant"),
        ("s-from-trace", None, True, "ticket_created"),
    ]
    assert rows[0]["at"].timestamp() == pytest.approx(1_790_000_000)
    assert {r["source"] for r in rows} == {"explicit"}


def test_bad_outcome_events_are_refused_alone(shared: ServeProcess) -> None:
    server = shared

    def record(name: str, attrs: dict[str, object]) -> dict:
        values = []
        for k, v in attrs.items():
            kind = "boolValue" if isinstance(v, bool) else "stringValue"
            values.append({"key": k, "value": {kind: v}})
        return {"timeUnixNano": "1790000000000000000", "eventName": name, "attributes": values}

    doc = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            record("costper.outcome", {"session.id": "ok", "reviewed": True}),
                            record(
                                "gen_ai.evaluation.result",
                                {"session.id": "meh", "gen_ai.evaluation.score.label": "so-so"},
                            ),
                            record("costper.outcome", {"session.id": "x", "success": "maybe"}),
                            record("costper.outcome", {"success": True}),
                        ]
                    }
                ]
            }
        ]
    }
    r = post(server, "/v1/logs", json.dumps(doc).encode(), JS)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 3
    message = partial["errorMessage"]
    assert "'so-so' is not a pass/fail label" in message
    assert "maybe" in message
    assert "no session attribute and no trace id" in message
    assert r.headers["x-costper-new"] == "1"

    pb = post(server, "/v1/logs", b"\x0a\x05oops", PB)
    assert pb.status_code == 400
    assert "OTLP logs" in status_pb2.Status.FromString(pb.content).message
    empty = post(server, "/v1/logs", b"", PB)
    assert empty.status_code == 200
    assert not ExportLogsServiceResponse.FromString(empty.content).HasField("partial_success")


def test_outcome_records_over_plain_json(server: ServeProcess) -> None:
    one = {
        "session_id": "s-9",
        "at": "2026-11-20T10:00:00Z",
        "success": True,
        "signal": "exit_code",
    }
    r = httpx.post(server.url + "/v1/outcomes", json=one)
    assert r.status_code == 200 and r.json() == {"accepted": 1, "new": 1}
    assert httpx.post(server.url + "/v1/outcomes", json=one).json() == {"accepted": 1, "new": 0}

    version = server.data_version()
    batch = [
        {"session_id": "s-10", "at": "2026-11-20T10:00:00Z", "escalated": True},
        {"session_id": "s-11", "at": "2026-11-20T10:00:00Z", "success": "maybe"},
    ]
    bad = httpx.post(server.url + "/v1/outcomes", json=batch)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert "success" in error and "maybe" in error and "2" in error
    not_json = httpx.post(server.url + "/v1/outcomes", content=b"{nope", headers=JS)
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    scalar = httpx.post(server.url + "/v1/outcomes", json=[1, 2])
    assert scalar.status_code == 400
    assert server.data_version() == version

    good = httpx.post(server.url + "/v1/outcomes", json=batch[:1])
    assert good.json() == {"accepted": 1, "new": 1}
    time.sleep(0)
    server.stop()
    with open_store(server.db, read_only=True) as store:
        rows = store.sql(
            "SELECT session_id, success, escalated FROM outcomes ORDER BY 1"
        ).to_pylist()
    assert rows == [
        {"session_id": "s-10", "success": None, "escalated": True},
        {"session_id": "s-9", "success": True, "escalated": None},
    ]
