"""`costper info` and `costper prune` against plain SQL on the same DuckDB file."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["costper", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def demo_store(tmp_path: Path) -> Path:
    db = tmp_path / "p.duckdb"
    assert cli("demo", "--sessions", "600", "--seed", "3", "--db", str(db)).returncode == 0
    return db


def sql(db: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


def test_info_matches_plain_sql(demo_store: Path) -> None:
    proc = cli("info", "--db", str(demo_store), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    calls, sessions, first, last = sql(
        demo_store,
        "SELECT count(*), count(DISTINCT session_id), min(start_time), max(start_time) FROM calls",
    )[0]
    assert info["rows"]["calls"] == calls and info["sessions"] == sessions == 600
    assert info["rows"]["outcomes"] == sql(demo_store, "SELECT count(*) FROM outcomes")[0][0]
    assert info["calls_from"] == str(first) and info["calls_until"] == str(last)


def test_prune_deletes_whole_old_sessions_only(demo_store: Path) -> None:
    cutoff = (datetime.now(UTC) - timedelta(days=14)).date().isoformat()
    old = "SELECT session_id FROM calls GROUP BY session_id HAVING max(start_time) < CAST(? AS TIMESTAMP)"
    want_calls = sql(demo_store, f"SELECT count(*) FROM calls WHERE session_id IN ({old})", cutoff)[
        0
    ][0]
    keep_sessions = sql(
        demo_store,
        f"SELECT count(DISTINCT session_id) FROM calls WHERE session_id NOT IN ({old})",
        cutoff,
    )[0][0]
    labeled = (  # what the ratios use: an outcome, or a last call older than 24h
        "SELECT session_id FROM calls GROUP BY session_id HAVING session_id IN "
        "(SELECT session_id FROM outcomes) OR max(start_time) < now()::TIMESTAMP - INTERVAL 24 HOUR"
    )
    keep_cost = sql(
        demo_store,
        f"SELECT sum(cost) FROM calls WHERE session_id NOT IN ({old}) AND session_id IN ({labeled})",
        cutoff,
    )[0][0]
    assert 0 < want_calls < sql(demo_store, "SELECT count(*) FROM calls")[0][0]

    dry = cli("prune", "--before", cutoff, "--db", str(demo_store))
    assert (
        dry.returncode == 0
        and "would delete" in dry.stdout
        and f"{want_calls:,} calls" in dry.stdout
    )
    assert (
        sql(demo_store, f"SELECT count(*) FROM calls WHERE session_id IN ({old})", cutoff)[0][0]
        == want_calls
    )

    done = cli("prune", "--before", cutoff, "--db", str(demo_store), "--yes")
    assert (
        done.returncode == 0 and "deleted" in done.stdout and f"{want_calls:,} calls" in done.stdout
    )
    rep = json.loads(
        cli("report", "--by", "feature", "--format", "json", "--db", str(demo_store)).stdout
    )
    sessions = sum(g["sessions"] for g in rep["groups"])
    llm = sum(g["cost"]["llm"] + g["cost"]["evals"] for g in rep["groups"])
    assert sessions == keep_sessions
    assert llm == pytest.approx(keep_cost, rel=1e-9)
    orphans = sql(
        demo_store,
        "SELECT count(*) FROM outcomes WHERE session_id NOT IN (SELECT session_id FROM calls)",
    )[0][0]
    assert orphans == 0


def test_prune_bad_date_is_one_line(demo_store: Path) -> None:
    proc = cli("prune", "--before", "yesterday-ish", "--db", str(demo_store))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "before" in proc.stderr and "yesterday-ish" in proc.stderr


def test_an_old_store_is_migrated_with_a_backup(tmp_path: Path) -> None:
    from costper.store import open_store
    from costper.store._schema import SCHEMA_VERSION

    db = tmp_path / "old.duckdb"
    assert cli("demo", "--sessions", "50", "--db", str(db)).returncode == 0
    with duckdb.connect(str(db)) as con:  # make it look like a schema-2 store
        for column in ("tenant", "scope", "response_id", "service_tier"):
            con.execute(f'ALTER TABLE calls DROP COLUMN IF EXISTS "{column}"')
        con.execute("DROP TABLE IF EXISTS span_tags")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    with open_store(db) as store:
        assert store.backup == f"{db}.v2.bak"
        assert store.count("calls") == calls
    assert sql(Path(f"{db}.v2.bak"), "SELECT value FROM meta WHERE key = 'schema_version'") == [
        ("2",)
    ]
    assert sql(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    info = json.loads(cli("info", "--db", str(db), "--format", "json").stdout)
    assert info["schema_version"] == SCHEMA_VERSION and info["rows"]["calls"] == calls


def uncomment(text: str, *, examples: bool) -> str:
    """`# key = default` lines uncommented; with `examples`, `## ...` ones too."""
    out = []
    for line in text.splitlines():
        if examples and line.startswith("## "):
            line = line[3:]
        elif line.startswith("# ") and "=" in line.split("#")[1]:
            line = line[2:]
        out.append(line)
    return "\n".join(out)


def test_init_writes_every_key_at_its_default(tmp_path: Path) -> None:
    from costper.config import Config, load_config

    proc = subprocess.run(["costper", "init"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "wrote costper.toml" in proc.stdout
    text = (tmp_path / "costper.toml").read_text()
    defaults = tmp_path / "defaults.toml"
    defaults.write_text(uncomment(text, examples=False))
    assert load_config(str(defaults)) == Config()
    everything = tmp_path / "everything.toml"
    everything.write_text(uncomment(text, examples=True))
    cfg = load_config(str(everything))  # every key and example is one costper accepts
    assert cfg.attributes["feature"] == ("metadata.feature",)
    assert cfg.prices and cfg.billing_models and cfg.infra and cfg.rates == {"EUR": 1.08}
    assert cfg.budgets and cfg.commitments and cfg.alerts.webhook_url
    again = subprocess.run(["costper", "init"], capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr
