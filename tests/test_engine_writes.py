"""Ingest into every engine costper writes to, through the CLI as a user runs it.

The same trace and outcome files go into a DuckDB file, a real PostgreSQL
database (`.ci/postgres`: 127.0.0.1:54329; skipped with the reason when none
answers) and a Parquet folder read by Spark local[2] on 127.0.0.1. Each
engine's calls and outcomes must equal DuckDB's, every column (money to
1e-9; `seq` is each engine's own write counter), and values worked out by
hand from the payloads and gpt-4o-mini's list price ($0.15 / $0.075 cached /
$0.60 per million tokens). The same files again add nothing; a bad file
writes nothing. PostgreSQL also takes an OTLP post through a real
`costper serve` process, edits stored calls when a trace's root arrives
later (Spark refuses that write whole), and refuses when read-only.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from opentelemetry.sdk.trace import Tracer
from otlp_payloads import genai_chat, mixed_request, record, span, to_json, write_jsonl

from costper.cli import main
from costper.store._store import conform, open_source

POSTGRES = os.environ.get(
    "COSTPER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:54329/costper_test"
)
SPARK_CONF = "spark.master=local[2]&spark.sql.shuffle.partitions=2&spark.default.parallelism=2"
ENGINES = ["duckdb", "postgres", pytest.param("spark", marks=pytest.mark.slow)]

OUTCOMES_CSV = """session_id,at,success,escalated,reviewed,signal,source
s1,2026-01-31T12:00:00Z,true,false,,thumbs_up,explicit
s2,2026-01-31T14:30:00+02:00,false,true,true,ticket_created,
c0,2026-02-01T08:00:00Z,true,,,,implicit
"""

M = 1e-6
EXPECTED_COST = {  # (input, cached input, output) tokens at gpt-4o-mini's price; or reported
    "s1": (1000 - 400) * 0.15 * M + 400 * 0.075 * M + 100 * 0.60 * M,
    "s2": 200 * 0.15 * M + 20 * 0.60 * M,
    "s3": 50 * 0.15 * M + 5 * 0.60 * M,
    "s4": 0.5,  # Langfuse's reported cost_details total
    **{f"c{i}": (100 + i) * 0.15 * M + 10 * 0.60 * M for i in range(5)},
}


def test_hand_prices_are_gpt_4o_minis_list_price() -> None:
    """The hand computation's per-token prices are genai-prices' for gpt-4o-mini, not
    constants copied from costper's own table."""
    from genai_prices import Usage, calc_price

    for usage, hand in (
        (Usage(input_tokens=10**6), 0.15),
        (Usage(input_tokens=10**6, cache_read_tokens=10**6), 0.075),
        (Usage(output_tokens=10**6), 0.60),
    ):
        got = calc_price(usage, model_ref="gpt-4o-mini", provider_id="openai").total_price
        assert math.isclose(float(got), hand, rel_tol=0, abs_tol=1e-12), (usage, got)
    assert math.isclose(
        EXPECTED_COST["s1"],
        float(
            calc_price(
                Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=100),
                model_ref="gpt-4o-mini",
                provider_id="openai",
            ).total_price
        ),
        rel_tol=0,
        abs_tol=1e-12,
    )


def chats(n: int, session: str) -> Any:
    def body(t: Tracer) -> None:
        for i in range(n):
            attrs = genai_chat(
                **{
                    "gen_ai.usage.input_tokens": 100 + i,
                    "gen_ai.usage.output_tokens": 10,
                    "gen_ai.conversation.id": f"{session}{i}",
                }
            )
            with span(t, "chat", attrs):
                pass

    return record(body)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("files")
    traces = write_jsonl(d / "traces.jsonl", [mixed_request(), chats(5, "c")])
    outcomes = d / "outcomes.csv"
    outcomes.write_text(OUTCOMES_CSV)
    lone = to_json(chats(1, "bad"))  # a good line, then a broken one: the file goes whole
    bad_traces = d / "bad.jsonl"
    bad_traces.write_text(json.dumps(lone) + "\n" + '{"resourceSpans": [{"scopeSpans": 7}]}\n')
    bad_outcomes = d / "bad.csv"
    bad_outcomes.write_text(OUTCOMES_CSV + "c1,2026-02-01T09:00:00Z,perhaps,,,,\n")
    return {"traces": traces, "outcomes": outcomes, "bad": bad_traces, "bad_csv": bad_outcomes}


def _postgres_database(tag: str) -> Iterator[str]:
    pytest.importorskip("psycopg", reason="ibis-framework[postgres] is in the test extra")
    try:
        admin = ibis.connect(POSTGRES)
    except Exception as e:
        pytest.skip(f"no PostgreSQL at {POSTGRES} ({type(e).__name__}); .ci/postgres starts one")
    name = f"costper_writes_{tag}_{os.getpid()}"
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.raw_sql(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.disconnect()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database("t")


def _url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if engine == "duckdb":
        return str(tmp_path / "costper.duckdb")
    if engine == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime")
    folder = tmp_path / "parquet"
    folder.mkdir()
    return f"pyspark://{folder}?{SPARK_CONF}"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def ingest(capsys: pytest.CaptureFixture[str], db: str, f: dict[str, Path]) -> list[str]:
    outs = []
    for kind, path in (("traces", f["traces"]), ("outcomes", f["outcomes"])):
        code, out, err = cli(capsys, "ingest", kind, str(path), "--db", db)
        assert code == 0, err
        outs.append(out)
    return outs


def rows(db: str, table: str) -> list[dict[str, Any]]:
    source = open_source(db)
    try:
        got = source.to_arrow(source.table(table)).to_pylist()
    finally:
        source.close()
    key = {"calls": ("trace_id", "span_id"), "span_tags": ("trace_id", "span_id")}.get(
        table, ("record_id",)
    )
    return sorted(got, key=lambda r: tuple(r[k] for k in key))


def same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert set(x) == set(y)
        for k in x:
            if k == "seq":
                continue
            if isinstance(x[k], float) and isinstance(y[k], float):
                assert math.isclose(x[k], y[k], rel_tol=0, abs_tol=1e-9), (k, x, y)
            else:
                assert x[k] == y[k], (k, x[k], y[k])


@pytest.fixture(scope="module")
def reference(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """DuckDB's rows for the files (ingested through the same CLI entry)."""
    db = str(tmp_path_factory.mktemp("reference") / "ref.duckdb")
    for kind in ("traces", "outcomes"):
        assert main(["ingest", kind, str(files[kind]), "--db", db]) == 0
    return {t: rows(db, t) for t in ("calls", "outcomes", "span_tags")}


@pytest.mark.parametrize("engine", ENGINES)
def test_ingest_through_the_cli(
    engine: str,
    files: dict[str, Path],
    reference: dict[str, list[dict[str, Any]]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = _url(engine, tmp_path, request)
    capsys.readouterr()
    traces_out, outcomes_out = ingest(capsys, db, files)
    assert "9 calls (9 new, 0 already stored)" in traces_out
    assert "3 outcome records (3 new, 0 already stored)" in outcomes_out

    calls, outcomes = rows(db, "calls"), rows(db, "outcomes")
    same_rows(reference["calls"], calls)
    same_rows(reference["outcomes"], outcomes)
    same_rows(reference["span_tags"], rows(db, "span_tags"))
    by_session = {c["session_id"]: c for c in calls}
    assert set(by_session) == set(EXPECTED_COST)
    for session, cost in EXPECTED_COST.items():
        assert math.isclose(by_session[session]["cost"], cost, rel_tol=0, abs_tol=1e-12), session
    assert by_session["s4"]["estimate_source"] == "reported"
    assert by_session["s1"]["cache_read_tokens"] == 400
    assert {c["seq"] for c in calls} == {1}  # one write: one seq
    got = {o["session_id"]: (o["success"], o["escalated"], o["signal"]) for o in outcomes}
    assert got == {
        "s1": (True, False, "thumbs_up"),
        "s2": (False, True, "ticket_created"),
        "c0": (True, None, None),
    }

    again = ingest(capsys, db, files)  # the same files again: nothing new
    assert "9 calls (0 new, 9 already stored)" in again[0]
    assert "3 outcome records (0 new, 3 already stored)" in again[1]
    same_rows(calls, rows(db, "calls"))
    assert len(rows(db, "outcomes")) == 3

    for bad, kind, where in (
        (files["bad"], "traces", f"{files['bad']}:2"),
        (files["bad_csv"], "outcomes", f"{files['bad_csv']}:5"),
    ):
        code, out, err = cli(capsys, "ingest", kind, str(bad), "--db", db)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"costper: error: {where}"), err
    same_rows(calls, rows(db, "calls"))  # the bad file's good first line is not there
    assert len(rows(db, "outcomes")) == 3


def test_serve_on_postgres_stores_an_otlp_post(postgres_url: str, tmp_path: Path) -> None:
    import httpx
    from serve_process import ServeProcess

    body = to_json(chats(2, "posted"))
    with ServeProcess(postgres_url, cwd=tmp_path) as server:  # type: ignore[arg-type]
        r = httpx.post(server.url + "/v1/traces", json=body, timeout=60)
        assert r.status_code == 200, r.text
        again = httpx.post(server.url + "/v1/traces", json=body, timeout=60)
        assert again.status_code == 200, again.text
        o = httpx.post(
            server.url + "/v1/outcomes",
            json={"session_id": "posted0", "success": True, "at": "2026-02-01T00:00:00Z"},
            timeout=60,
        )
        assert o.status_code == 200 and o.json() == {"accepted": 1, "new": 1}, o.text
        got = httpx.get(server.url + "/api/report", params={"by": "feature"}, timeout=60)
        assert got.status_code == 200
        server.stop()
    import psycopg

    with psycopg.connect(postgres_url) as con:  # plain SQL on the server, not costper's reader
        calls = con.execute(
            "SELECT session_id, input_tokens, output_tokens, cost, seq FROM calls ORDER BY 1"
        ).fetchall()
        outcomes = con.execute("SELECT session_id, success FROM outcomes").fetchall()
    assert [c[:3] for c in calls] == [("posted0", 100, 10), ("posted1", 101, 10)]
    for _, n, out, cost, seq in calls:
        assert math.isclose(cost, n * 0.15 * M + out * 0.60 * M, rel_tol=0, abs_tol=1e-12)
        assert seq == 1
    assert outcomes == [("posted0", True)]


def _pieces(tmp_path: Path) -> tuple[Path, Path]:
    """One trace in two files: the call first, its root (with the session) later."""
    request = record(
        lambda t: _nested(t), service="late-bot"
    )  # root ends last, so it is the last span
    doc = to_json(request)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    root = [s for s in spans if "parentSpanId" not in s or not s["parentSpanId"]]
    child = [s for s in spans if s not in root]
    first, second = json.loads(json.dumps(doc)), json.loads(json.dumps(doc))
    first["resourceSpans"][0]["scopeSpans"][0]["spans"] = child
    second["resourceSpans"][0]["scopeSpans"][0]["spans"] = root
    a, b = tmp_path / "child.json", tmp_path / "root.json"
    a.write_text(json.dumps(first))
    b.write_text(json.dumps(second))
    return a, b


def _nested(t: Tracer) -> None:
    with span(t, "agent", {"session.id": "late-session", "gen_ai.operation.name": "invoke_agent"}):
        with span(
            t,
            "chat",
            genai_chat(**{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}),
        ):
            pass


@pytest.mark.parametrize("engine", ["postgres", pytest.param("spark", marks=pytest.mark.slow)])
def test_a_late_root_retags_stored_calls(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: Any
) -> None:
    child, root = _pieces(tmp_path)
    ref = str(tmp_path / "ref.duckdb")
    db = _url(engine, tmp_path, request)
    for path in (child, root):
        assert main(["ingest", "traces", str(path), "--db", ref]) == 0
    assert [c["session_id"] for c in rows(ref, "calls")] == ["late-session"]
    code, _, err = cli(capsys, "ingest", "traces", str(child), "--db", db)
    assert code == 0, err
    before = rows(db, "calls")
    assert before[0]["session_id"] == before[0]["trace_id"]  # no session yet: the trace's
    code, _, err = cli(capsys, "ingest", "traces", str(root), "--db", db)
    if engine == "spark":  # an edit of stored calls: refused whole
        assert code == 2 and "append-only" in err and len(err.strip().splitlines()) == 1
        same_rows(before, rows(db, "calls"))
        return
    assert code == 0, err
    after = rows(db, "calls")
    same_rows(rows(ref, "calls"), after)
    assert after[0]["seq"] == 2


def test_read_only_postgres_refuses_in_one_line(
    postgres_url: str, files: dict[str, Path], capsys: Any
) -> None:
    code, _, err = cli(
        capsys, "ingest", "traces", str(files["traces"]), "--db", postgres_url + "?read_only=1"
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "read-only (opened with ?read_only=1)" in lines[0]
    admin = ibis.connect(postgres_url)
    role = f"costper_reader_{os.getpid()}"
    try:
        admin.raw_sql(f"DROP ROLE IF EXISTS {role}")
        admin.raw_sql(f"CREATE ROLE {role} LOGIN")
        admin.raw_sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
        reader = postgres_url.replace("postgres@", f"{role}@")
        code, _, err = cli(capsys, "ingest", "outcomes", str(files["outcomes"]), "--db", reader)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert f"user {role} may not write table calls" in lines[0]
    finally:
        admin.raw_sql(f"DROP OWNED BY {role}")
        admin.raw_sql(f"DROP ROLE IF EXISTS {role}")
        admin.disconnect()
    with open_source(postgres_url) as source:
        assert source.count("calls") == 0


def _call_rows(keys: list[tuple[str, str]]) -> pa.Table:
    n = len(keys)
    return conform(
        "calls",
        pa.table(
            {
                "trace_id": [k[0] for k in keys],
                "span_id": [k[1] for k in keys],
                "session_id": [k[0] for k in keys],
                "turn_id": [k[0] for k in keys],
                "feature": ["f"] * n,
                "start_time": [datetime(2026, 1, 1)] * n,
                "failed": [False] * n,
                "cost_source": ["estimate"] * n,
                "cost": [0.25] * n,
            }
        ),
    )


def _append_parts(folder: str, worker: str) -> list[int]:
    """One writer process: 8 writes, each with its own calls and one shared with the other."""
    from costper.store._engine_sinks import ParquetSink
    from costper.store._engine_writes import Changes

    sink = ParquetSink(Path(folder), lambda name: None, folder)
    added = []
    for i in range(8):
        rows = _call_rows([(f"t{i}", f"{worker}-{i}"), (f"t{i}", "shared")])
        added.append(sink.apply(Changes(rows={"calls": rows}))["calls"])
    return added


def test_parquet_parts_from_a_single_file_and_two_writer_processes(tmp_path: Path) -> None:
    """The Parquet side without Spark (pyarrow reads what Spark would): a table kept as
    one file moves into its folder; two processes appending at once lose nothing,
    store each key once and never share a `seq`."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from costper.store._engine_sinks import ParquetSink
    from costper.store._engine_writes import Changes

    folder = tmp_path / "parquet"
    folder.mkdir()
    stored = _call_rows([("t0", "old")])
    pq.write_table(stored, folder / "calls.parquet")
    seen: list[str] = []
    ParquetSink(folder, seen.append, str(folder)).apply(
        Changes(rows={"calls": _call_rows([("t0", "old"), ("t0", "new")])})
    )
    assert seen == ["calls"] and not (folder / "calls.parquet").exists()
    got = pq.read_table(folder / "calls").to_pylist()
    assert sorted((r["span_id"], r["seq"]) for r in got) == [("new", 1), ("old", None)]

    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        a, b = pool.map(_append_parts, [str(folder)] * 2, ["a", "b"])
    assert sum(a) + sum(b) == 8 * 3  # each write's own call, and the shared one once
    calls = pq.read_table(folder / "calls").to_pylist()
    keys = [(r["trace_id"], r["span_id"]) for r in calls]
    assert len(keys) == len(set(keys)) == 2 + 8 * 3
    parts = [p for p in (folder / "calls").iterdir()]
    assert not [p for p in parts if p.name.startswith(".")]  # no temporary file left
    seqs = [int(p.name.split("-")[1]) for p in parts if p.name != "part-0000000000-single.parquet"]
    assert sorted(seqs) == list(range(1, 18))  # 1 write, then 16 from two processes
    for part in parts:
        part_seqs = set(pq.read_table(part).column("seq").to_pylist())
        assert part_seqs == ({None} if "single" in part.name else {int(part.name.split("-")[1])})


def _ingest_process(url: str, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    code = "import sys; from costper.cli import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, "ingest", "traces", str(path), "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_ingest_into_postgres_at_once(postgres_url: str, tmp_path: Path) -> None:
    """Into an empty database (both create the tables): every call stored once, one
    `seq` per file."""
    paths = [write_jsonl(tmp_path / f"{s}.jsonl", [chats(6, s)]) for s in ("x", "y")]
    procs = [_ingest_process(postgres_url, p) for p in paths]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "6 calls (6 new, 0 already stored)" in out
    import psycopg

    with psycopg.connect(postgres_url) as con:
        got = con.execute(
            "SELECT left(session_id, 1), count(*), min(seq), max(seq) FROM calls GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [g[:2] for g in got] == [("x", 6), ("y", 6)]
    assert sorted(g[2] for g in got) == [1, 2] and all(g[2] == g[3] for g in got)


@pytest.mark.slow
def test_serve_on_a_spark_folder_stores_an_otlp_post(tmp_path: Path) -> None:
    """`costper serve --db pyspark://DIR`: posted calls and outcomes become Parquet parts
    (read back here by pyarrow, not by costper)."""
    pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime")
    import httpx
    from serve_process import ServeProcess

    class SparkServe(ServeProcess):
        """Spark's JVM takes its time to start on a loaded machine."""

        def _await_url(self, timeout: float) -> str:
            return super()._await_url(timeout=300)

        def _wait_healthy(self, timeout: float) -> None:
            assert httpx.get(self.url + "/healthz", timeout=300).status_code == 200

    folder = tmp_path / "parquet"
    folder.mkdir()
    url = f"pyspark://{folder}?{SPARK_CONF}"
    with SparkServe(url, cwd=tmp_path) as server:  # type: ignore[arg-type]
        r = httpx.post(server.url + "/v1/traces", json=to_json(chats(2, "sp")), timeout=300)
        assert r.status_code == 200, r.text
        o = httpx.post(
            server.url + "/v1/outcomes",
            json={"session_id": "sp0", "success": False, "at": "2026-02-01T00:00:00Z"},
            timeout=300,
        )
        assert o.status_code == 200 and o.json() == {"accepted": 1, "new": 1}, o.text
        server.stop()
    calls = sorted(pq.read_table(folder / "calls").to_pylist(), key=lambda c: c["session_id"])
    assert [(c["session_id"], c["input_tokens"], c["seq"]) for c in calls] == [
        ("sp0", 100, 1),
        ("sp1", 101, 1),
    ]
    for c in calls:
        expected = c["input_tokens"] * 0.15 * M + 10 * 0.60 * M
        assert math.isclose(c["cost"], expected, rel_tol=0, abs_tol=1e-12)
    outcomes = pq.read_table(folder / "outcomes").to_pylist()
    assert [(o["session_id"], o["success"]) for o in outcomes] == [("sp0", False)]
