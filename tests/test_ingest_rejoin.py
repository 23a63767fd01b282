"""Calls that arrive after their bill are billed on ingest, not left at their estimate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from billing_truth import _openai, bill_csv
from opentelemetry.trace import Tracer
from otlp_payloads import genai_chat, record, write_jsonl

from costper.cli import main
from costper.store._store import open_store

DAY = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def _two_calls(t: Tracer) -> None:
    for i in range(2):
        attrs = genai_chat(
            **{
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
                "session.id": f"s{i}",
            }
        )
        start = int(DAY.timestamp() * 1e9) + i * 1_000_000_000
        t.start_span("chat gpt-4o-mini", attributes=attrs, start_time=start).end(start + 10**8)


def _billed(db: Path) -> list[dict]:
    with open_store(db) as s:
        return s.to_arrow(
            s.table("calls").select("cost", "cost_source", "estimated_cost")
        ).to_pylist()


def _with_bill(tmp_path: Path) -> Path:
    db = tmp_path / "c.duckdb"
    bill = tmp_path / "bill.csv"
    bill.write_text(bill_csv([_openai("2025-03-10", "Input", 5.0)]))
    assert main(["ingest", "billing", str(bill), "--db", str(db)]) == 0
    return db


def test_traces_after_the_bill_get_billed_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _with_bill(tmp_path)
    traces = write_jsonl(tmp_path / "t.jsonl", [record(_two_calls)])
    capsys.readouterr()
    assert main(["ingest", "traces", str(traces), "--db", str(db)]) == 0
    assert "bill re-joined: 2 call(s)" in capsys.readouterr().out
    rows = _billed(db)
    assert [r["cost_source"] for r in rows] == ["billed", "billed"]
    assert sum(r["cost"] for r in rows) == pytest.approx(5.0)
    assert rows[0]["cost"] == pytest.approx(2.5) and rows[0]["estimated_cost"] < 0.01


def test_python_api_file_and_body_ingest_rejoin_the_bill(tmp_path: Path) -> None:
    """The re-join is a core rule (issue 9): not only `costper ingest traces` applies it."""
    from costper.config import Config
    from costper.telemetry import ingest_trace_files
    from costper.telemetry._traces import ingest_body

    db = _with_bill(tmp_path)
    traces = write_jsonl(tmp_path / "t.jsonl", [record(_two_calls)])
    with open_store(db) as store:
        summary = ingest_trace_files(store, Config(db=str(db)), [str(traces)])
    assert summary.rejoined is not None and summary.rejoined.billed_calls == 2
    assert [r["cost_source"] for r in _billed(db)] == ["billed", "billed"]

    (tmp_path / "body").mkdir()
    db2 = _with_bill(tmp_path / "body")
    with open_store(db2) as store:
        body = record(_two_calls).SerializeToString()
        result = ingest_body(store, Config(db=str(db2)), body, "application/x-protobuf")
    assert result.new_rows == 2
    rows = _billed(db2)
    assert [r["cost_source"] for r in rows] == ["billed", "billed"]
    assert sum(r["cost"] for r in rows) == pytest.approx(5.0)


def test_otlp_receiver_rejoins_the_bill(tmp_path: Path) -> None:
    import httpx
    from serve_process import ServeProcess

    db = _with_bill(tmp_path)
    body = record(_two_calls).SerializeToString()
    with ServeProcess(db) as server:
        r = httpx.post(
            server.url + "/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert r.status_code == 200
    rows = _billed(db)
    assert [r["cost_source"] for r in rows] == ["billed", "billed"]
    assert sum(r["cost"] for r in rows) == pytest.approx(5.0)
