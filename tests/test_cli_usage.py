"""Usage errors as a user meets them: the real console script, one line, exit 2, no traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import costper


def costper_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["costper", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["reprot"], "No such command 'reprot'"),
        (["report", "--bogus"], "No such option: --bogus"),
        (["calc", "--model"], "Option '--model' requires an argument"),
        (["ingest", "traces"], "Missing argument 'paths'"),
        (["demo", "--sessions", "abc"], "Invalid value for '--sessions'"),
    ],
)
def test_usage_error_is_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    proc = costper_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("costper: error: ") and says in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not list(tmp_path.iterdir())  # nothing written, no store created


def test_bare_command_shows_help(tmp_path: Path) -> None:
    proc = costper_cli(cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "report" in proc.stdout and "Usage" in proc.stdout


def test_version(tmp_path: Path) -> None:
    proc = costper_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"costper {costper.__version__}"


def started(proc: subprocess.Popen[str], db: Path) -> None:
    """Wait until the demo has the store open (imports done), on a loaded machine too."""
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if any(os.path.realpath(f) == str(db.resolve()) for f in fds.iterdir()):
                time.sleep(1.5)
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the demo never opened its store")


def interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C, again every 20 s as a user would while it runs: DuckDB may swallow one
    that lands while its own query handler is installed."""
    for _ in range(6):
        proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    raise AssertionError("costper demo ignored Ctrl-C for 120 s")


def test_ctrl_c_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        ["costper", "demo", "--sessions", "2000000", "--db", str(tmp_path / "d.duckdb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    started(proc, tmp_path / "d.duckdb")
    out, err = interrupt(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "costper: interrupted"


def test_ctrl_c_in_demo_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "d.duckdb"
    assert costper_cli("demo", "--sessions", "300", "--db", str(db), cwd=tmp_path).returncode == 0
    before = costper_cli(
        "report", "--by", "feature", "--format", "json", "--db", str(db), cwd=tmp_path
    )
    proc = subprocess.Popen(
        ["costper", "demo", "--sessions", "2000000", "--seed", "7", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started(proc, db)
    interrupt(proc)
    assert proc.returncode in (130, -signal.SIGINT)  # -2: a repeated Ctrl-C during exit
    after = costper_cli(
        "report", "--by", "feature", "--format", "json", "--db", str(db), cwd=tmp_path
    )
    assert after.returncode == 0 and after.stdout == before.stdout


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("small") / "s.duckdb"
    proc = costper_cli("demo", "--sessions", "200", "--db", str(db), cwd=db.parent)
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["report", "--feature", "nope"],
            "--feature: no feature 'nope' in the store (known: assistant, invoice-extraction, "
            "sql-helper, support-chat)",
        ),
        (
            ["compare", "--by", "model", "--baseline", "gpt-4o-mini", "--feature", "nope"],
            "no feature 'nope'",
        ),
        (
            ["report", "--since", "2026-11-20", "--until", "2026-11-10"],
            "until (2026-11-10) must be later than since (2026-11-20)",
        ),
    ],
)
def test_empty_by_mistake_is_an_error(small_store: Path, args: list[str], says: str) -> None:
    proc = costper_cli(*args, "--db", str(small_store), cwd=small_store.parent)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and says in proc.stderr


def test_known_feature_outside_the_range_is_an_empty_table(small_store: Path) -> None:
    proc = costper_cli(
        "report", "--feature", "assistant", "--since", "2099-01-01", "--format", "json",
        "--db", str(small_store), cwd=small_store.parent,
    )  # fmt: skip
    assert proc.returncode == 0 and '"groups": []' in proc.stdout


def all_commands() -> list[list[str]]:
    from typer.main import get_command

    from costper.cli.app import app

    root = get_command(app)
    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return found


def test_help_reads_like_a_unix_tool(tmp_path: Path) -> None:
    seen = 0
    for path in all_commands():
        proc = costper_cli(*path, "--help", cwd=tmp_path)
        assert proc.returncode == 0, path
        text = proc.stdout
        assert not re.search(r"<(str|int|float|bool|list\[\w+\])>", text), (path, text)
        assert "╭" not in text and "Traceback" not in text
        seen += 1
    assert seen >= 15
    calc = costper_cli("calc", "--help", cwd=tmp_path).stdout
    assert "TOML file of [scenarios.NAME] tables." in " ".join(calc.split())
    assert "--utilisation, --utilization" in costper_cli("breakeven", "--help", cwd=tmp_path).stdout


def test_serve_prints_where_the_dashboard_is(tmp_path: Path) -> None:
    from serve_process import ServeProcess

    with ServeProcess(tmp_path / "s.duckdb") as server:
        out = server.stop()
    assert f"dashboard: {server.url}/ " in out and f"docs: {server.url}/docs" in out
    with ServeProcess(tmp_path / "s.duckdb", "--api-key", "sekrit-key") as server:
        out = server.stop()
    assert f"dashboard: {server.url}/?api_key=<one of your keys>" in out and "sekrit" not in out
