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
    """The first report with given options compiles its query with Ibis (and keeps
    it in the store); pandas (Ibis' converter) and scipy.stats, 0.45 s and ~1 s of
    every `costper report` once, stay out. Run again on a current rollup, the
    report reads the kept SQL: no Ibis, no sqlglot (half a second of the process)."""
    db = tmp_path / "s.duckdb"
    demo = subprocess.run(
        ["costper", "demo", "--sessions", "200", "--db", str(db)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    args = ("report", "--by", "feature", "--db", str(db))  # the demo reported by feature,model
    first = imported(*args, cwd=tmp_path)
    assert {
        "ibis",
        "duckdb",
        "scipy.special._special_ufuncs",
    } <= first  # it did run the report, with Ibis
    again = imported(*args, cwd=tmp_path)
    assert {"duckdb", "scipy.special._special_ufuncs", "costper.store._compiled"} <= again
    for names in (first, again):
        assert "pandas" not in top_level(names) and "scipy.stats" not in names
        assert "scipy._lib._array_api" not in names  # scipy.special's __init__ (0.15 s)
        assert not {"fastapi", "uvicorn", "pydantic"} & top_level(names)
    assert not {"ibis", "sqlglot"} & top_level(again)


def test_t_functions_load_alone_and_are_scipys() -> None:
    """`student_t` loads SciPy's compiled special functions without scipy.special's
    `__init__`; a later ordinary import still works and holds the same functions."""
    code = """if True:
        import sys
        from costper.engine._intervals import student_t, t_value
        u = student_t()
        assert "scipy.special" not in sys.modules and "scipy._lib._array_api" not in sys.modules
        q = t_value(0.95, 10.0)
        import scipy.special, scipy.stats
        assert scipy.special.stdtrit is u.stdtrit and scipy.special.stdtr is u.stdtr
        assert q == scipy.stats.t.ppf(0.975, 10.0) and abs(q - 2.228138852) < 1e-9, q
        print("ok")
    """
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
