"""Evaluation calls (LLM-as-judge) are the `evals` cost part of the feature they
judge, not `llm` (issue 15): real OTel SDK spans, `costper ingest traces`, the report.

Prices by hand from the catalog: gpt-4o-mini 0.15 in / 0.60 out, gpt-4o 2.50 in /
10.00 out per 1M tokens."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import Tracer
from otlp_payloads import genai_chat, record, span, write_jsonl

from costper.config import Config
from costper.telemetry._traces import calls_from_request

USAGE = "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"


def _spans(tracer: Tracer) -> None:
    tags = {"gen_ai.conversation.id": "s-1", "costper.feature": "support"}
    with span(tracer, "chat", {**genai_chat("gpt-4o-mini"), **tags,
                               USAGE[0]: 1000, USAGE[1]: 100}):  # fmt: skip
        pass
    judge = {**genai_chat("gpt-4o"), "gen_ai.operation.name": "evaluate", **tags,
             USAGE[0]: 2000, USAGE[1]: 50}  # fmt: skip
    with span(tracer, "evaluate", judge):
        pass
    marked = {**genai_chat("gpt-4o"), "costper.call.kind": "eval", **tags,
              USAGE[0]: 2000, USAGE[1]: 50}  # fmt: skip
    with span(tracer, "chat judge", marked):
        pass


def test_eval_spans_become_evals_calls() -> None:
    rows = calls_from_request(record(_spans), Config()).table.to_pylist()
    assert sorted(r["operation"] for r in rows) == ["chat", "evals", "evals"]


def test_evals_part_in_the_report(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [record(_spans)])
    db = str(tmp_path / "c.duckdb")
    run = lambda *a: subprocess.run(  # noqa: E731
        ["costper", *a, "--db", db], capture_output=True, text=True, timeout=300, check=True
    )
    run("ingest", "traces", str(path))
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = tmp_path / "o.csv"
    out.write_text(f"session_id,at,success\ns-1,{later},true\n")
    run("ingest", "outcomes", str(out))
    [g] = json.loads(run("report", "--format", "json").stdout)["groups"]
    judge = 2000 * 2.50e-6 + 50 * 10.0e-6
    assert g["cost"]["llm"] == pytest.approx(1000 * 0.15e-6 + 100 * 0.60e-6)
    assert g["cost"]["evals"] == pytest.approx(2 * judge)
    assert g["cost"]["total"] == pytest.approx(g["cost"]["llm"] + 2 * judge)
    assert g["tokens"]["total"] == 1100  # the feature's own calls: cost per 1M stays theirs
    assert g["calls"] == 3
    table = run("report").stdout
    assert "evals" in table
