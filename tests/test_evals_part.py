"""Evaluation calls (LLM-as-judge) are the `evals` cost part of the feature they
judge, not `llm` (issue 15): real OTel SDK spans, `costper ingest traces`, the report.

Prices by hand from the catalog: gpt-4o-mini 0.15 in / 0.60 out, gpt-4o 2.50 in /
10.00 out per 1M tokens."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import Tracer
from otlp_payloads import genai_chat, record, span, write_jsonl

from costper.config import Config, parse_config
from costper.engine._report import report
from costper.errors import ConfigError
from costper.store._store import Store
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


def test_config_rule_marks_stored_calls_as_evals(store: Store) -> None:
    """`[[evals]]` re-classifies calls already stored, by glob on prompt version and model."""
    t0 = datetime(2026, 9, 1, 8)
    rows = []
    for i, (prompt, model, cost) in enumerate(
        [("chat-v1", "m", 0.10), ("judge-v1", "big", 0.03), ("judge-v2", "big", 0.05),
         ("judge-v2", "small", 0.07)]
    ):  # fmt: skip
        rows.append({
            "trace_id": "t", "span_id": f"s{i}", "session_id": "x", "turn_id": "t",
            "feature": "f", "provider": "openai", "model": model, "prompt_version": prompt,
            "operation": "chat", "start_time": t0 + timedelta(seconds=i), "failed": False,
            "input_tokens": 100, "output_tokens": 10, "cost": cost, "estimated_cost": cost,
            "cost_source": "config", "infra_cost": 0.0,
        })  # fmt: skip
    with store.transaction():
        store.insert_many({"calls": pa.Table.from_pylist(rows)})
    [before] = report(store, ["feature"]).groups
    assert before.cost["evals"] == 0 and before.cost["llm"] == pytest.approx(0.25)
    cfg = parse_config({"evals": [{"prompt_version": "judge-*", "model": "b?g"}]})
    [after] = report(store, ["feature"], config=cfg).groups
    assert after.cost["evals"] == pytest.approx(0.08) and after.cost["llm"] == pytest.approx(0.17)
    assert after.tokens["total"] == 220
    [back] = report(store, ["feature"]).groups  # the stored rollup follows the rules asked
    assert back.cost["evals"] == 0


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"evals": {"model": "x"}}, "evals: expected an array of tables"),
        ({"evals": [{}]}, "evals[0]: give at least one of"),
        ({"evals": [{"modle": "x"}]}, "evals[0].modle: unknown key"),
        ({"evals": [{"model": ""}]}, "evals[0].model: expected a non-empty string"),
    ],
)
def test_bad_evals_rules_are_named(raw: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_config(raw)
