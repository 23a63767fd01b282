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


def test_traces_after_the_bill_get_billed_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.duckdb"
    bill = tmp_path / "bill.csv"
    bill.write_text(bill_csv([_openai("2025-03-10", "Input", 5.0)]))
    assert main(["ingest", "billing", str(bill), "--db", str(db)]) == 0

    def body(t: Tracer) -> None:
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

    traces = write_jsonl(tmp_path / "t.jsonl", [record(body)])
    capsys.readouterr()
    assert main(["ingest", "traces", str(traces), "--db", str(db)]) == 0
    assert "bill re-joined: 2 call(s)" in capsys.readouterr().out
    with open_store(db) as s:
        rows = s.to_arrow(
            s.table("calls").select("cost", "cost_source", "estimated_cost")
        ).to_pylist()
    assert [r["cost_source"] for r in rows] == ["billed", "billed"]
    assert sum(r["cost"] for r in rows) == pytest.approx(5.0)
    assert rows[0]["cost"] == pytest.approx(2.5) and rows[0]["estimated_cost"] < 0.01
