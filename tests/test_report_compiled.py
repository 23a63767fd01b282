"""The report's SQL kept compiled in the store (`store._compiled`, `engine._report_sql`):
the report read through it is byte for byte the report Ibis builds, warm, after new
calls (the rollup catching up through kept SQL too) and for every option that
changes the query; the expected side is always the Ibis path, forced."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest

from costper._config_evals import EvalRule
from costper._demo import generate
from costper.config import Config, Costs
from costper.engine._report import report
from costper.store import _compiled
from costper.store._store import Store, open_store

END = datetime(2025, 6, 1)
NOW = datetime(2025, 6, 1, 9, 30, 15, 250001)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with open_store(path) as store:
        generate(store, 400, end=END, days=10)
    return path


@pytest.fixture
def db(demo_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "s.duckdb"
    shutil.copy(demo_db, copy)
    return copy


@pytest.fixture
def ibis_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Ibis path, as before kept SQL existed: nothing kept is read."""
    monkeypatch.setattr(Store, "run_compiled", lambda self, key, values: None)
    yield


def kept(db: Path) -> int:
    with open_store(db) as store:
        return int(
            store.sql("SELECT count(*) AS n FROM meta WHERE starts_with(key, 'compiled:')")["n"][0]
        )


def as_json(db: Path, **kw: Any) -> str:
    with open_store(db) as store:
        kw.setdefault("now", NOW)
        return json.dumps(report(store, **kw).to_dict(), indent=2, default=str)


def ibis_json(db: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    with monkeypatch.context() as m:
        m.setattr(Store, "run_compiled", lambda self, key, values: None)
        return as_json(db, **kw)


def reads_kept(db: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    """The report, failing unless it came from kept SQL."""
    used: list[bool] = []
    real = Store.run_compiled

    def spy(self: Store, key: str, values: Any) -> Any:
        rows = real(self, key, values)
        used.append(rows is not None)
        return rows

    with monkeypatch.context() as m:
        m.setattr(Store, "run_compiled", spy)
        out = as_json(db, **kw)
    assert used == [True]
    return out


OPTIONS: list[dict[str, Any]] = [
    {"by": ["feature"]},
    {"by": ["feature", "model", "day", "turns"]},
    {"by": ["week", "month", "provider", "prompt_version", "tenant"]},
    {"by": ["feature"], "since": datetime(2025, 5, 25, 6, 0, 0, 5), "until": datetime(2025, 5, 30)},
    {"by": ["model"], "until": datetime(2025, 5, 29, 23, 59, 59, 999999)},
    {"by": ["model"], "feature": "support-chat"},
    {"by": ["feature"], "config": Config(implicit_success_after=None)},
    {"by": ["feature"], "config": Config(costs=Costs(escalation_cost=3.5, per_call_overhead=0.01),
                                         feature_costs={"support-chat": Costs(review_cost=9.0)})},
    {"by": ["feature"], "config": Config(evals=(EvalRule(model="gpt-4o-mini"),))},
]  # fmt: skip


@pytest.mark.parametrize("options", OPTIONS, ids=range(len(OPTIONS)))
def test_kept_sql_gives_the_ibis_report_byte_for_byte(
    db: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    expected = ibis_json(db, monkeypatch, **options)  # the Ibis path; it keeps the SQL
    assert kept(db) == 1
    assert reads_kept(db, monkeypatch, **options) == expected
    other = dict(options, now=NOW + timedelta(hours=7, microseconds=3))
    assert reads_kept(db, monkeypatch, **other) == ibis_json(db, monkeypatch, **other)
    assert kept(db) == 1


def test_new_calls_catch_the_rollup_up_through_kept_sql(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_json(db, by=["feature", "model"])  # keeps the SQL
    with open_store(db) as store:
        rows = store.sql("SELECT * FROM calls ORDER BY trace_id, span_id LIMIT 3")
        more = rows.set_column(
            rows.schema.get_field_index("span_id"), "span_id", pa.array(["x1", "x2", "x3"])
        )
        store.insert("calls", more)  # three more calls in stored sessions
    twin = tmp_path / "twin.duckdb"
    shutil.copy(db, twin)  # the same data, the rollup equally stale
    got = reads_kept(db, monkeypatch, by=["feature", "model"])
    assert got == ibis_json(twin, monkeypatch, by=["feature", "model"])
    order = "SELECT * FROM session_rollup ORDER BY session_id"
    with open_store(db) as a, open_store(twin) as b:
        assert a.sql(order).equals(b.sql(order))  # the catch-up wrote the same rows


def test_a_read_only_store_with_a_stale_rollup_takes_the_ibis_path(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = as_json(db)
    with open_store(db) as store:
        rows = store.sql("SELECT * FROM calls LIMIT 1")
        i = rows.schema.get_field_index("span_id")
        store.insert("calls", rows.set_column(i, "span_id", pa.array(["late"])))

    with open_store(db, read_only=True) as store:
        key = store.sql("SELECT key FROM meta WHERE key LIKE 'compiled:%'")["key"][0].as_py()
        assert store.run_compiled(key.removeprefix("compiled:"), {}) is None
        calls = store.count("calls")
        got = report(store, now=NOW)
    # The new call counts: its session was rolled up on the fly. (Not compared byte
    # for byte: DuckDB's threads may add an on-the-fly rollup in another order.)
    assert sum(g.calls + g.pending["calls"] for g in got.groups) == calls
    assert json.dumps(got.to_dict(), indent=2, default=str) != expected


def test_literals_are_written_as_ibis_writes_them() -> None:
    con = ibis.duckdb.connect()
    times = [
        datetime(2025, 1, 2, 3, 4, 5, us)
        for us in (0, 1, 5, 10, 99, 100, 1000, 12345, 123456, 500000, 999999)
    ] + [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), NOW]
    for t in times:
        sql = str(con.compile(ibis.literal(t, type="timestamp")))
        assert _compiled.sql_literal(t) in sql, (t, sql)
    for n in (0, 1, 17, 2**62):
        sql = str(con.compile(ibis.literal(n, type="int64")))
        assert re.search(rf"\b{n}\b", sql), sql


def test_a_template_that_does_not_reproduce_ibis_is_refused() -> None:
    s = _compiled.sql_literal(_compiled.SENTINELS["since"])
    real = datetime(2025, 5, 1)
    assert _compiled.template(f"a > {s}", f"a > {_compiled.sql_literal(real)}", {"since": real})
    assert _compiled.template(f"a > {s}", "a > 1", {"since": real}) is None
    assert _compiled.template("a > 1", "a > 1", {"since": real}) is None  # no sentinel in it


def test_no_more_than_keep_queries_are_kept(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compiled, "KEEP", 3)
    for cost in range(5):
        as_json(db, config=Config(costs=Costs(review_cost=float(cost))))
        assert 1 <= kept(db) <= 3


def test_costper_report_json_is_the_engines_and_loads_no_ibis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line, as a user runs it twice: the second run reads kept SQL
    (no Ibis, no sqlglot, no pandas imported) and prints what the engine's Ibis
    path computes in this process, byte for byte. Implicit successes after 9000
    days, so the seconds between the runs move no session across the line."""
    db, conf = tmp_path / "c.duckdb", tmp_path / "costper.toml"
    conf.write_text('[outcomes]\nimplicit_success_after = "9000d"\n')
    run = [sys.executable, "-m", "costper"]
    demo = subprocess.run([*run, "demo", "--sessions", "300", "--db", str(db)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    args = ["report", "--by", "feature,model", "--format", "json", "--db", str(db)]
    first = subprocess.run([*run, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-X", "importtime", "-m", "costper", *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert second.returncode == 0, second.stderr
    names = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", second.stderr, re.M))
    assert "costper.engine._report" in names
    assert not {n.split(".")[0] for n in names} & {"ibis", "sqlglot", "pandas"}
    from costper.config import load_config

    cfg = load_config(str(conf), db=str(db))
    with monkeypatch.context() as m:
        m.setattr(Store, "run_compiled", lambda self, key, values: None)
        with open_store(db) as store:
            rep = report(store, ["feature", "model"], config=cfg)
    expected = json.dumps(rep.to_dict(), indent=2, default=str) + "\n"
    assert first.stdout == expected
    assert second.stdout == expected


def test_without_readable_sources_nothing_is_kept(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install without the query modules' sources cannot tell code versions
    apart: it keeps no SQL and every report takes the Ibis path."""
    from costper.engine import _report_sql

    monkeypatch.setattr(_report_sql, "_CODE", (*_report_sql._CODE, "engine/_gone.py"))
    _report_sql._code_digest.cache_clear()
    try:
        before = kept(db)
        assert as_json(db, by=["tenant"]) == ibis_json(db, monkeypatch, by=["tenant"])
        assert kept(db) == before
    finally:
        _report_sql._code_digest.cache_clear()
