"""The session rollup stored on PostgreSQL and on `pyspark://DIR`, caught up incrementally.

The demo's calls and outcomes go to a real PostgreSQL server (127.0.0.1,
`.ci/postgres`) and to Parquet part files read by Spark local[2]. Calls are
then appended the way writers append them (a new Parquet part file; rows
INSERTed with a higher `seq`), touching existing sessions and opening new
ones. The stored rollup must then equal the rollup recomputed whole by
DuckDB over the same rows (to 1e-9), itself checked per session against
plain SQL (feature, calls, turns, tokens, cost), and the report by feature must equal a
plain SQL aggregation DuckDB runs over those rows. A new connection (and a
new process) must reuse the stored rollup; an engine costper may not write
to falls back to the per-connection rollup and says so once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from costper._demo import generate
from costper.config import Config
from costper.engine._report import report
from costper.engine._sessions import call_rollup
from costper.store._schema import TABLES
from costper.store._store import open_source, open_store

END = datetime(2025, 6, 1)
NOW = datetime(2025, 6, 2)
POSTGRES = os.environ.get(
    "COSTPER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:54329/costper_test"
)
SPARK = "spark.master=local[2]&spark.sql.shuffle.partitions=2&spark.default.parallelism=2"
CFG = Config()


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """The demo's calls and outcomes, and calls appended later (seq above every stored one)."""
    db = tmp_path_factory.mktemp("rollup") / "costper.duckdb"
    with open_store(db) as store:
        generate(store, 120, seed=11, end=END)
        calls = store.to_arrow(store.table("calls"))
        outcomes = store.to_arrow(store.table("outcomes"))
    return {"calls": calls, "outcomes": outcomes, "appended": _appended(calls)}


def _appended(calls: pa.Table) -> pa.Table:
    """12 calls into existing sessions (a later call of each) and 12 in new sessions."""
    seen: set[str] = set()
    picked = []
    for row in calls.sort_by("start_time").to_pylist():
        if row["session_id"] not in seen and row["operation"] != "evals":
            seen.add(row["session_id"])
            picked.append(row)
        if len(picked) == 24:
            break
    top = max(calls.column("seq").to_pylist())
    out = []
    for i, row in enumerate(picked):
        new = dict(row)
        new["span_id"] = f"appended-span-{i}"
        new["start_time"] = row["start_time"] + timedelta(hours=1)
        new["cost"] = (row["cost"] or 0.0) * 1.5 + 0.001
        new["input_tokens"] = (row["input_tokens"] or 0) + 100
        new["seq"] = top + 1
        if i >= 12:
            new["session_id"] = f"appended-session-{i}"
            new["trace_id"] = f"appended-trace-{i}"
        out.append(new)
    return pa.Table.from_pylist(out, schema=TABLES["calls"][0])


def _full_rollup(calls: pa.Table) -> list[dict[str, Any]]:
    """The rollup recomputed whole, by DuckDB, over the same rows; its columns checked
    against plain SQL first, so the stored rollup is not held to costper's query alone."""
    con = ibis.duckdb.connect()
    got: list[dict[str, Any]] = con.to_pyarrow(call_rollup(ibis.memtable(calls))).to_pylist()
    con.disconnect()
    got.sort(key=lambda r: r["session_id"])
    hand = _plain_rollup(calls)
    assert [r["session_id"] for r in got] == list(hand)
    for r in got:
        want = hand[r["session_id"]]
        _close([{k: r[k] for k in want}], [want])
    return got


def _plain_rollup(calls: pa.Table) -> dict[str, dict[str, Any]]:
    """Per session, by hand in DuckDB SQL: the first feature, first and last call, calls,
    failed calls, distinct turns, and (evaluations apart) input tokens and LLM cost."""
    with duckdb.connect() as con:
        con.register("calls", calls)
        rel = con.sql(
            """
            SELECT session_id, arg_min(feature, start_time) AS feature,
                   min(start_time) AS first_call, max(start_time) AS last_call,
                   count(*) AS calls, count(*) FILTER (WHERE failed) AS failed_calls,
                   count(DISTINCT turn_id) AS turns,
                   sum(CASE WHEN operation = 'evals' THEN 0 ELSE coalesce(input_tokens, 0) END)
                     AS input_tokens,
                   sum(CASE WHEN operation = 'evals' THEN 0 ELSE coalesce(cost, 0) END) AS llm
            FROM calls GROUP BY session_id ORDER BY session_id
            """
        )
        cols = rel.columns
        return {r[0]: dict(zip(cols, r, strict=True)) for r in rel.fetchall()}


def _close(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert set(x) == set(y)
        for k, v in x.items():
            w = y[k]
            if isinstance(v, float) or isinstance(w, float):
                assert math.isclose(float(v), float(w), rel_tol=1e-9, abs_tol=1e-12), (k, x, y)
            else:
                assert v == w, (k, x["session_id"], v, w)


def _plain_sql(calls: pa.Table, outcomes: pa.Table) -> dict[str, tuple[Any, ...]]:
    """Per feature, by hand in DuckDB SQL: sessions, calls, LLM cost, input tokens, and
    successes (the latest explicit outcome, an escalation a failure; else quiet for 24 h)."""
    quiet = NOW - timedelta(hours=24)
    with duckdb.connect() as con:
        con.register("calls", calls)
        con.register("outcomes", outcomes)
        got = con.execute(
            """
            WITH s AS (
              SELECT session_id, arg_min(feature, start_time) AS feature, count(*) AS n,
                     max(start_time) AS last_call,
                     sum(CASE WHEN operation = 'evals' THEN 0 ELSE coalesce(cost, 0) END) AS llm,
                     sum(CASE WHEN operation = 'evals' THEN 0 ELSE coalesce(input_tokens, 0) END)
                       AS tokens
              FROM calls GROUP BY session_id),
            o AS (SELECT session_id,
                         arg_max(success, "at") FILTER (WHERE success IS NOT NULL) AS success,
                         arg_max(escalated, "at") FILTER (WHERE escalated IS NOT NULL) AS esc
                  FROM outcomes GROUP BY session_id)
            SELECT feature, count(*), sum(n), sum(llm), sum(tokens),
                   count(*) FILTER (WHERE CASE WHEN coalesce(o.esc, false) THEN false
                                               WHEN o.success IS NOT NULL THEN o.success
                                               ELSE last_call < ? END)
            FROM s LEFT JOIN o USING (session_id) GROUP BY feature ORDER BY feature
            """,
            [quiet],
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in got}


def _check_report(source: Any, calls: pa.Table, outcomes: pa.Table) -> None:
    expected = _plain_sql(calls, outcomes)
    got = {g.key["feature"]: g for g in report(source, ["feature"], config=CFG, now=NOW).groups}
    assert sorted(got) == sorted(expected)
    for feature, (sessions, n, llm, tokens, successes) in expected.items():
        g = got[feature]
        p = g.pending
        all_calls = g.calls + p.get("calls", 0)
        all_tokens = g.tokens["input"] + p.get("tokens", {}).get("input", 0)
        assert (g.sessions, all_calls, all_tokens, g.successes) == (
            sessions, n, tokens, successes
        ), feature  # fmt: skip
        all_llm = g.cost["llm"] + p.get("cost", {}).get("llm", 0.0)
        assert all_llm == pytest.approx(llm, rel=1e-9), feature


# PostgreSQL


@pytest.fixture
def pg_url(rows: dict[str, pa.Table]) -> Iterator[str]:
    pytest.importorskip("psycopg", reason="ibis-framework[postgres] is in the test extra")
    try:
        admin = ibis.connect(POSTGRES)
    except Exception as e:
        pytest.skip(f"no PostgreSQL at {POSTGRES} ({type(e).__name__}); .ci/postgres starts one")
    name = f"costper_rollup_{os.getpid()}"
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.raw_sql(f"CREATE DATABASE {name}")
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    con = ibis.connect(url)
    for table in ("calls", "outcomes"):
        con.create_table(table, schema=ibis.Schema.from_pyarrow(TABLES[table][0]))
        con.insert(table, rows[table])
    con.disconnect()
    yield url
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.disconnect()


def _pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as c:
        cur = c.execute(sql)
        return cur.fetchall() if cur.description else []


def _pg_state(url: str) -> tuple[Any, ...]:
    """The meta rows, the rollup table's file and its newest row version: any write moves one."""
    meta = _pg(url, "SELECT key, value FROM costper_meta ORDER BY key")
    node = _pg(url, "SELECT relfilenode FROM pg_class WHERE relname = 'costper_session_rollup'")
    xmin = _pg(url, "SELECT max(xmin::text::bigint) FROM costper_session_rollup")
    return (tuple(meta), node[0][0], xmin[0][0])


def _pg_rollup(url: str) -> list[dict[str, Any]]:
    con = ibis.connect(url)
    got: list[dict[str, Any]] = con.to_pyarrow(con.table("costper_session_rollup")).to_pylist()
    con.disconnect()
    return sorted(got, key=lambda r: r["session_id"])


def test_postgres_rollup_is_stored_and_caught_up(pg_url: str, rows: dict[str, pa.Table]) -> None:
    with open_source(pg_url) as source:
        _check_report(source, rows["calls"], rows["outcomes"])
    first = _pg_state(pg_url)
    assert dict(first[0])["rollup_seq"] == str(max(rows["calls"].column("seq").to_pylist()))
    _close(_pg_rollup(pg_url), _full_rollup(rows["calls"]))

    con = ibis.connect(pg_url)
    con.insert("calls", rows["appended"])  # existing and new sessions, higher seq
    con.disconnect()
    both = pa.concat_tables([rows["calls"], rows["appended"]])
    with open_source(pg_url) as source:
        _check_report(source, both, rows["outcomes"])
    caught = _pg_state(pg_url)
    assert caught[1] == first[1], "caught up in place, not rebuilt"
    assert dict(caught[0])["rollup_seq"] == str(rows["appended"].column("seq")[0].as_py())
    _close(_pg_rollup(pg_url), _full_rollup(both))

    # Another process: reads the stored rollup, writes nothing.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    run = subprocess.run(
        [sys.executable, "-m", "costper", "report", "--db", pg_url, "--by", "feature", "-f", "json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _pg_state(pg_url) == caught
    with open_source(pg_url) as source:
        assert json.loads(run.stdout)["groups"] == report(source, ["feature"]).to_dict()["groups"]


def test_postgres_rebuilds_on_removed_calls(pg_url: str, rows: dict[str, pa.Table]) -> None:
    with open_source(pg_url) as source:
        report(source, ["feature"], config=CFG, now=NOW)
    gone = rows["calls"].column("session_id")[0].as_py()
    _pg(pg_url, f"DELETE FROM calls WHERE session_id = '{gone}'")
    left = rows["calls"].filter(pc.not_equal(rows["calls"].column("session_id"), gone))
    with open_source(pg_url) as source:
        _check_report(source, left, rows["outcomes"])
    _close(_pg_rollup(pg_url), _full_rollup(left))


def test_postgres_read_only_falls_back(
    pg_url: str, rows: dict[str, pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    _pg(pg_url, "DROP ROLE IF EXISTS costper_reader")
    _pg(pg_url, "CREATE ROLE costper_reader LOGIN")
    _pg(pg_url, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO costper_reader")
    try:
        reader = pg_url.replace("postgres@", "costper_reader@")
        with caplog.at_level(logging.WARNING, logger="costper"), open_source(reader) as source:
            _check_report(source, rows["calls"], rows["outcomes"])
            _check_report(source, rows["calls"], rows["outcomes"])
        said = [r.getMessage() for r in caplog.records if "session rollup" in r.getMessage()]
        assert len(said) == 1 and pg_url.split("@")[1] in said[0], said
        assert "per connection" in said[0]
        assert not _pg(pg_url, "SELECT 1 FROM pg_class WHERE relname = 'costper_meta'")
    finally:
        _pg(pg_url, f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM costper_reader; REVOKE ALL ON DATABASE {name} FROM costper_reader")  # fmt: skip
        _pg(pg_url, "DROP ROLE IF EXISTS costper_reader")


# Spark on a folder of Parquet tables


@pytest.fixture(scope="module")
def spark_dir(tmp_path_factory: pytest.TempPathFactory, rows: dict[str, pa.Table]) -> Path:
    pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime")
    folder = tmp_path_factory.mktemp("spark") / "tables"
    for name in ("calls", "outcomes"):
        (folder / name).mkdir(parents=True)
        pq.write_table(rows[name], folder / name / "part-00000.parquet")
    return folder


def _spark(folder: Path) -> Any:
    return open_source(f"pyspark://{folder}?{SPARK}")


def _pointer(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((folder / "_costper" / "rollup.json").read_text())
    return state


def _spark_rollup(folder: Path) -> list[dict[str, Any]]:
    data = pq.read_table(folder / "_costper" / "rollup" / _pointer(folder)["folder"])
    return sorted(data.to_pylist(), key=lambda r: r["session_id"])


def _jobs(source: Any, tag: str) -> int:
    sc = source.ibis._session.sparkContext
    return len(sc.statusTracker().getJobIdsForGroup(tag))


@pytest.mark.slow
def test_spark_rollup_is_stored_and_caught_up(spark_dir: Path, rows: dict[str, pa.Table]) -> None:
    source = _spark(spark_dir)
    _check_report(source, rows["calls"], rows["outcomes"])
    first = _pointer(spark_dir)
    _close(_spark_rollup(spark_dir), _full_rollup(rows["calls"]))

    pq.write_table(rows["appended"], spark_dir / "calls" / "part-00001.parquet")
    both = pa.concat_tables([rows["calls"], rows["appended"]])
    source = _spark(spark_dir)  # a new connection, as the next CLI run opens one
    _check_report(source, both, rows["outcomes"])
    caught = _pointer(spark_dir)
    assert caught["folder"] != first["folder"] and len(caught["calls"]) == 2
    _close(_spark_rollup(spark_dir), _full_rollup(both))

    # The next connection reads it: the pointer stays, the report is one or two jobs.
    source = _spark(spark_dir)
    sc = source.ibis._session.sparkContext
    sc.setJobGroup("rollup-current", "report with the rollup stored")
    _check_report(source, both, rows["outcomes"])
    sc.setJobGroup("done", "")
    assert _pointer(spark_dir) == caught
    assert _jobs(source, "rollup-current") <= 6  # listing tables (2), the report (4)
    before = sorted(p.name for p in (spark_dir / "_costper" / "rollup").iterdir())
    assert before == sorted({first["folder"], caught["folder"]})


@pytest.mark.slow
def test_spark_rollup_read_by_another_process(spark_dir: Path, rows: dict[str, pa.Table]) -> None:
    source = _spark(spark_dir)
    report(source, ["feature"], config=CFG, now=NOW)
    stored = _pointer(spark_dir)
    stamp = (spark_dir / "_costper" / "rollup.json").stat().st_mtime_ns
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    url = f"pyspark://{spark_dir}?{SPARK}"
    run = subprocess.run(
        [sys.executable, "-m", "costper", "report", "--db", url, "--by", "feature", "-f", "json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _pointer(spark_dir) == stored
    assert (spark_dir / "_costper" / "rollup.json").stat().st_mtime_ns == stamp
    assert json.loads(run.stdout)["groups"] == report(source, ["feature"]).to_dict()["groups"]


@contextlib.contextmanager
def _unwritable(folder: Path) -> Iterator[None]:
    """No writes into `folder`, even by root (the immutable flag), else by mode bits."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)


@pytest.mark.slow
def test_spark_read_only_falls_back(
    tmp_path: Path, rows: dict[str, pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    folder = tmp_path / "ro"
    for name in ("calls", "outcomes"):
        (folder / name).mkdir(parents=True)
        pq.write_table(rows[name], folder / name / "part-00000.parquet")
    with _unwritable(folder), caplog.at_level(logging.WARNING, logger="costper"):
        source = _spark(folder)
        _check_report(source, rows["calls"], rows["outcomes"])
        _check_report(source, rows["calls"], rows["outcomes"])
    said = [r.getMessage() for r in caplog.records if "session rollup" in r.getMessage()]
    assert len(said) == 1 and "per connection" in said[0], said
    assert not (folder / "_costper").exists()
