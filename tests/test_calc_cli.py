"""`costper calc` and `costper breakeven` at the command line: tables, JSON, bad parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from costper.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cells(out: str, label: str) -> list[str]:
    """The cells of the table row whose first cell is `label`."""
    for line in out.splitlines():
        parts = [p.strip() for p in line.strip("│ ").split("│")]
        if parts and parts[0] == label:
            return parts[1:]
    raise AssertionError(f"no row {label!r} in:\n{out}")


def test_article_chatbot_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "calc", "--scenario", "chatbot-mini", "--scenario", "chatbot-reasoning"
    )
    assert code == 0
    assert cells(out, "token cost per intent") == ["0.0019", "0.014"]
    assert cells(out, "escalation") == ["4.50", "0.75"]
    assert cells(out, "cost per intent") == ["4.50", "0.76"]
    assert cells(out, "cost per success") == ["6.43", "0.80"]
    assert cells(out, "success rate") == ["70%", "95%"]
    assert cells(out, "per intent vs chatbot-mini") == ["—", "83% cheaper"]
    assert "chatbot-reasoning is 83% cheaper per intent than chatbot-mini (0.76 vs 4.50)" in out
    assert "token cost is 7.4x" in out


def test_article_invoices_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "calc", "-s", "invoices-before", "-s", "invoices-after")
    assert code == 0
    assert cells(out, "cost per intent") == ["0.31", "0.081"]
    assert cells(out, "review") == ["0.20", "0.040"]
    assert cells(out, "per intent vs invoices-before") == ["—", "74% cheaper"]
    assert cells(out, "intents a month") == ["166,667", "166,667"]


def test_json_and_flags_override_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "calc", "-s", "chatbot-mini", "-s", "chatbot-reasoning", "--format", "json"
    )
    doc = json.loads(out)
    assert code == 0
    assert [(s["name"], s["cost_per_intent"], s["cost_per_success"]) for s in doc["scenarios"]] == [
        ("chatbot-mini", 4.5, 6.43),
        ("chatbot-reasoning", 0.76, 0.8),
    ]
    assert doc["scenarios"][1]["vs_baseline"]["cost_per_intent_pct"] == -83
    # 20% escalation at 25.00 a ticket on the mini example: 0.0019 + 5.00; 80% succeed.
    code, out, _ = run(
        capsys,
        "calc",
        "-s",
        "chatbot-mini",
        "--escalation-rate",
        "0.2",
        "--escalation-cost",
        "25",
        "--success-rate",
        "0.8",
        "-f",
        "json",
    )
    (s,) = json.loads(out)["scenarios"]
    assert code == 0 and s["parameters"]["turns"] == 5.0
    assert s["exact"]["cost_per_intent"] == "5.00189975"
    assert s["cost_per_success"] == 6.25


def test_custom_scenario_from_flags_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "calc",
        "--input-tokens",
        "2000",
        "--output-tokens",
        "300",
        "--model",
        "openai/gpt-4o-mini",
        "--turns",
        "3",
        "--retry-rate",
        "0.1",
        "--escalation-rate",
        "0.1",
        "--review-rate",
        "0.05",
        "--review-cost",
        "4",
        "--orchestration",
        "0.001",
        "--infra",
        "500",
        "--intents",
        "10000",
        "-f",
        "json",
    )
    (s,) = json.loads(out)["scenarios"]
    # call 0.00048; tokens 3 x 0.00048; retries 0.3 x 0.00048; escalation 1.50; review 0.20;
    # orchestration 3.3 x 0.001; infra 500/10,000.
    expected = 3 * 0.00048 + 0.3 * 0.00048 + 1.5 + 0.2 + 0.0033 + 0.05
    assert code == 0 and s["name"] == "custom" and s["price_source"] == "catalog"
    assert float(s["exact"]["cost_per_intent"]) == pytest.approx(expected, abs=1e-12)
    assert float(s["exact"]["cost_per_success"]) == pytest.approx(expected / 0.9, abs=1e-12)


def test_scenario_file_and_config_costs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "plans.toml"
    f.write_text(
        '[scenarios.now]\nexample = "chatbot-mini"\n\n[scenarios.next]\ntoken_cost = 0.02\n'
        "escalation_rate = 0.1\n"
    )
    cfg = tmp_path / "costper.toml"
    cfg.write_text("[costs]\nescalation_cost = 30.0\n")
    code, out, _ = run(capsys, "calc", "--file", str(f), "--config", str(cfg), "-f", "json")
    now, nxt = json.loads(out)["scenarios"]
    assert code == 0 and (now["name"], nxt["name"]) == ("now", "next")
    assert now["cost_per_intent"] == 4.5  # the example keeps the article's 15.00 ticket
    assert nxt["exact"]["cost_per_intent"] == "3.02"  # 0.02 + 10% x the config's 30.00
    code, out, _ = run(capsys, "calc", "--file", str(f), "-s", "next", "--turns", "2", "-f", "csv")
    header, row = out.strip().splitlines()
    assert code == 0 and "cost_per_intent" in header.split(",")
    assert row.split(",")[header.split(",").index("cost_per_intent")] == "1.54"


def test_breakeven_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "breakeven", "--requests", "250000")
    assert code == 0
    assert "2.00/h x 730 h = 1,460.00 a month per GPU" in out
    assert cells(out, "100,000")[:4] == ["1", "1,000.00", "1,460.00", "API 1.5x"]  # 1,460 / 1,000
    assert cells(out, "250,000")[:4] == ["1", "2,500.00", "1,460.00", "self-hosted 1.7x"]
    assert cells(out, "1,000,000")[:4] == ["1", "10,000.00", "1,460.00", "self-hosted 6.8x"]
    assert cells(out, "10,000,000")[:4] == ["7", "100,000.00", "10,220.00", "self-hosted 9.8x"]
    assert "On compute alone: self-hosting is cheaper from 146,000 requests a month (1 GPU)." in out
    svg = tmp_path / "be.svg"
    code, out, _ = run(
        capsys, "breakeven", "--self-success-rate", "0.9", "--plot", str(svg), "--format", "json"
    )
    doc = json.loads(out)
    assert code == 0 and svg.read_text().startswith("<svg")
    assert doc["breakeven"]["compute"]["requests"] == 146_000
    assert doc["breakeven"]["per_success"]["requests"] is None
    assert doc["rows"][2]["gpus"] == 7
    cfg = tmp_path / "costper.toml"
    cfg.write_text("[costs]\nescalation_cost = 20.0\n")
    code, out, _ = run(capsys, "breakeven", "--config", str(cfg), "-f", "json")
    doc = json.loads(out)
    # 100,000 requests x 5% failing x the config's 20.00
    assert code == 0 and doc["rows"][0]["api_failures"] == 100_000.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calc", "--retry-rate", "1.5"], "--retry-rate: must be a rate between 0 and 1, got 1.5"),
        (["calc", "--escalation-rate", "2"], "--escalation-rate: must be a rate between 0 and 1"),
        (["calc", "--price-input", "-0.15"], "--price-input: must not be negative, got -0.15"),
        (["calc", "-s", "chatbot-nano"], "--scenario: unknown example 'chatbot-nano'"),
        (["calc", "--model", "openai/gpt-99"], "--model: unknown model 'openai/gpt-99'"),
        (["calc", "--turns", "many"], "--turns: expected a number, got 'many'"),
        (
            ["calc", "--success-rate", "0.9", "--escalation-rate", "0.3"],
            "--success-rate: escalated",
        ),
        (["breakeven", "--gpu-price", "-2"], "--gpu-price: must not be negative, got -2"),
        (["breakeven", "--utilisation", "1.2"], "--utilisation: must be a rate above 0"),
        (["breakeven", "--requests", "0"], "--requests: must be greater than 0, got 0"),
        (["breakeven", "--plot", "chart.jpg"], "--plot: expected a .svg or .png file"),
        (["calc", "--format", "yaml"], "--format: expected one of table, json, csv"),
    ],
)
def test_bad_parameters_one_line_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"costper: error: {message}"), err


def test_bad_scenario_file_names_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[scenarios.x]\nreview_rate = 1.01\n")
    code, _, err = run(capsys, "calc", "--file", str(f))
    assert code == 2
    assert err.strip() == (
        f"costper: error: {f}: scenarios.x.review_rate: must be a rate between 0 and 1, got 1.01"
    )


def test_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "calc", "--file", str(tmp_path / "none.toml"))
    assert code == 2
    assert (
        err.strip() == f"costper: error: {tmp_path / 'none.toml'}: --file: scenario file not found"
    )


def test_installed_console_script() -> None:
    exe = Path(sys.executable).with_name("costper")
    proc = subprocess.run(
        [str(exe), "calc", "-s", "chatbot-reasoning", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scenarios"][0]["cost_per_success"] == 0.8
    bad = subprocess.run(
        [str(exe), "calc", "--review-rate", "7"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--review-rate" in bad.stderr


def test_config_price_found_by_calc_as_by_what_if(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 9: `[prices."acme/X-1"]` was found by what_if but `calc --model acme/x-1` failed."""
    from datetime import UTC, datetime

    from costper.config import load_config
    from costper.pricing import unit_prices

    cfg = tmp_path / "costper.toml"
    cfg.write_text('[prices."acme/X-1"]\ninput = 2.0\noutput = 8.0\n')
    args = ["calc", "--config", str(cfg), "--input-tokens", "1000", "--output-tokens", "500"]
    code, out, err = run(capsys, *args, "--model", "acme/x-1", "-f", "json")
    assert code == 0, err
    (s,) = json.loads(out)["scenarios"]
    assert s["exact"]["call_cost"] == "0.006"  # 1000 x 2/1M + 500 x 8/1M, by hand
    assert s["price_source"] == "config"
    rates = unit_prices("acme/x-1", load_config(str(cfg)).prices, datetime.now(UTC))
    assert (rates.source, rates.input.base, rates.output.base) == ("config", 2e-6, 8e-6)
    code, _, err = run(capsys, *args, "--model", "acme/x-2")
    assert code == 2 and err.startswith("costper: error: --model: unknown model 'acme/x-2'")


def test_escalation_override_moves_success_and_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "calc", "-s", "chatbot-mini", "--escalation-rate", "0.2", "--escalation-cost", "25"
    )
    assert code == 0
    # by hand: 0.2 x 25 = 5.00 escalation; 0.0019 tokens + 5.00 = 5.0019 an intent;
    # every failure of the example escalates, so success is 1 - 0.2 = 80%; 5.0019 / 0.8 = 6.25
    assert cells(out, "escalation") == ["5.00"]
    assert cells(out, "success rate") == ["80%"]
    assert cells(out, "cost per success") == ["6.25"]
    assert "30% escalate" not in out and "escalation_rate = 0.2" in out


def test_breakeven_table_and_verdict_agree(capsys: pytest.CaptureFixture[str]) -> None:
    """A 5-point worse self-hosted model: cheaper on compute from 1M requests, never all-in."""
    code, out, _ = run(capsys, "breakeven", "--self-success-rate", "0.90", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert [r["cheaper_on_compute"] for r in doc["rows"]] == ["api", "self-hosted", "self-hosted"]
    assert {r["cheaper_per_success"] for r in doc["rows"]} == {"api"}
    assert doc["breakeven"]["per_success"]["requests"] is None
    code, out, _ = run(capsys, "breakeven", "--self-success-rate", "0.90")
    # by hand at 1M requests: API 0.010 + 5% x 15.00 = 0.76 a request, /0.95 = 0.80 a success;
    # self-hosted 1,460 / 1M + 10% x 15.00 = 1.50146, /0.90 = 1.67 a success: API 2.1x cheaper
    row = next(line for line in out.splitlines() if "1,000,000" in line)
    assert "self-hosted 6.8x" in row and "API 2.1x" in row
    assert "self-hosting never wins" in out
