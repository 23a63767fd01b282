"""Names from telemetry are data: they must not drive the terminal or the spreadsheet.

A store whose feature and model names carry terminal escapes (window title,
clear screen, OSC 8 hyperlinks, C1 CSI, CR), Rich markup and spreadsheet
formulas is reported through the real `costper` command; the output is read
byte by byte.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from live_app import DAY1, calls, outcomes
from serve_process import COSTPER

from costper.store._store import open_store

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
C1 = "\x9b31m"
FEATURES = {
    "esc": f"bot{TITLE}{CLEAR}",
    "link": f"bot{LINK}",
    "c1": f"bot{C1}x\rz",
    "markup": "[link=https://evil.example]bot[/link]",
    "formula": '=HYPERLINK("https://evil.example","x")',
    "plus": "+1+1",
    "at": "@SUM(A1)",
    "minus": "-2+3",
    "tab": "\t=1",
}
MODEL = "=cmd|' /C calc'!A0"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\r")


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    db = tmp_path / "hostile.duckdb"
    rows, outs = [], []
    for i, name in enumerate(FEATURES.values()):
        for j in range(3):
            sid = f"s{i}-{j}"
            t = DAY1 + timedelta(minutes=10 * i + j)
            model = MODEL if j == 0 else "m-a"
            rows.append({"session_id": sid, "feature": name, "start_time": t, "cost": 1.0,
                         "model": model})  # fmt: skip
            outs.append({"session_id": sid, "at": t + timedelta(minutes=5), "success": j != 1})
    with open_store(db) as store:
        store.insert_many({"calls": calls(rows), "outcomes": outcomes(outs)})
    return db


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command's output exactly as written (no newline translation)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    env["COLUMNS"] = "400"
    r = subprocess.run(
        [COSTPER, *args, "--db", str(db)], capture_output=True, timeout=120, env=env, cwd=db.parent
    )
    assert r.returncode == 0, r.stderr.decode()
    return subprocess.CompletedProcess(r.args, 0, r.stdout.decode(), r.stderr.decode())


@pytest.mark.parametrize(
    "args",
    [
        ("report",),
        ("report", "--by", "feature,model"),
        ("compare", "--by", "model", "--baseline", "m-a", "--pool-features"),
        ("whatif",),
    ],
)
def test_tables_show_control_characters_as_escapes(hostile_db: Path, args: tuple[str, ...]) -> None:
    out = run(hostile_db, *args).stdout
    for ch in RAW_CONTROLS:
        assert ch not in out, (args, repr(ch))
    if args[0] == "report":
        assert "bot\\x1b]0;pwned\\x07\\x1b[2J" in out
        assert "\\x9b31mx\\x0dz" in out
        assert "[link=https://evil.example]bot[/link]" in out  # shown, not turned into a link


@pytest.mark.parametrize(
    "args",
    [
        ("report", "-f", "csv"),
        ("report", "--by", "feature,model", "-f", "csv"),
        ("compare", "--by", "model", "--baseline", "m-a", "--pool-features", "-f", "csv"),
        ("whatif", "-f", "csv"),
    ],
)
def test_csv_cells_never_start_a_formula(hostile_db: Path, args: tuple[str, ...]) -> None:
    text = run(hostile_db, *args).stdout
    rows = list(csv.reader(io.StringIO(text, newline="")))
    width = len(rows[0])
    assert all(len(r) == width for r in rows), "a CR or LF in a field broke a row"
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert not [c for c in cells if c.startswith("-") and not _number(c)]
    if args[0] == "report":
        features = {r[0] for r in rows[1:]}
        assert "'" + FEATURES["formula"] in features and "'+1+1" in features
        assert "'@SUM(A1)" in features and "'-2+3" in features and "'\t=1" in features
        assert FEATURES["c1"] in features  # CR kept inside a quoted field, row intact


def test_focus_export_csv_neutralises_formulas(hostile_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    run(hostile_db, "export", "focus", "--per-call", "-o", str(out))
    rows = list(csv.reader(out.open(newline="")))
    width = len(rows[0])
    assert all(len(r) == width for r in rows)
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t") and c]
    assert not [c for c in cells if c.startswith("-") and not _number(c)]
    assert any(c == "'" + MODEL for c in cells) or any("'" + MODEL in c for c in cells)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_no_traceback_reaches_a_user_for_any_bad_input(tmp_path: Path) -> None:
    """Corrupt files of every kind the CLI reads: one line, exit 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    db = str(tmp_path / "x.duckdb")
    gz = tmp_path / "bad.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000)
    surrogate = tmp_path / "s.jsonl"
    surrogate.write_text('{"session_id": "\\ud800", "success": true}\n')
    old = tmp_path / "old.jsonl"
    old.write_text('{"session_id": "a", "at": "0001-01-01T00:00:00+01:00"}\n')
    nan = tmp_path / "nan.parquet"
    import pyarrow.parquet as pq
    from conftest import FOCUS_SAMPLE
    from pyarrow import csv as pacsv

    t = pacsv.read_csv(FOCUS_SAMPLE)
    t = t.set_column(t.schema.get_field_index("BilledCost"), "BilledCost",
                     __import__("pyarrow").array([float("nan")] * t.num_rows))  # fmt: skip
    pq.write_table(t, nan)
    for args in (
        ("ingest", "traces", str(gz)),
        ("ingest", "traces", str(deep)),
        ("ingest", "outcomes", str(gz)),
        ("ingest", "outcomes", str(deep)),
        ("ingest", "outcomes", str(surrogate)),
        ("ingest", "outcomes", str(old)),
        ("ingest", "billing", str(gz)),
        ("ingest", "billing", str(nan)),
        ("report", "--since", "9999999999999d"),
        ("report", "--until", "0001-01-01T00:00:00+01:00"),
        ("breakeven", "--requests", "1e400"),
    ):
        r = subprocess.run([COSTPER, *args, "--db", db], capture_output=True, text=True,
                           timeout=120, env=env, cwd=tmp_path)  # fmt: skip
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
