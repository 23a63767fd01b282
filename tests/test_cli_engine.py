"""`costper demo`, `report`, `compare` end to end, and bad input at the CLI edge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from costper.cli import main

ARTICLE_TURNS = {"1": (0.95, 0.015), "3": (0.88, 0.041), "5+": (0.68, 0.089)}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "costper", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Cost per success" in proc.stdout and "support-chat" in proc.stdout
    return db


def test_turn_buckets_reproduce_the_article(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "report",
        "--db",
        str(demo_db),
        "--by",
        "turns",
        "--feature",
        "assistant",
        "--format",
        "json",
    )
    assert code == 0
    rep = json.loads(out)
    assert rep["by"] == ["turns"] and rep["confidence"] == 0.95
    groups = {g["key"]["turns"]: g for g in rep["groups"]}
    assert set(groups) == {"1", "2", "3", "4", "5+"}
    for bucket, (rate, token_cost) in ARTICLE_TURNS.items():
        g = groups[bucket]
        assert g["success_rate"]["low"] <= rate <= g["success_rate"]["high"], bucket
        cpi = g["cost_per_intent"]
        assert cpi["low"] <= token_cost <= cpi["high"], bucket
        assert g["cost"]["llm"] == pytest.approx(g["cost"]["total"])
        assert g["sample_ok"] is True


def test_json_contract(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "report", "--db", str(demo_db), "--format", "json")
    g = json.loads(out)["groups"][0]
    for key in (
        "key",
        "sessions",
        "labeled_sessions",
        "pending_sessions",
        "successes",
        "escalations",
        "calls",
        "failed_calls",
        "turns",
        "tokens",
        "cost",
        "cost_sources",
        "success_rate",
        "escalation_rate",
        "cost_per_1m_tokens",
        "cost_per_intent",
        "cost_per_success",
        "sample_ok",
    ):
        assert key in g
    assert set(g["tokens"]) == {"input", "output", "cache_read", "total"}
    assert set(g["cost"]) == {
        "llm",
        "retries",
        "evals",
        "escalation",
        "review",
        "overhead",
        "infra",
        "total",
    }
    assert g["sessions"] == g["labeled_sessions"] + g["pending_sessions"]


def test_support_chat_ab_matches_scenarios(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(
        capsys,
        "compare",
        "--db",
        str(demo_db),
        "--by",
        "model",
        "--baseline",
        "gpt-4o-mini",
        "--feature",
        "support-chat",
        "--format",
        "json",
    )
    cmp = json.loads(out)
    base, (var,) = cmp["baseline"], cmp["variants"]
    assert base["cost_per_intent"]["low"] <= 4.5019 <= base["cost_per_intent"]["high"]
    assert base["cost_per_success"]["low"] <= 4.5019 / 0.7 <= base["cost_per_success"]["high"]
    assert var["key"]["model"] == "gpt-4-turbo"
    assert var["cost_per_success"]["low"] <= 0.764 / 0.95 <= var["cost_per_success"]["high"]
    assert var["vs_baseline"]["verdict"] == "cheaper" and var["vs_baseline"]["p_value"] < 1e-9


def test_table_and_csv(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "report", "--db", str(demo_db), "--by", "feature,model")
    assert "per success" in out and "sql-helper" in out and "*" in out
    _, out, _ = run(capsys, "report", "--db", str(demo_db), "--format", "csv")
    header, *rows = out.strip().splitlines()
    assert header.startswith("feature,sessions,") and len(rows) == 6


def test_demo_is_deterministic_and_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    for db in (a, b):
        assert run(capsys, "demo", "--sessions", "2000", "--seed", "5", "--db", str(db))[0] == 0
    code, out, _ = run(capsys, "demo", "--sessions", "2000", "--seed", "5", "--db", str(a))
    assert "wrote 0 calls and 0 outcome records" in out
    reports = [
        json.loads(
            run(capsys, "report", "--db", str(db), "--by", "feature,model", "--format", "json")[1]
        )
        for db in (a, b)
    ]
    # Same data; floats may differ in the last bits with the engine's summation order.
    assert _close(reports[0], reports[1])


def _close(x: object, y: object) -> bool:
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_close(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float):
        return x == pytest.approx(y, rel=1e-9, abs=1e-12)
    return x == y


@pytest.mark.parametrize(
    "args,message",
    [
        (["report", "--by", "colour"], "unknown group key 'colour'"),
        (["report", "--since", "last tuesday"], "--since: expected a date"),
        (["report", "--format", "xml"], "--format: expected one of"),
        (["compare", "--by", "model", "--baseline", "nope"], "baseline 'nope' has no sessions"),
        (["demo", "--sessions", "0"], "--sessions: must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    demo_db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args, "--db", str(demo_db))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "toml,message",
    [
        ("[costs]\nescalaton_cost = 15\n", "costs.escalaton_cost: unknown key"),
        ("[costs]\nescalation_cost = 'fifteen'\n", "costs.escalation_cost: expected a number"),
        ("[stats\n", "not valid TOML"),
        (
            "[outcomes]\nimplicit_success_after = '3 fortnights'\n",
            "outcomes.implicit_success_after",
        ),
    ],
)
def test_bad_config_names_the_key_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, message: str
) -> None:
    cfg, db = tmp_path / "costper.toml", tmp_path / "new.duckdb"
    cfg.write_text(toml)
    code, _, err = run(capsys, "demo", "--sessions", "100", "--db", str(db), "--config", str(cfg))
    assert code == 2 and message in err and str(cfg) in err
    assert not db.exists()


def test_missing_store_is_an_error_not_an_empty_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "none.duckdb"
    code, _, err = run(capsys, "report", "--db", str(db))
    assert code == 2 and "no store here yet" in err and not db.exists()


def test_console_script_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["costper", "report", "--by", "nope", "--db", str(tmp_path / "x.duckdb")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown group key 'nope'" in proc.stderr


def test_compare_refuses_to_pool_features_unless_asked(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "compare", "--db", str(demo_db), "--by", "model", "--baseline", "gpt-4o-mini"
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--pool-features" in err
    assert (
        "span 6 features (assistant, doc-summaries, invoice-extraction, research-agent, "
        "sql-helper, support-chat)" in err
    )
    code, out, _ = run(
        capsys, "compare", "--db", str(demo_db), "--by", "model", "--baseline", "gpt-4o-mini",
        "--pool-features", "--format", "json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["baseline"]["key"] == {"model": "gpt-4o-mini"}


def test_report_says_why_a_group_is_not_enough(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "report", "--db", str(demo_db), "--by", "feature,model")
    assert "* not enough to decide on" in out
    words = " ".join(out.split())  # Rich wraps long footnotes
    assert "sql-helper, model=gpt-4.1: 30 labeled sessions (fewer than 100); 3 failures" in words
    assert "model=gpt-4.1: cannot estimate the sessions needed" in words
    _, out, _ = run(capsys, "report", "--db", str(demo_db), "--by", "model", "--format", "json")
    for g in json.loads(out)["groups"]:
        assert g["sample_ok"] == (g["warnings"] == [])
        assert all(set(w) == {"code", "message"} for w in g["warnings"])
