"""What the CLI loads before it does anything: a module check, not a time bound
(a time bound fails on a loaded machine; an import that should not happen fails
everywhere). The figures are `bench/cli_startup.py`'s."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# The data stack, the server and the statistics library: none is needed to print help.
HEAVY = ("ibis", "duckdb", "pandas", "pyarrow", "numpy", "scipy", "fastapi", "uvicorn")


def imported(*args: str, cwd: Path) -> set[str]:
    """Every module `python -m costper ARGS` imports, from `-X importtime`'s own list."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "costper", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 2), proc.stderr[-2000:]
    names = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", proc.stderr, re.M))
    assert "costper.cli" in names  # the listing is there at all
    return names


def top_level(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], [], ["report", "--help"], ["ingest", "traces", "--help"]]
)
def test_help_loads_no_data_stack(tmp_path: Path, args: list[str]) -> None:
    loaded = top_level(imported(*args, cwd=tmp_path)) & set(HEAVY)
    assert not loaded, f"costper {' '.join(args)} imports {sorted(loaded)}"


def test_report_loads_neither_pandas_nor_scipy_stats(tmp_path: Path) -> None:
    """The report needs Ibis, DuckDB, Arrow and scipy.special; pandas (Ibis' converter)
    and scipy.stats were 0.45 s and ~1 s of every `costper report`."""
    db = tmp_path / "s.duckdb"
    demo = subprocess.run(
        ["costper", "demo", "--sessions", "200", "--db", str(db)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    names = imported("report", "--by", "feature,model", "--db", str(db), cwd=tmp_path)
    assert {"ibis", "duckdb", "scipy.special"} <= names  # it did run the report
    assert "pandas" not in top_level(names) and "scipy.stats" not in names
    assert not {"fastapi", "uvicorn"} & top_level(names)
