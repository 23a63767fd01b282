"""Tables at 80, 100 and 120 columns: `costper`'s entry point with $COLUMNS set, read
back cell by cell and checked against the same command's `--format json`.

What must hold at every width: no line wider than the terminal; every name shown
whole or elided in the middle to at least 12 characters; the columns left out
named in one note, and `--wide` showing them all; each figure shown equal to the
JSON value at the precision it is printed with.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from costper.cli import main
from costper.cli.fit import Col, FitTable, elide

WIDTHS = (80, 100, 120)
NUMBER = re.compile(r"[−-]?[\d,]+(?:\.\d+)?")


def run(*args: str, columns: int | None = None) -> str:
    """`costper ARGS` in this process (the console script's `main`), stdout captured:
    the real command line, without paying a process start per table."""
    env = dict(os.environ)
    os.environ.pop("COLUMNS", None)
    if columns is not None:
        os.environ["COLUMNS"] = str(columns)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("fit") / "s.duckdb"
    run("demo", "--sessions", "3000", "--db", str(path))
    return str(path)


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each Rich table in `text`: its header cells and its rows' cells."""
    found: list[tuple[list[str], list[list[str]]]] = []
    for line in text.splitlines():
        if line.startswith("┃"):
            found.append(([c.strip() for c in line.strip("┃").split("┃")], []))
        elif line.startswith("│") and found:
            found[-1][1].append([c.strip() for c in line.strip("│").split("│")])
    return found


def hidden(text: str) -> list[list[str]]:
    """The names in each "N columns hidden: a, b (--wide shows all)" note."""
    flat = " ".join(text.split())
    notes = re.findall(r"(\d+) columns? hidden: (.*?) \(--wide shows all\)", flat)
    out = [names.split(", ") for _, names in notes]
    assert [len(n) for n in out] == [int(k) for k, _ in notes]
    return out


def numbers(cell: str) -> list[float]:
    return [float(n.replace(",", "").replace("−", "-")) for n in NUMBER.findall(cell)]


def same(cell: str, *expected: float | None, scale: float = 1.0) -> None:
    """The numbers in `cell` are `expected` (x scale) at the precision printed."""
    if expected[0] is None:
        assert cell == "—", cell
        return
    expected = tuple(e for e in expected if e is not None)  # no bounds: the value alone
    shown = NUMBER.findall(cell)
    assert len(shown) == len(expected), (cell, expected)
    for text, want in zip(shown, expected, strict=True):
        assert want is not None, cell
        decimals = len(text.split(".")[1]) if "." in text else 0
        got = float(text.replace(",", "").replace("−", "-"))
        assert abs(got - want * scale) <= 0.5 * 10**-decimals + 1e-9, (cell, want)


def name_ok(cell: str, full: str) -> bool:
    """`cell` is `full`, or `full` elided in the middle to at least 12 characters."""
    if cell == full:
        return True
    if "…" not in cell or len(cell) < 12:
        return False
    head, tail = cell.split("…")
    return full.startswith(head) and full.endswith(tail) and len(cell) < len(full)


def check_fit(
    args: list[str],
    keys: Callable[[dict[str, Any]], list[dict[str, str]]],
    figures: Callable[[dict[str, Any], dict[str, str], dict[str, str]], None],
) -> None:
    """Run `args` at each width, `--wide` and JSON; `keys(doc)` lists each row's names
    (by header) in order, `figures(doc, names, row)` checks a row's shown values."""
    doc = json.loads(run(*args, "--format", "json"))
    wide = tables(run(*args, "--wide", columns=80))
    assert not hidden(run(*args, "--wide", columns=80))
    expected_rows = keys(doc)
    for width in WIDTHS:
        out = run(*args, columns=width)
        assert max(len(line) for line in out.splitlines()) <= width, out
        shown, notes = tables(out), hidden(out)
        assert len(shown) == len(wide)
        note = iter(notes)
        for (header, rows), (all_header, _) in zip(shown, wide, strict=True):
            left_out = [h for h in all_header if h not in header]
            if left_out:
                assert next(note) == left_out, out
            assert [h for h in all_header if h in header] == header  # order kept
            body = [dict(zip(header, r, strict=True)) for r in rows]
            names = [n for n in expected_rows if set(n) <= set(header)]
            if not names:
                continue
            for row, want in zip(body, names, strict=False):
                for k, full in want.items():
                    assert name_ok(row[k], full), (width, row[k], full)
                figures(doc, want, row)


def by_key(groups: list[dict[str, Any]], want: dict[str, str]) -> dict[str, Any]:
    return next(g for g in groups if all(str(g["key"][k]) == v for k, v in want.items()))


def test_report(db: str) -> None:
    def keys(doc: dict[str, Any]) -> list[dict[str, str]]:
        return [{k: str(g["key"][k]) for k in doc["by"]} for g in doc["groups"]]

    def figures(doc: dict[str, Any], want: dict[str, str], row: dict[str, str]) -> None:
        g = by_key(doc["groups"], want)
        cps, sr = g["cost_per_success"], g["success_rate"]
        checks = {
            "per success": lambda c: same(c, cps["value"], cps["low"], cps["high"]),
            "success": lambda c: same(c, sr["value"], sr["low"], sr["high"], scale=100),
            "labeled": lambda c: same(c.rstrip(" *"), g["labeled_sessions"]),
            "total": lambda c: same(c, g["cost"]["total"]),
            "llm": lambda c: same(c, g["cost"]["llm"]),
            "of which retries": lambda c: same(c, g["cost"]["retries"]),
        }
        for header, check in checks.items():
            if header in row:
                check(row[header])

    check_fit(["report", "--by", "feature,model", "--db", db], keys, figures)
    check_fit(["report", "--by", "feature,model,day", "--db", db], keys, figures)
    out80 = run("report", "--by", "feature,model", "--db", db, columns=80)
    header = tables(out80)[0][0]
    assert {"feature", "model", "success", "per success"} <= set(header)


def test_compare(db: str) -> None:
    args = ["compare", "--by", "model", "--baseline", "gpt-4o-mini", "--feature", "support-chat"]

    def keys(doc: dict[str, Any]) -> list[dict[str, str]]:
        return [{"model": g["key"]["model"]} for g in [doc["baseline"], *doc["variants"]]]

    def figures(doc: dict[str, Any], want: dict[str, str], row: dict[str, str]) -> None:
        g = by_key([doc["baseline"], *doc["variants"]], want)
        cps = g["cost_per_success"]
        same(row["per success"], cps["value"], cps["low"], cps["high"])
        vs = g.get("vs_baseline")
        assert row["verdict"] == (vs["verdict"] if vs else "baseline")
        if "ratio" in row and vs:
            r = vs["ratio"]
            same(row["ratio"], r["value"], r["low"], r["high"])
        if "labeled" in row:
            same(row["labeled"], g["labeled_sessions"])

    check_fit([*args, "--db", db], keys, figures)


def test_whatif(db: str) -> None:
    def keys(doc: dict[str, Any]) -> list[dict[str, str]]:
        return [{"feature": r["feature"], "cheapest": r["best"]} for r in doc["recommendations"]]

    def figures(doc: dict[str, Any], want: dict[str, str], row: dict[str, str]) -> None:
        r = next(r for r in doc["recommendations"] if r["feature"] == want["feature"])
        assert row["verdict"] == r["verdict"]
        if "per success" in row:
            c = r["best_cps"]
            same(row["per success"], c["value"], c["low"], c["high"])

    check_fit(["whatif", "--db", db], keys, figures)

    one = ["whatif", "--feature", "support-chat", "--model", "openai/gpt-4o", "--db", db]

    def model_keys(doc: dict[str, Any]) -> list[dict[str, str]]:
        return [{"model": m["model"]} for m in doc["models"]]

    def model_figures(doc: dict[str, Any], want: dict[str, str], row: dict[str, str]) -> None:
        m = next(m for m in doc["models"] if m["model"] == want["model"])
        c = m["cost_per_success"]
        same(row["per success"], c["value"], c["low"], c["high"])

    check_fit(one, model_keys, model_figures)


def test_breakeven() -> None:
    args = ["breakeven", "--requests", "2500000"]

    def keys(doc: dict[str, Any]) -> list[dict[str, str]]:
        return [{"requests": f"{r['requests']:,}"} for r in doc["rows"]]

    def figures(doc: dict[str, Any], want: dict[str, str], row: dict[str, str]) -> None:
        r = next(r for r in doc["rows"] if f"{r['requests']:,}" == want["requests"])
        same(row["API per success"], r["api_per_success"])
        same(row["self per success"], r["self_per_success"])
        assert row["cheaper all-in"].split()[0].lower() in r["cheaper_per_success"]

    check_fit(args, keys, figures)


def test_reconcile(db: str) -> None:
    def keys(doc: dict[str, Any]) -> list[dict[str, str]]:
        return [{k: str(v) for k, v in r["key"].items()} for r in doc["rows"]]

    def figures(doc: dict[str, Any], want: dict[str, str], row: dict[str, str]) -> None:
        r = by_key(doc["rows"], want)
        same(row["estimated"], r["estimated"])
        if "calls" in row:
            same(row["calls"], r["calls"])

    check_fit(["reconcile", "--db", db], keys, figures)


def test_long_names_are_elided_in_the_middle_never_below_12() -> None:
    long = "anthropic.claude-3-5-sonnet-20241022-v2:0"
    t = FitTable("t", [Col("model", "left", key=True), Col("per success", rank=1)])
    t.add_row(long, "0.80 (0.69–0.92)")
    t.add_row("gpt-4o", "6.44 (6.02–6.90)")
    shown, cut = t.layout(40)
    assert shown == [0, 1] and cut == {0: 40 - 16 - 5}  # 5: the rules and padding
    assert elide(long, 19) == "anthropic…4-v2:0" or len(elide(long, 19)) == 19
    _, cut = t.layout(20)
    assert cut == {0: 12}  # too narrow even so: the name stays at 12
    assert elide(long, 12) == "anthro…-v2:0" and elide("gpt-4o", 12) == "gpt-4o"
    wide = FitTable("t", t.cols, wide=True)
    wide.rows = t.rows
    assert wide.layout(20) == ([0, 1], {})
