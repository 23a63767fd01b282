"""Property tests: whatever arrives, the answer is costper's own error, in bounded time.

Each decoder is fed generated input (random and mutated real payloads made by
the OpenTelemetry SDK, the FOCUS sample, outcome files) and must either
succeed or raise a `CostperError`; over HTTP every endpoint and query
parameter must answer below 500. The regressions the fuzzing campaign found
are listed explicitly first. `FUZZ_EXAMPLES` (environment) scales the run;
the slow variant runs ten times as many.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import FOCUS_SAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_payloads import genai_chat, record, span
from starlette.testclient import TestClient

from costper.config import Config
from costper.errors import CostperError
from costper.server.app import create_app
from costper.store._store import Store, open_store

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
"""Cases per decoder; FOCUS files (each stored and reconciled) and HTTP get fewer."""
SLOW_EXAMPLES = max(5, EXAMPLES // 16)
HTTP_EXAMPLES = max(10, EXAMPLES // 3)
COUNTS: dict[str, int] = {}


def fuzz_settings(n: int = EXAMPLES) -> Callable[[Any], Any]:
    return settings(
        max_examples=n,
        deadline=None,  # correctness, not speed: a loaded CI machine must not fail a case
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=True,
    )


def only_costper_errors(fn: Callable[[], Any], name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1
    try:
        fn()
    except CostperError:
        pass


# ---------------------------------------------------------------- payloads


def _chat(tracer: Any) -> None:
    attrs = {**genai_chat(), "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
             "costper.session.id": "s-1", "costper.feature": "bot"}  # fmt: skip
    with span(tracer, "chat gpt-4o-mini", attrs):
        pass


TRACES = record(_chat)
TRACES_PB = TRACES.SerializeToString()
TRACES_JSON = json.loads(
    __import__("google.protobuf.json_format", fromlist=["x"]).MessageToJson(TRACES)
)


def _logs_pb() -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add()
    rec.event_name = "costper.outcome"
    rec.time_unix_nano = 1_790_000_000_000_000_000
    for k, v in (("costper.session.id", "s-1"), ("signal", "thumbs_up")):
        rec.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    rec.attributes.append(KeyValue(key="success", value=AnyValue(bool_value=True)))
    return req.SerializeToString()


LOGS_PB = _logs_pb()


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[i : i + draw(st.integers(1, 8))]
        elif op == "truncate":
            data = data[:i]
        elif op == "splice":
            data[i:i] = data[: draw(st.integers(0, 40))]
    return bytes(data)


NASTY_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ud800", "²", "1e300", "1e400", "-1", "NaN", "inf", "0001-01-01T00:00:00+01:00",
     "9999-12-31T23:59:59-01:00", "9999999999999d", "=1+1", "\x1b[2J", "a" * 300, "🙂", "true"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), NASTY_TEXT,
)  # fmt: skip
JSON_VALUES = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)


def _mutate_json(doc: Any, path_choice: int, value: Any) -> Any:
    """Replace one node (chosen by index in a walk) of a real document with `value`."""
    nodes: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k in node:
                nodes.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                nodes.append((node, i))
                walk(node[i])

    doc = json.loads(json.dumps(doc))
    walk(doc)
    if nodes:
        parent, key = nodes[path_choice % len(nodes)]
        parent[key] = value
    return doc


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- known cases


def _app(store: Store) -> TestClient:
    return TestClient(create_app(Config(), store), base_url="http://127.0.0.1")


J = {"content-type": "application/json"}
PB = {"content-type": "application/x-protobuf"}


def _span_with(attr: dict[str, Any]) -> bytes:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "name": "chat", "startTimeUnixNano": "1790000000000000000",
        "endTimeUnixNano": "1790000001000000000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                       {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                       attr]}]}]}]}  # fmt: skip
    return json.dumps(doc).encode()


KNOWN = [
    ("POST", "/v1/outcomes", b"[" * 5000, J, 400),
    ("POST", "/v1/traces", b"[" * 5000, J, 400),
    ("POST", "/v1/logs", b"[" * 5000, J, 400),
    ("POST", "/api/calc", b"[" * 5000, J, 400),
    ("POST", "/v1/traces", b'{"resourceSpans":"x"}', J, 400),
    ("POST", "/v1/logs", b'{"resourceLogs":[{"scopeLogs":3}]}', J, 400),
    ("POST", "/v1/outcomes", b'{"session_id":"\\ud800"}', J, 400),
    ("POST", "/v1/outcomes", b'{"session_id":"a","at":"0001-01-01T00:00:00+01:00"}', J, 400),
    ("POST", "/v1/traces", b"\x1f\x8b\x08\x00corrupt", {**PB, "content-encoding": "gzip"}, 400),
    ("GET", "/api/report?since=9999999999999d", None, {}, 400),
    ("GET", "/?since=9999999999999d", None, {}, 400),
    ("GET", "/api/report?until=0001-01-01T00:00:00%2B01:00", None, {}, 400),
    ("GET", "/api/report?feature=a%00b", None, {}, 400),
    ("GET", "/?feature=a%00b", None, {}, 400),
    ("GET", "/sessions/a%00b", None, {}, 400),
    ("GET", "/api/sessions/a%00b", None, {}, 400),
    ("GET", "/api/breakeven?requests=1e400", None, {}, 400),
    ("GET", "/api/calc?intents=1e400", None, {}, 400),
    ("POST", "/api/calc", b'{"intents": 1e400}', J, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), KNOWN)
def test_campaign_findings_are_costper_errors(
    store: Store, method: str, path: str, body: bytes | None, headers: dict, status: int
) -> None:
    r = _app(store).request(method, path, content=body, headers=headers)
    assert r.status_code == status, r.text
    if r.headers["content-type"] == "application/x-protobuf":
        from google.rpc import status_pb2

        assert status_pb2.Status.FromString(r.content).message
    else:
        assert "Bad request" in r.text or "error" in r.json()
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("attr", "why"),
    [
        ({"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "²"}}, "input_tokens"),
        ({"key": "gen_ai.usage.input_tokens", "value": {"doubleValue": 1e300}}, "input_tokens"),
        ({"key": "gen_ai.usage.output_tokens", "value": {"stringValue": "1e300"}}, "output_tokens"),
    ],
)
def test_absurd_token_counts_reject_the_span_not_the_server(
    store: Store, attr: dict[str, Any], why: str
) -> None:
    r = _app(store).post("/v1/traces", content=_span_with(attr), headers=J)
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert why in r.json()["partialSuccess"]["errorMessage"]
    assert store.count("calls") == 0


# ---------------------------------------------------------------- decoders


@fuzz_settings()
@given(st.one_of(mutated(TRACES_PB), st.binary(max_size=200)))
def test_otlp_protobuf_traces(body: bytes) -> None:
    from costper.telemetry._traces import calls_from_request, decode_lean_request

    only_costper_errors(
        lambda: calls_from_request(decode_lean_request(body, "application/x-protobuf"), Config()),
        "otlp protobuf traces",
    )


@fuzz_settings()
@given(st.integers(0, 10_000), JSON_VALUES)
def test_otlp_json_traces(where: int, value: Any) -> None:
    from costper.telemetry._traces import calls_from_request, decode_lean_request

    body = _dumps(_mutate_json(TRACES_JSON, where, value))
    only_costper_errors(
        lambda: calls_from_request(decode_lean_request(body, "application/json"), Config()),
        "otlp json traces",
    )


@fuzz_settings()
@given(st.one_of(mutated(LOGS_PB), st.binary(max_size=200)), st.sampled_from(["protobuf", "json"]))
def test_otlp_logs_to_outcomes(body: bytes, kind: str) -> None:
    from costper.telemetry._outcome_events import decode_logs_request, outcome_events
    from costper.telemetry._outcome_records import outcome_rows

    def go() -> None:
        found = outcome_events(decode_logs_request(body, kind))
        outcome_rows(found.records, source="fuzz")

    only_costper_errors(go, "otlp logs")


RECORD_FIELDS = ["session_id", "at", "success", "escalated", "reviewed", "signal", "source", "x"]


@fuzz_settings()
@given(st.lists(st.dictionaries(st.sampled_from(RECORD_FIELDS), SCALARS | JSON_VALUES, max_size=6),
                min_size=1, max_size=3))  # fmt: skip
def test_outcome_records(records: list[dict[str, Any]]) -> None:
    from costper.telemetry._outcome_records import outcome_rows

    def go() -> None:
        rows = outcome_rows(records, source="fuzz")
        # what is accepted must be storable
        with open_store(":memory:") as s:
            s.insert("outcomes", rows)

    only_costper_errors(go, "outcome records")


@fuzz_settings()
@given(
    st.sampled_from(["csv", "jsonl", "json"]),
    st.one_of(
        st.binary(max_size=300),
        st.lists(st.dictionaries(st.sampled_from(RECORD_FIELDS), SCALARS, max_size=5), max_size=4),
    ),
    st.booleans(),
)
def test_outcome_files(
    tmp_path_factory: pytest.TempPathFactory, ext: str, content: Any, gz: bool
) -> None:
    from costper.telemetry._outcome_records import ingest_outcome_files

    if isinstance(content, list):
        if ext == "csv":
            buf = io.StringIO()
            fields = sorted({k for r in content for k in r}) or ["session_id"]
            w = __import__("csv").DictWriter(buf, fieldnames=fields)
            w.writeheader()
            w.writerows(content)
            data = buf.getvalue().encode("utf-8", "surrogatepass")
        elif ext == "jsonl":
            data = b"\n".join(_dumps(r) for r in content)
        else:
            data = _dumps(content)
    else:
        data = content
    if gz:
        data = gzip.compress(data)[: max(10, len(data))] if len(data) % 3 else gzip.compress(data)
    path = tmp_path_factory.mktemp("o") / (f"out.{ext}" + (".gz" if gz else ""))
    path.write_bytes(data)
    with open_store(":memory:") as store:
        only_costper_errors(lambda: ingest_outcome_files(store, [str(path)]), "outcome files")


FOCUS_LINES = FOCUS_SAMPLE.read_bytes().splitlines(keepends=True)[:6]
FOCUS_TABLE = pacsv.read_csv(io.BytesIO(b"".join(FOCUS_LINES)))


@fuzz_settings(SLOW_EXAMPLES)
@given(
    st.integers(0, 10_000),
    st.one_of(
        NASTY_TEXT, st.text(max_size=12), st.binary(max_size=6).map(lambda b: b.decode("latin-1"))
    ),
    st.booleans(),
)
def test_focus_csv(
    tmp_path_factory: pytest.TempPathFactory, where: int, value: str, gz: bool
) -> None:
    t = FOCUS_TABLE
    col = where % t.num_columns
    row = (where // t.num_columns) % t.num_rows
    cells = t.column(col).cast(pa.string()).to_pylist()
    cells[row] = "QQPLACEQQ"
    t = t.set_column(col, t.schema.field(col).name, pa.array(cells, pa.string()))
    buf = io.BytesIO()
    pacsv.write_csv(t, buf)
    data = buf.getvalue().replace(b"QQPLACEQQ", value.encode("utf-8", "surrogatepass"))
    if where % 7 == 0:
        data = data.replace(value.encode("utf-8", "surrogatepass"), bytes([0xFF, 0xFE]), 1)
    if gz:
        data = gzip.compress(data)
        if where % 5 == 0:
            data = data[: len(data) // 2]
    path = tmp_path_factory.mktemp("f") / ("focus.csv" + (".gz" if gz else ""))
    path.write_bytes(data)
    only_costper_errors(lambda: _ingest_focus(path), "focus csv")


@fuzz_settings(SLOW_EXAMPLES)
@given(
    st.integers(0, 10_000),
    st.sampled_from(["bad-utf8", "nan", "inf", "-inf", "huge-ts", "negative-ts", "int", "null"]),
)
def test_focus_parquet(tmp_path_factory: pytest.TempPathFactory, where: int, kind: str) -> None:
    t = FOCUS_TABLE
    col = where % t.num_columns
    name = t.schema.field(col).name
    n = t.num_rows
    if kind == "bad-utf8":
        arr: pa.Array = pa.array([b"\xff\xfe" + b"x"] * n, pa.binary())
    elif kind in ("nan", "inf", "-inf"):
        arr = pa.array([float(kind)] * n, pa.float64())
    elif kind in ("huge-ts", "negative-ts"):
        v = 2**62 if kind == "huge-ts" else -(2**62)
        arr = pa.array([v] * n, pa.int64()).cast(pa.timestamp("ns"))
    elif kind == "int":
        arr = pa.array([2**62] * n, pa.int64())
    else:
        arr = pa.nulls(n, pa.string())
    t = t.set_column(col, name, arr)
    path = tmp_path_factory.mktemp("p") / "focus.parquet"
    pq.write_table(t, path)
    if kind == "bad-utf8":  # relabel the binary column as text, as a careless writer would
        raw = path.read_bytes()
        path.write_bytes(raw)
    only_costper_errors(lambda: _ingest_focus(path), "focus parquet")


def _ingest_focus(path: Path) -> None:
    """Read, store and reconcile: what is accepted must also be usable."""
    from costper.billing._focus import read_focus
    from costper.billing._ingest import ingest_billing
    from costper.billing._reconcile import reconcile

    read_focus(path)
    with open_store(":memory:") as store:
        ingest_billing(store, [path], Config())
        reconcile(store, Config())


def test_focus_nan_and_infinite_costs_are_refused(tmp_path: Path) -> None:
    from costper.billing._focus import read_focus

    for bad in (math.nan, math.inf, -math.inf):
        t = FOCUS_TABLE.set_column(
            FOCUS_TABLE.schema.get_field_index("BilledCost"),
            "BilledCost",
            pa.array([bad] * FOCUS_TABLE.num_rows, pa.float64()),
        )
        path = tmp_path / "nan.parquet"
        pq.write_table(t, path)
        with pytest.raises(CostperError, match="BilledCost"):
            read_focus(path)


# ---------------------------------------------------------------- every query parameter

ENDPOINTS = [
    ("/api/report", ["by", "since", "until", "feature"]),
    ("/api/compare", ["by", "baseline", "since", "until", "feature"]),
    ("/api/reconcile", ["by", "since", "until"]),
    ("/api/calc", ["scenario", "intents", "input_tokens", "price_input", "model", "turns",
                   "retry_rate", "success_rate"]),
    ("/api/breakeven", ["requests", "api_price", "gpu_price", "throughput", "utilisation"]),
    ("/api/features", []),
    ("/", ["since", "until", "feature", "period"]),
    ("/calc", ["a", "b", "intents", "be_requests", "be_gpu_price"]),
    ("/docs", []),
]  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from live_app import known_answer_data

    store = open_store(tmp_path_factory.mktemp("q") / "q.duckdb")
    known_answer_data(store)
    yield _app(store)
    store.close()


@fuzz_settings(HTTP_EXAMPLES)
@given(
    st.sampled_from(ENDPOINTS),
    st.dictionaries(
        st.sampled_from(["by", "since", "until", "feature", "baseline", "scenario", "intents",
                         "requests", "period", "a", "be_requests", "model", "turns", "zzz"]),
        st.one_of(NASTY_TEXT, st.text(max_size=15), st.from_regex(r"-?\d{1,20}(\.\d+)?(e\d{1,4})?[dhwm]?", fullmatch=True)),
        max_size=4,
    ),
    st.text(max_size=20),
)  # fmt: skip
def test_every_query_parameter(
    client: TestClient, endpoint: tuple[str, list[str]], params: dict[str, str], tail: str
) -> None:
    path, _ = endpoint
    COUNTS["query parameters"] = COUNTS.get("query parameters", 0) + 1
    clean = {
        k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in params.items()
    }
    r = client.get(path, params=clean)
    assert r.status_code < 500, (path, clean, r.text[:300])
    for p in ("/sessions/", "/api/sessions/", "/features/"):
        r = client.get(p + quote(tail.encode("utf-8", "surrogatepass"), safe=""))
        assert r.status_code < 500, (p, tail, r.text[:300])


def test_report_counts() -> None:
    """Prints how many cases each target ran (the report quotes these numbers)."""
    print("\nfuzz cases:", COUNTS, "total", sum(COUNTS.values()))


@pytest.mark.slow
def test_fuzz_ten_times_longer() -> None:
    import subprocess
    import sys

    env = {**os.environ, "FUZZ_EXAMPLES": str(EXAMPLES * 10)}
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow",
         "-s", __file__],
        capture_output=True, text=True, timeout=3000, env=env, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:]
    assert datetime.now()  # the run's counts are in its output
