"""Reconcile: estimate vs bill per provider, model and day, on the known-truth world."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import billing_truth as bt
import pyarrow as pa
import pytest

from costper.billing._ingest import ingest_billing
from costper.billing._reconcile import reconcile
from costper.cli import main
from costper.store._store import Store, open_store

# provider, model, day: calls, estimated, billed, effective, allocated, unattributed, no line
EXPECTED = {
    ("aws.bedrock", "claude-sonnet-4", "2025-03-01"): (2, 6.00, 0.00, 9.00, 9.00, 0.0, 0),
    ("aws.bedrock", "claude-sonnet-4", "2025-03-02"): (1, 1.50, None, None, None, None, 1),
    ("openai", "gpt-4o", "2025-03-02"): (1, 0.25, 0.30, 0.30, 0.30, 0.0, 0),
    ("openai", "gpt-4o", "2025-03-03"): (1, 0.40, None, None, None, None, 1),
    ("openai", "gpt-4o-mini", "2025-03-01"): (2, 2.00, 1.40, 1.40, 2.15, 0.0, 0),
    ("openai", "gpt-4o-mini", "2025-03-02"): (3, 4.00, 3.20, 3.20, 2.45, 0.0, 0),
    ("openai", "gpt-4o-mini", "2025-03-03"): (0, None, 0.50, 0.50, None, 0.50, 0),
    ("self", "llama-3-8b", "2025-03-01"): (2, None, 48.0, 48.0, 48.0, 0.0, 0),
    ("self", "llama-3-8b", "2025-03-02"): (1, None, 48.0, 48.0, 48.0, 0.0, 0),
}
FIELDS = (
    "calls",
    "estimated",
    "billed",
    "effective",
    "allocated",
    "unattributed",
    "calls_without_line",
)


def _approx(v: float | None) -> object:
    return None if v is None else pytest.approx(v, abs=1e-9)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Store, str, Path]]:
    db = str(tmp_path / "w.duckdb")
    store = open_store(db)
    store.insert_many({"calls": bt.calls_table(), "outcomes": bt.outcomes_table()})
    bill = tmp_path / "bill.csv"
    bill.write_text(bt.bill_csv())
    ingest_billing(store, [bill], bt.CONFIG)
    cfg = tmp_path / "costper.toml"
    cfg.write_text('[[infra]]\nresource_id = "i-0gpu123"\nmodel = "self/llama-3-8b"\n')
    yield store, db, cfg
    store.close()


def test_rows_match_the_hand_computation(world: tuple[Store, str, Path]) -> None:
    store, _, _ = world
    rec = reconcile(store, bt.CONFIG)
    got = {tuple(r["key"].values()): r for r in rec.rows}
    assert set(got) == set(EXPECTED)
    for key, values in EXPECTED.items():
        for field, want in zip(FIELDS, values, strict=True):
            assert got[key][field] == _approx(want), (key, field)
    assert got[("aws.bedrock", "claude-sonnet-4", "2025-03-01")]["ratio"] == pytest.approx(1.5)
    assert got[("openai", "gpt-4o-mini", "2025-03-02")]["unpriced_calls"] == 1
    assert got[("openai", "gpt-4o", "2025-03-03")]["unbilled_estimate"] == pytest.approx(0.40)
    assert got[("self", "llama-3-8b", "2025-03-01")]["ratio"] is None
    t = rec.totals
    assert t["estimated"] == pytest.approx(14.15)
    assert t["effective"] == pytest.approx(110.40) and t["billed"] == pytest.approx(101.40)
    assert t["allocated"] == pytest.approx(109.90) and t["unattributed"] == pytest.approx(0.50)
    assert (t["calls"], t["calls_without_line"], t["unpriced_calls"]) == (13, 2, 4)
    assert t["matched_estimated"] == pytest.approx(12.25)
    assert t["matched_effective"] == pytest.approx(13.90)
    assert t["ratio"] == pytest.approx(13.90 / 12.25)
    assert t["tax"] == pytest.approx(2.0)
    assert t["other_spend"] == {"billed": pytest.approx(25.0), "effective": pytest.approx(5.0)}
    assert t["bill"]["effective"] == pytest.approx(110.40 + 2.0 + 5.0)


def test_by_provider_and_month(world: tuple[Store, str, Path]) -> None:
    store, _, _ = world
    rec = reconcile(store, bt.CONFIG, ["provider", "month"])
    got = {tuple(r["key"].values()): r for r in rec.rows}
    assert set(got) == {
        ("aws.bedrock", "2025-03-01"),
        ("openai", "2025-03-01"),
        ("self", "2025-03-01"),
    }
    openai = got[("openai", "2025-03-01")]
    assert openai["estimated"] == pytest.approx(6.65)
    assert openai["effective"] == pytest.approx(1.40 + 3.20 + 0.50 + 0.30)
    assert openai["allocated"] == pytest.approx(4.60 + 0.30)
    assert openai["unattributed"] == pytest.approx(0.50)
    since = reconcile(store, bt.CONFIG, ["provider"], since=datetime(2025, 3, 2))
    by_p = {r["key"]["provider"]: r for r in since.rows}
    assert by_p["openai"]["calls"] == 5 and by_p["openai"]["effective"] == pytest.approx(4.00)


def test_late_calls_are_joined_by_reconcile(world: tuple[Store, str, Path]) -> None:
    store, _, _ = world
    late = bt.calls_table().slice(9, 1).to_pylist()[0]  # a gpt-4o call on day 3
    late.update(trace_id="t-late", span_id="s-late", session_id="s-late", request_id=None)
    late.update(model="gpt-4o-mini", start_time=datetime(2025, 3, 3, 8))
    store.insert("calls", pa.Table.from_pylist([late]))
    rec = reconcile(store, bt.CONFIG)
    key = {"provider": "openai", "model": "gpt-4o-mini", "day": "2025-03-03"}
    row = next(r for r in rec.rows if r["key"] == key)
    assert row["calls"] == 1 and row["unattributed"] == 0.0
    # The credit's weights: estimates 0.5, 1.5, 1, 3, 0.40 and c5's 2000 tokens at the
    # pool's cost per priced token (6.40 / 6480).
    credit_weights = 6.40 + 2000 * 6.40 / 6480
    assert row["allocated"] == pytest.approx(0.50 - 1.0 * 0.40 / credit_weights)
    assert rec.totals["unattributed"] == 0.0


def test_cli_formats(world: tuple[Store, str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    store, db, cfg = world
    store.close()
    assert main(["reconcile", "--db", db, "--config", str(cfg), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["by"] == ["provider", "model", "day"] and len(doc["rows"]) == 9
    assert doc["totals"]["unattributed"] == pytest.approx(0.5)
    assert main(["reconcile", "--db", db, "--config", str(cfg), "-f", "csv", "--by", "model"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["model"] for r in rows] == ["claude-sonnet-4", "gpt-4o", "gpt-4o-mini", "llama-3-8b"]
    assert float(rows[3]["effective"]) == pytest.approx(96.0)
    assert main(["reconcile", "--db", db, "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Where both exist, telemetry estimated 12.25 and the bill says 13.90 (1.13×)" in out
    assert "llama-3-8b" in out and "tax 2.00" in out
    assert main(["reconcile", "--db", db, "--by", "model,colour"]) == 2
    assert "--by: unknown key 'colour'" in capsys.readouterr().err
