"""The README's Python examples, run as written (issue 9): the API one on a demo
store, the SDK one against a real `costper serve` and a fake OpenAI upstream.
Expected values come from the CLI's JSON and from genai-prices by hand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from serve_process import COSTPER, ServeProcess

from costper._demo import generate
from costper.store._store import open_store

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COSTPER_", "OPENAI_"))}
    return {**clean, "PYTHONPATH": os.pathsep.join(sys.path), **extra}


def _run(code: str, cwd: Path, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=_env(**env),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def test_the_readme_has_the_two_examples() -> None:
    assert len(BLOCKS) == 2
    assert "costper.report(" in BLOCKS[0] and "sdk.configure(" in BLOCKS[1]


def test_python_api_example(tmp_path: Path) -> None:
    with open_store(tmp_path / "costper.duckdb") as store:
        generate(store, sessions=3000, seed=3)
    probe = (
        "\nimport json\n"
        "print(json.dumps({'rows': len(df), 'cps': sorted(df['cost_per_success'].round(9)),"
        " 'compare': type(cmp).__name__}))\n"
    )
    got = _run(BLOCKS[0] + probe, tmp_path)
    cli = subprocess.run(
        [COSTPER, "report", "--by", "feature,model", "--format", "json"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    groups = json.loads(cli.stdout)["groups"]
    assert got["rows"] == len(groups) > 1
    want = sorted(round(g["cost_per_success"]["value"], 9) for g in groups)
    assert got["cps"] == pytest.approx(want)
    assert got["compare"] == "Comparison"


def test_sdk_example_against_a_real_server(tmp_path: Path) -> None:
    reply = Reply(prompt_tokens=1000, completion_tokens=200, text="On its way.")
    with ServeProcess(tmp_path / "costper.duckdb") as server, FakeOpenAI({"": reply}) as api:
        code = BLOCKS[1].replace("http://127.0.0.1:4318", server.url)
        _run(code, tmp_path, OPENAI_BASE_URL=api.url, OPENAI_API_KEY="sk-fake")
        assert len(api.requests) == 1
        server.stop()
    with open_store(tmp_path / "costper.duckdb", read_only=True) as store:
        calls = store.to_arrow(store.table("calls")).to_pylist()
        outcomes = store.to_arrow(store.table("outcomes")).to_pylist()
    [call] = calls
    assert (call["session_id"], call["feature"], call["prompt_version"]) == (
        "ticket-4711", "support-chat", "v3",
    )  # fmt: skip
    # genai-prices: gpt-4o-mini at 0.15 in / 0.60 out per 1M tokens.
    assert call["cost"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    [outcome] = outcomes
    assert (outcome["session_id"], outcome["success"], outcome["signal"]) == (
        "ticket-4711", True, "thumbs_up",
    )  # fmt: skip
