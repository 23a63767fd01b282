"""`costper ingest traces --engine spark`: the Spark job stores what `costper ingest traces`
stores, on 100 files of the Collector's file exporter, and a second run adds nothing.

Real Spark (local[2], bound to 127.0.0.1) and a real DuckDB file; the expected
calls are DuckDB's, from the command users run today. The files come from the
real OpenTelemetry SDK (`collector_files`).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from collector_files import collector_dir

from costper.cli import main
from costper.store._schema import CALLS
from costper.store._store import open_store

pytestmark = pytest.mark.slow

CONF = "spark.master=local[2]&spark.sql.shuffle.partitions=2&spark.default.parallelism=2"


@dataclass
class Run:
    files: Path
    db: Path
    state: Path

    @property
    def url(self) -> str:
        return f"pyspark://{self.state}?{CONF}&spark.sql.warehouse.dir={self.state.parent / 'wh'}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime")
    root = tmp_path_factory.mktemp("spark_ingest")
    files = root / "otel"
    paths = collector_dir(files, files=100, sessions=60)
    db = root / "calls.duckdb"
    assert main(["ingest", "traces", *map(str, paths), "--db", str(db)]) == 0
    outcomes = root / "outcomes.jsonl"
    start = datetime.now(UTC).replace(tzinfo=None)
    with outcomes.open("w") as f:
        for n in range(0, 120, 2):
            at = (start + timedelta(minutes=n)).isoformat()
            f.write(json.dumps({"session_id": f"s-{n}", "at": at, "success": n % 3 != 0}) + "\n")
    assert main(["ingest", "outcomes", str(outcomes), "--db", str(db)]) == 0
    state = root / "state"
    state.mkdir()
    with open_store(db) as store:
        (state / "outcomes").mkdir()
        pq.write_table(
            store.to_arrow(store.table("outcomes")), state / "outcomes" / "part-0.parquet"
        )
    return Run(files, db, state)


def _calls_of_duckdb(db: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT * FROM calls").to_arrow_table().select(CALLS.names)
    return sorted(rows.to_pylist(), key=lambda r: (r["trace_id"], r["span_id"]))


def _calls_of_state(state: Path) -> list[dict[str, Any]]:
    rows = pq.read_table(state / "calls").select(CALLS.names)
    return sorted(rows.to_pylist(), key=lambda r: (r["trace_id"], r["span_id"]))


def _differences(expected: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(got, dict):
        if expected.keys() != got.keys():
            return [f"{path}: keys {sorted(expected)} != {sorted(got)}"]
        return [d for k in expected for d in _differences(expected[k], got[k], f"{path}.{k}")]
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{path}: {len(expected)} items != {len(got)}"]
        return [d for i, (a, b) in enumerate(zip(expected, got, strict=True)) for d in _differences(a, b, f"{path}[{i}]")]  # fmt: skip
    if isinstance(expected, float) and isinstance(got, (float, int)):
        if math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-9):
            return []
    elif expected == got and type(expected) is type(got):
        return []
    return [f"{path}: {expected!r} != {got!r}"]


def test_spark_job_stores_what_ingest_traces_stores(run: Run, capsys: Any) -> None:
    capsys.readouterr()
    code = main(["ingest", "traces", "--engine", "spark", "--db", run.url, str(run.files)])
    out, err = capsys.readouterr()
    assert code == 0, err
    expected = _calls_of_duckdb(run.db)
    got = _calls_of_state(run.state)
    assert len(expected) > 100
    # seq is each store's own data version (DuckDB: one per file; the job: one per run).
    assert {r["seq"] for r in got} == {1}
    for rows in (expected, got):
        for r in rows:
            r.pop("seq")
    diffs = _differences(expected, got)
    assert not diffs, f"{len(diffs)} difference(s): " + "; ".join(diffs[:8])
    # What the data hold, so equality is not of two empty or trivial tables:
    assert len({r["provider"] for r in got}) >= 3 and len({r["model"] for r in got}) >= 5
    assert sum(r["failed"] for r in got) >= 5
    assert sum(1 for r in got if r["cache_read_tokens"] == 512) == 12  # cross-trace duplicates
    assert sum(1 for r in got if r["cost_source"] == "unpriced") >= 5
    assert f"{len(got)} calls ({len(got)} new, 0 already stored)" in out

    code = main(["ingest", "traces", "--engine", "spark", "--db", run.url, str(run.files)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{len(got)} calls (0 new, {len(got)} already stored)" in out
    assert len(_calls_of_state(run.state)) == len(got)

    assert main(["report", "--db", str(run.db), "--format", "json"]) == 0
    duck_report = json.loads(capsys.readouterr().out)
    assert main(["report", "--db", run.url, "--format", "json"]) == 0
    spark_report = json.loads(capsys.readouterr().out)
    assert duck_report["groups"]
    diffs = _differences(duck_report, spark_report)
    assert not diffs, f"{len(diffs)} difference(s): " + "; ".join(diffs[:8])


def test_a_bad_file_refuses_the_job_and_writes_nothing(
    run: Run, tmp_path: Path, capsys: Any
) -> None:
    files = tmp_path / "otel"
    shutil.copytree(run.files, files)
    bad = sorted(p for p in files.iterdir() if p.suffix == ".json")[5]
    lines = bad.read_text().splitlines(keepends=True)
    bad.write_text(lines[0] + '{"resourceSpans": [oops\n')
    state = tmp_path / "state"
    url = f"pyspark://{state}?{CONF}"
    capsys.readouterr()
    code = main(["ingest", "traces", "--engine", "spark", "--db", url, str(files)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == (
        f"costper: error: {bad}:2: not valid JSON: Expecting value (column 20)"
    ), err
    assert not (state / "calls").exists()


def test_new_calls_of_a_stored_trace_refuse_the_job(run: Run, tmp_path: Path, capsys: Any) -> None:
    """A later job bringing another call of a trace stored before: its session may be on
    the stored root, so the append-only folder refuses it whole rather than store it
    half-linked."""
    state = tmp_path / "state"
    path, line = next(
        (p, line)
        for p in sorted(run.files.glob("*.json"))
        for line in p.read_text().splitlines()
        if "gen_ai.usage.input_tokens" in line
    )
    (tmp_path / "first").mkdir()
    shutil.copy(path, tmp_path / "first" / path.name)
    assert main(["ingest", "traces", "--engine", "spark", "--db", f"pyspark://{state}?{CONF}", str(tmp_path / "first")]) == 0  # fmt: skip
    stored = len(_calls_of_state(state))
    assert stored
    doc = json.loads(line)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                span["spanId"] = "f" + span["spanId"][1:]
    late = tmp_path / "late" / "traces.json"
    late.parent.mkdir()
    late.write_text(json.dumps(doc) + "\n")
    capsys.readouterr()
    code = main(["ingest", "traces", "--engine", "spark", "--db", f"pyspark://{state}?{CONF}", str(late.parent)])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    assert "has calls stored by an earlier job and new ones in this one" in err
    assert len(_calls_of_state(state)) == stored
