"""The whole read side on every engine costper claims, by URL: one suite.

The demo's data (and a FOCUS bill of its calls, so the cost join has placed
billed money) are written to a DuckDB store, then copied to a real
PostgreSQL server (`.ci/postgres` starts one on 127.0.0.1; the cases skip
with the reason when none answers) and to Parquet files read by Spark
local[2] bound to 127.0.0.1 (one session for the whole run: it takes ~20 s
to start). `duckdb-ibis` is the same DuckDB file read through the generic
Ibis path (no stored rollup, portable expressions). Each engine is opened
the way a user opens it: `open_source(url)`.

Every operation must give DuckDB's answer to 1e-9: report by each key,
compare, what-if, reconcile, session detail, FOCUS export, the JSON API and
the dashboard pages (through the HTTP app). The report's session and call
counts and LLM cost per feature are also checked against plain SQL.
Warehouses that cannot run here (BigQuery, Snowflake, Trino) get a compile
check of the report's query.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import billing_truth as bt
import duckdb
import ibis
import pyarrow.parquet as pq
import pytest

from costper._demo import generate
from costper.billing._export import focus_table
from costper.billing._ingest import ingest_billing
from costper.billing._reconcile import reconcile
from costper.config import Config
from costper.engine._compare import compare
from costper.engine._report import group_sums, report
from costper.engine._session_detail import session_detail
from costper.engine._sessions import session_table
from costper.engine._vocabulary import GROUP_KEYS
from costper.errors import StoreError
from costper.planning._whatif import recommend, what_if
from costper.store._backend import BackendSource
from costper.store._schema import TABLES
from costper.store._source import Source
from costper.store._store import open_source, open_store

END = datetime(2025, 6, 1)
NOW = datetime(2025, 6, 2)
SESSIONS = 300
POSTGRES = os.environ.get(
    "COSTPER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:54329/costper_test"
)
BILL_DAYS = ("2025-05-10", "2025-05-11", "2025-05-12")
COPIED = ("calls", "outcomes", "billing")


@dataclass(frozen=True)
class World:
    folder: Path
    db: Path  # the DuckDB store (held open by this run's `duckdb` source)
    parquet: Path  # one Parquet file per table, for Spark
    sessions: tuple[str, ...]  # a few session ids, for the detail views


def _bill(db: duckdb.DuckDBPyConnection) -> str:
    """A FOCUS bill of some of the demo's calls: per model and day, 90% of the estimate,
    and one line of a model no call used (unattributed)."""
    got = db.execute(
        "SELECT model, strftime(start_time, '%Y-%m-%d') AS day, sum(estimated_cost) FROM calls "
        f"WHERE strftime(start_time, '%Y-%m-%d') IN {BILL_DAYS} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    month = dict(
        BillingPeriodStart="2025-05-01 00:00:00",
        BillingPeriodEnd="2025-06-01 00:00:00",
        InvoiceId="inv-2025-05",
    )
    rows = [bt._openai(day, "Input", round(0.9 * est, 6), model=m, **month) for m, day, est in got]
    rows.append(bt._openai("2025-05-11", "Input", 1.25, model="gpt-4.1-nano", **month))
    assert len(rows) > 5
    return bt.bill_csv(rows)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("engines")
    db = folder / "costper.duckdb"
    with open_store(db) as store:
        generate(store, SESSIONS, seed=4, end=END)
        store.sql("CHECKPOINT")
    with duckdb.connect(str(db), read_only=True) as con:
        bill = _bill(con)
    (folder / "bill.csv").write_text(bill)
    parquet = folder / "parquet"
    parquet.mkdir()
    with open_store(db) as store:
        ingest_billing(store, [folder / "bill.csv"], Config())
        for name in COPIED:
            pq.write_table(store.to_arrow(store.table(name)), parquet / f"{name}.parquet")
        billed = store.sql("SELECT count(*) FROM calls WHERE cost_source = 'billed'")
        assert billed.column(0)[0].as_py() > 10  # the join placed the bill on calls
        ids = store.sql("SELECT DISTINCT session_id FROM calls ORDER BY 1 LIMIT 3")
    return World(folder, db, parquet, tuple(ids.column(0).to_pylist()))


@pytest.fixture(scope="session")
def duckdb_source(world: World) -> Iterator[Source]:
    source = open_source(f"duckdb://{world.db}")
    yield source
    source.close()


@pytest.fixture(scope="session")
def duckdb_ibis_source(world: World) -> Iterator[Source]:
    copy = world.folder / "copy.duckdb"
    shutil.copy(world.db, copy)
    source = open_source(f"duckdb://{copy}")
    source.close()  # only to check that a copy opens; the generic path next:
    generic = BackendSource(ibis.duckdb.connect(str(copy), read_only=True), path=str(copy))
    yield generic
    generic.close()


@pytest.fixture(scope="session")
def spark_source(world: World) -> Iterator[Source]:
    pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime")
    conf = "spark.master=local[2]&spark.sql.shuffle.partitions=2&spark.default.parallelism=2"
    conf += f"&spark.sql.warehouse.dir={world.folder / 'warehouse'}"
    source = open_source(f"pyspark://{world.parquet}?{conf}&read_only=1")  # the suite only reads
    session = source.ibis._session  # type: ignore[attr-defined]
    assert session.conf.get("spark.driver.bindAddress") == "127.0.0.1"
    yield source
    source.close()


def _postgres_or_skip() -> Any:
    pytest.importorskip("psycopg", reason="ibis-framework[postgres] is in the test extra")
    try:
        return ibis.connect(POSTGRES)
    except Exception as e:
        pytest.skip(f"no PostgreSQL at {POSTGRES} ({type(e).__name__}); .ci/postgres starts one")


@pytest.fixture(scope="session")
def postgres_url(world: World) -> Iterator[str]:
    """A database of this run's own on the test server, holding the demo's tables."""
    admin = _postgres_or_skip()
    name = f"costper_engines_{os.getpid()}"
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.raw_sql(f"CREATE DATABASE {name}")
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    con = ibis.connect(url)
    for table in COPIED:
        data = pq.read_table(world.parquet / f"{table}.parquet")
        con.create_table(table, schema=ibis.Schema.from_pyarrow(TABLES[table][0]))
        if data.num_rows:
            con.insert(table, data)
    con.disconnect()
    yield url
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.disconnect()


@pytest.fixture(scope="session")
def postgres_source(postgres_url: str) -> Iterator[Source]:
    source = open_source(postgres_url + "?read_only=1")  # the suite only reads
    yield source
    source.close()


ENGINES = ["duckdb-ibis", "postgres", pytest.param("spark", marks=pytest.mark.slow)]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Source:
    source: Source = request.getfixturevalue(request.param.replace("-", "_") + "_source")
    return source


def same(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-ready results differ: floats to 1e-9, everything else exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b), key=str)
            for d in same(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items against {len(b)}"]
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in same(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        ok = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
        return [] if ok else [f"{path}: {a!r} against {b!r}"]
    if a != b or type(a) is not type(b):
        return [f"{path}: {a!r} ({type(a).__name__}) against {b!r} ({type(b).__name__})"]
    return []


def assert_same(expected: Any, got: Any) -> None:
    diffs = same(expected, got)
    assert not diffs, f"{len(diffs)} difference(s): " + "; ".join(diffs[:8])


CFG = Config()


def test_report_by_each_key(engine: Source, duckdb_source: Source) -> None:
    for key in GROUP_KEYS:
        expected = report(duckdb_source, [key], config=CFG, now=NOW).to_dict()
        assert expected["groups"], key
        assert_same(expected, report(engine, [key], config=CFG, now=NOW).to_dict())


def test_report_by_two_keys_with_filters(engine: Source, duckdb_source: Source) -> None:
    args: dict[str, Any] = dict(
        since=datetime(2025, 5, 8), until=datetime(2025, 5, 25), config=CFG, now=NOW
    )
    expected = report(duckdb_source, ["feature", "model"], **args).to_dict()
    assert_same(expected, report(engine, ["feature", "model"], **args).to_dict())


def test_report_matches_plain_sql(engine: Source, world: World) -> None:
    """Sessions, calls and LLM cost per feature, computed by hand in SQL on the file."""
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW calls AS SELECT * FROM '{world.parquet / 'calls.parquet'}'")
        rows = con.execute(
            "SELECT feature, count(DISTINCT session_id), count(*), sum(coalesce(cost, 0)) "
            "FROM calls GROUP BY feature ORDER BY feature"
        ).fetchall()
    got = {g["key"]["feature"]: g for g in report(engine, ["feature"], now=NOW).to_dict()["groups"]}
    assert sorted(got) == [r[0] for r in rows]
    for feature, sessions, calls, llm in rows:
        g = got[feature]
        assert (g["sessions"], g["labeled_sessions"], g["calls"]) == (sessions, sessions, calls)
        assert g["cost"]["llm"] == pytest.approx(llm, rel=1e-9)
    assert sum(g["cost_sources"].get("billed", 0) for g in got.values()) > 10


def test_compare(engine: Source, duckdb_source: Source) -> None:
    for by, baseline in (("model", "gpt-4o-mini"), ("turns", "1")):
        expected = compare(duckdb_source, by, baseline, feature="support-chat", config=CFG, now=NOW)
        got = compare(engine, by, baseline, feature="support-chat", config=CFG, now=NOW)
        assert len(expected.variants) >= 1
        assert_same(expected.to_dict(), got.to_dict())


def test_whatif_and_recommend(engine: Source, duckdb_source: Source) -> None:
    recs = recommend(duckdb_source, config=CFG, now=NOW)
    assert_same(
        [r.to_dict() for r in recs], [r.to_dict() for r in recommend(engine, config=CFG, now=NOW)]
    )
    args: dict[str, Any] = dict(config=CFG, now=NOW)
    expected = what_if(duckdb_source, "support-chat", ["openai/gpt-4.1-nano"], **args)
    assert_same(
        expected.to_dict(),
        what_if(engine, "support-chat", ["openai/gpt-4.1-nano"], **args).to_dict(),
    )


def test_reconcile(engine: Source, duckdb_source: Source) -> None:
    slow = getattr(engine, "name", "") == "pyspark"  # ~25 s a reconciliation on Spark
    for by in (
        (("provider", "model", "day"),)
        if slow
        else (("provider", "model", "day"), ("model", "month"))
    ):
        expected = reconcile(duckdb_source, CFG, by, rejoin=False).to_dict()
        assert expected["totals"]["bill"]["effective"] > 0
        assert_same(expected, reconcile(engine, CFG, by).to_dict())  # read-only: no re-join


def test_session_detail(engine: Source, duckdb_source: Source, world: World) -> None:
    for sid in world.sessions:
        expected = session_detail(duckdb_source, CFG, sid, now=NOW)
        assert expected is not None and expected["calls"]
        assert_same(expected, session_detail(engine, CFG, sid, now=NOW))
    assert session_detail(engine, CFG, "no-such-session", now=NOW) is None


def test_export_focus(engine: Source, duckdb_source: Source) -> None:
    for per_call in (False, True):
        expected = focus_table(duckdb_source, CFG, per_call=per_call, now=NOW)
        got = focus_table(engine, CFG, per_call=per_call, now=NOW)
        assert expected.num_rows > 10 and got.schema == expected.schema
        assert_same(expected.to_pylist(), got.to_pylist())


def test_anomalies_and_diagnose(engine: Source, duckdb_source: Source) -> None:
    from costper.signals._anomalies import anomalies
    from costper.signals._diagnose import diagnose

    expected = anomalies(duckdb_source, config=CFG).to_dict()
    assert_same(expected, anomalies(engine, config=CFG).to_dict())
    assert_same(
        diagnose(duckdb_source, config=CFG).to_dict(), diagnose(engine, config=CFG).to_dict()
    )


API = (
    "/api/report?by=feature",
    "/api/report?by=model,prompt_version",
    "/api/compare?by=model&baseline=gpt-4o-mini&feature=support-chat",
    "/api/reconcile",
    "/api/features",
)
PAGES = ("/", "/features/support-chat")


def _client(source: Source) -> Any:
    from fastapi.testclient import TestClient

    from costper.server.app import create_app

    return TestClient(create_app(Config(), source), base_url="http://127.0.0.1")


def _inert(html: str) -> str:
    """A page without what differs by store and by the second: the data version."""
    return re.sub(r"data[_ -]version[^<]*", "", html)


def test_api_and_pages(engine: Source, duckdb_source: Source, world: World) -> None:
    ours, theirs = _client(duckdb_source), _client(engine)
    paths = [*API, *(f"/api/sessions/{s}" for s in world.sessions[:1])]
    for path in paths:
        a, b = ours.get(path), theirs.get(path)
        assert (a.status_code, b.status_code) == (200, 200), (path, b.text[:300])
        assert_same(a.json(), b.json())
    for path in (*PAGES, f"/sessions/{world.sessions[0]}"):
        a, b = ours.get(path), theirs.get(path)
        assert (a.status_code, b.status_code) == (200, 200), (path, b.text[:300])
        assert _inert(a.text) == _inert(b.text), path
    posted = theirs.post("/v1/outcomes", json={"session_id": "s", "success": True})
    if engine.read_only:
        assert posted.status_code == 405 and "read-only" in posted.json()["error"]


def test_compiles_for_warehouses() -> None:
    """The report's query for engines that cannot run here: it must compile."""

    class Unbound:
        """costper's tables bound to no backend: enough to compile, nothing to run."""

        path, read_only = "unbound", True

        def table(self, name: str) -> Any:
            return ibis.table(ibis.Schema.from_pyarrow(TABLES[name][0]), name=name)

        def to_arrow(self, expr: Any) -> Any:
            raise AssertionError("compile only")

        execute = to_arrow
        count = version = close = to_arrow

    source = Unbound()
    for by in (["feature"], ["model", "day"], ["turns"]):
        expr = group_sums(session_table(source, CFG, now=NOW, keys=by), by)
        for dialect in ("bigquery", "snowflake", "trino", "postgres"):
            sql = str(ibis.to_sql(expr, dialect=dialect))
            assert "GROUP BY" in sql.upper(), dialect


# The CLI and `costper serve` by URL, as a user runs them (PostgreSQL: starts in no time).


def _costper(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from costper.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        env=env,
        **kw,
    )


def test_cli_reads_postgres_by_url_and_refuses_writes(
    postgres_url: str, postgres_source: Source, world: World
) -> None:
    import json

    run = _costper("report", "--db", postgres_url, "--by", "model", "-f", "json", timeout=120)
    assert run.returncode == 0, run.stderr
    expected = report(postgres_source, ["model"]).to_dict()
    assert_same(expected, json.loads(run.stdout))
    for args in (
        ("ingest", "outcomes", str(world.folder / "bill.csv")),
        ("demo", "--sessions", "10"),
        ("prune", "--before", "2020-01-01"),
    ):
        run = _costper(*args, "--db", postgres_url + "?read_only=1", timeout=120)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1, run.stderr
        assert "postgres source is read-only (opened with ?read_only=1)" in lines[0]
    for args, what in (  # writable, but these need the whole store in DuckDB
        (("prune", "--before", "2020-01-01"), "pruning needs a DuckDB store"),
        (("ingest", "billing", str(world.folder / "bill.csv")), "ingesting a bill"),
    ):
        run = _costper(*args, "--db", postgres_url, timeout=120)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and what in lines[0], run.stderr
    bad = _costper("report", "--db", "postgres://someone:hunter2@127.0.0.1:1/none", timeout=60)
    assert bad.returncode == 2 and "cannot connect" in bad.stderr
    assert "hunter2" not in bad.stderr and "someone:***@" in bad.stderr


def test_missing_table_reads_empty_and_driver_errors_are_named(postgres_url: str) -> None:
    admin = _postgres_or_skip()
    name = f"costper_bare_{os.getpid()}"
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.raw_sql(f"CREATE DATABASE {name}")
    try:
        with BackendSource(ibis.connect(postgres_url.rsplit("/", 1)[0] + "/" + name)) as bare:
            assert bare.count("billing") == 0 and bare.count("calls") == 0
            assert report(bare, ["feature"], now=NOW).groups == []
            nowhere = ibis.table({"x": "int64"}, name="nowhere").select("x")
            with pytest.raises(StoreError, match=r"^postgres://: .*nowhere"):
                bare.to_arrow(nowhere)
    finally:
        admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.disconnect()


def test_serve_by_url_is_read_only(
    postgres_url: str, postgres_source: Source, world: World
) -> None:
    """`costper serve --db postgres://...?read_only=1`: the dashboard and API from
    PostgreSQL; posts refused (tests/test_engine_writes.py posts to a writable one)."""
    import httpx
    from serve_process import ServeProcess

    url = postgres_url + "?read_only=1"
    with ServeProcess(url, cwd=world.folder) as server:  # type: ignore[arg-type]
        got = httpx.get(server.url + "/api/report", params={"by": "model"}, timeout=120).json()
        assert_same(report(postgres_source, ["model"]).to_dict(), got)
        page = httpx.get(server.url + "/features/support-chat", timeout=120)
        assert page.status_code == 200 and "gpt-4o-mini" in page.text
        posted = httpx.post(
            server.url + "/v1/traces",
            content=b"{}",
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert posted.status_code == 405, posted.text
        assert "postgres source is read-only" in posted.json()["error"]
        assert "password" not in server.stop()
