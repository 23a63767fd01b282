"""Big bills in flat memory: a 100,000-line ingest's peak RSS, in a process of its own.

The 1M-line figures are bench/billing.py's (`--ingest 1000000`); this is the
reduced size CI can afford. The file is the public FOCUS sample repeated (each
copy its own account, so every line is distinct), written by the bench's own
generator. Before lines were staged in DuckDB a 200,000-line file peaked at
2.56 GB (about 12 KB a line). Now DuckDB reads the file itself within its
`memory_limit` (store/_stage.py), so the peak grows with the file only until
DuckDB's buffers are full: the bound is the 1,000-line ingest's peak plus that
limit and 64 MiB, and under 1 GB in all (bench: 784 MiB at 1M lines).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from costper.store._stage import MEMORY_LIMIT

BENCH = Path(__file__).parent.parent / "bench" / "billing.py"


def _peak(tmp_path: Path, rows: int) -> dict[str, float]:
    csv = tmp_path / f"focus-{rows}.csv"
    db = tmp_path / f"bill-{rows}.duckdb"
    subprocess.run([sys.executable, str(BENCH), "--write-csv", str(csv), "--rows", str(rows)],
                   check=True)  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(BENCH), "--run", "ingest:costper", "--db", str(db), "--csv", str(csv)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == rows
    return result


@pytest.mark.slow
def test_a_100k_line_ingest_stays_flat(tmp_path: Path) -> None:
    small = _peak(tmp_path, 1000)
    big = _peak(tmp_path, 100_000)
    grown = big["peak_mib"] - small["peak_mib"]
    assert grown < _mib(MEMORY_LIMIT) + 64, (small, big)
    assert big["peak_mib"] < 1024, big


def _mib(limit: str) -> float:
    assert limit.endswith("MB")
    return float(limit[:-2]) * 1e6 / 2**20
