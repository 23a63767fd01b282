"""Restated bills: month-to-date snapshots replace their scope, late old ones never win.

AWS and Azure re-deliver the month-to-date export every day with revised
rows. Three daily snapshots of one account's March bill (day 2 revises a day
1 line, day 3 revises it again and a day 2 line) must leave exactly the day-3
file's lines, whatever order they arrive in; the expected totals come from a
plain DuckDB query over the day-3 file.
"""

from __future__ import annotations

import os
from datetime import datetime
from itertools import permutations
from pathlib import Path

import billing_truth as bt
import duckdb
import pytest

from costper.billing._ingest import ingest_billing
from costper.store._store import Store, open_store

D1, D2, D3 = bt.D1, bt.D2, bt.D3


def _snapshots() -> list[list[dict[str, object]]]:
    day1 = [bt._openai(D1, "Input", 0.80), bt._openai(D1, "Output", 1.60)]
    day2 = [
        bt._openai(D1, "Input", 0.80),
        bt._openai(D1, "Output", 1.65),  # revised
        bt._openai(D2, "Input", 1.20),
        bt._openai(D2, "Output", 2.00),
    ]
    day3 = [
        bt._openai(D1, "Input", 0.80),
        bt._openai(D1, "Output", 1.70),  # revised again
        bt._openai(D2, "Input", 1.10),  # revised
        bt._openai(D2, "Output", 2.00),
        bt._openai(D3, "Input", 0.50),
    ]
    return [day1, day2, day3]


def _write(tmp_path: Path, name: str, rows: list[dict[str, object]], mtime: float) -> Path:
    p = tmp_path / name
    p.write_text(bt.bill_csv(rows))
    os.utime(p, (mtime, mtime))
    return p


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    base = datetime(2025, 3, 2, 6).timestamp()
    return [
        _write(tmp_path, f"mtd-day{i + 1}.csv", rows, base + i * 86400)
        for i, rows in enumerate(_snapshots())
    ]


def _truth(*paths: Path) -> tuple[int, float, float]:
    """Lines, BilledCost and EffectiveCost of the files by plain SQL, nothing of costper."""
    names = ", ".join(f"'{p}'" for p in paths)
    q = (
        "SELECT count(*), sum(CAST(BilledCost AS DECIMAL(18,6))), "
        "sum(CAST(EffectiveCost AS DECIMAL(18,6))) "
        f"FROM read_csv([{names}], all_varchar=true, union_by_name=true)"
    )
    n, billed, eff = duckdb.sql(q).fetchone()  # type: ignore[misc]
    return int(n), float(billed), float(eff)


def _stored(store: Store) -> tuple[int, float, float]:
    r = store.sql("SELECT count(*) n, sum(BilledCost) b, sum(EffectiveCost) e FROM billing")
    row = r.to_pylist()[0]
    return int(row["n"]), round(row["b"], 6), round(row["e"], 6)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_any_arrival_order_leaves_exactly_the_day3_snapshot(
    tmp_path: Path, files: list[Path], order: tuple[int, ...]
) -> None:
    with open_store(tmp_path / f"s{''.join(map(str, order))}.duckdb") as store:
        store.insert("calls", bt.calls_table())
        for i in order:
            ingest_billing(store, [files[i]], bt.CONFIG)
        n, billed, eff = _truth(files[2])
        assert (n, billed) == (5, 6.10)
        assert _stored(store) == (n, round(billed, 6), round(eff, 6))
        # The join re-ran on the day-3 lines: day 1 is 0.80 + 1.70 = 2.50 over
        # c1 (est 0.50) and c2 (est 1.50); day 2 is 1.10 + 2.00 = 3.10 over c3
        # (1.00), c4 (3.00) and unpriced c5 (2000 tokens at 0.001/token = 2.00).
        calls = {
            r["span_id"][2:]: r["cost"]
            for r in store.sql("SELECT span_id, cost FROM calls").to_pylist()
        }
        assert calls["c1"] == pytest.approx(0.625, abs=1e-9)
        assert calls["c2"] == pytest.approx(1.875, abs=1e-9)
        assert calls["c3"] == pytest.approx(3.10 / 6, abs=1e-9)
        assert calls["c4"] == pytest.approx(3.10 / 2, abs=1e-9)
        assert calls["c5"] == pytest.approx(3.10 / 3, abs=1e-9)


def test_one_command_with_all_snapshots_keeps_the_newest(store: Store, files: list[Path]) -> None:
    r = ingest_billing(store, [files[2], files[0], files[1]], bt.CONFIG)
    n, billed, eff = _truth(files[2])
    assert _stored(store) == (n, round(billed, 6), round(eff, 6))
    assert [x.action for x in r.restatements] == ["new"]
    assert r.restatements[0].new_lines == 5


def test_replacement_is_reported_with_the_money_before_and_after(
    store: Store, files: list[Path]
) -> None:
    ingest_billing(store, [files[1]], bt.CONFIG)
    r = ingest_billing(store, [files[2]], bt.CONFIG)
    (st,) = r.restatements
    assert (st.action, st.old_lines, st.new_lines) == ("replaced", 4, 5)
    assert (round(st.old_billed, 2), round(st.new_billed, 2)) == (5.65, 6.10)
    # D1 Input and D2 Output are the same lines in both: kept; 2 revised ones replaced.
    assert (r.new_lines, r.replaced_lines) == (3, 2)
    assert "replaced 4 line(s), BilledCost 5.6500 USD, by 5 line(s), 6.1000 USD" in st.describe()
    late = ingest_billing(store, [files[0]], bt.CONFIG)
    assert late.restatements[0].action == "ignored" and late.new_lines == 0
    assert "older than the stored one" in late.restatements[0].describe()
    again = ingest_billing(store, [files[2]], bt.CONFIG)
    assert (again.new_lines, again.replaced_lines) == (0, 0)


def test_as_of_overrides_the_file_time(store: Store, files: list[Path]) -> None:
    ingest_billing(store, [files[1]], bt.CONFIG)
    # Day 3's file, declared as exported before day 2's: ignored.
    r = ingest_billing(store, [files[2]], bt.CONFIG, as_of=datetime(2025, 3, 1))
    assert r.restatements[0].action == "ignored"
    assert _stored(store)[:2] == (4, 5.65)


def test_recency_column_decides_before_the_file_time(tmp_path: Path, store: Store) -> None:
    day2, day3 = _snapshots()[1:]
    for row in day2:
        row["x_RecencyLastUpdated"] = "2025-03-03T06:00:00Z"
    for row in day3:
        row["x_RecencyLastUpdated"] = "2025-03-04T06:00:00Z"
    cols = [*bt.COLUMNS, "x_RecencyLastUpdated"]
    old = bt.COLUMNS[:]
    bt.COLUMNS[:] = cols
    try:
        # Day 3's file is written first, so by mtime it would look older.
        p3 = _write(tmp_path, "b3.csv", day3, datetime(2025, 3, 3).timestamp())
        p2 = _write(tmp_path, "b2.csv", day2, datetime(2025, 3, 9).timestamp())
    finally:
        bt.COLUMNS[:] = old
    ingest_billing(store, [p3], bt.CONFIG)
    r = ingest_billing(store, [p2], bt.CONFIG)
    assert r.restatements[0].action == "ignored"
    assert r.restatements[0].stored_as_of == datetime(2025, 3, 4, 6)
    assert _stored(store)[:2] == (5, 6.10)


def test_disjoint_files_add(tmp_path: Path, store: Store, files: list[Path]) -> None:
    other_account = [
        {**row, "BillingAccountId": "acct-2", "BillingAccountName": "Acme EU"}
        for row in _snapshots()[2]
    ]
    april = [
        bt._line(
            "2025-04-01",
            **{
                **{k: v for k, v in bt._openai(D1, "Input", 0.70).items() if "Period" not in k},
                "BillingPeriodStart": "2025-04-01 00:00:00",
                "BillingPeriodEnd": "2025-05-01 00:00:00",
            },
        )
    ]
    base = datetime(2025, 3, 2).timestamp()
    a2 = _write(tmp_path, "acct2.csv", other_account, base)
    apr = _write(tmp_path, "april.csv", april, base)
    ingest_billing(store, [files[2]], bt.CONFIG)
    r = ingest_billing(store, [a2], bt.CONFIG)
    assert [x.action for x in r.restatements] == ["new"]
    ingest_billing(store, [apr], bt.CONFIG)
    n, billed, eff = _truth(files[2], a2, apr)
    assert (n, round(billed, 2)) == (11, 12.90)
    assert _stored(store) == (n, round(billed, 6), round(eff, 6))


def test_a_null_account_is_a_scope_of_its_own(tmp_path: Path, store: Store) -> None:
    """Lines without a BillingAccountId (Vercel's export has none) form the scope
    (issuer, no account, period): a newer account-less snapshot replaces only the
    issuer's account-less lines of that period, never account acct-1's."""
    day2, day3 = _snapshots()[1:]
    no_account = [{**row, "BillingAccountId": None, "BillingAccountName": None} for row in day2]
    revised = [{**row, "BillingAccountId": None, "BillingAccountName": None} for row in day3]
    base = datetime(2025, 3, 3).timestamp()
    with_acct = _write(tmp_path, "acct1.csv", day3, base)
    old = _write(tmp_path, "none-day2.csv", no_account, base)
    new = _write(tmp_path, "none-day3.csv", revised, base + 86400)
    ingest_billing(store, [with_acct], bt.CONFIG)
    first = ingest_billing(store, [old], bt.CONFIG)
    assert [(x.account, x.action) for x in first.restatements] == [("", "new")]
    r = ingest_billing(store, [new], bt.CONFIG)
    assert [(x.account, x.action, x.old_lines, x.new_lines) for x in r.restatements] == [
        ("", "replaced", 4, 5)
    ]
    assert "account (none)" in r.restatements[0].describe()
    by_account = {
        row["a"]: (row["n"], round(row["b"], 6))
        for row in store.sql(
            "SELECT BillingAccountId a, count(*) n, sum(BilledCost) b FROM billing GROUP BY 1"
        ).to_pylist()
    }
    n, billed, _ = _truth(with_acct)
    assert by_account == {"acct-1": (n, round(billed, 6)), None: (n, round(billed, 6))}
    again = ingest_billing(store, [new], bt.CONFIG)
    assert (again.new_lines, again.replaced_lines) == (0, 0)
    late = ingest_billing(store, [old], bt.CONFIG)
    assert late.restatements[0].action == "ignored"
    assert store.count("billing") == 2 * n


def test_lines_stored_before_schema_5_are_replaced_not_doubled(
    tmp_path: Path, files: list[Path]
) -> None:
    """Schema 5 keys lines by a new content hash: a store from before keeps the old
    keys, so the migration marks its snapshots as of 1970 and the next delivery of
    a scope replaces its lines instead of adding the same lines under new keys."""
    db = tmp_path / "v3.duckdb"
    with open_store(db) as store:
        ingest_billing(store, [files[2]], bt.CONFIG)
    with duckdb.connect(str(db)) as con:  # as a schema-4 store wrote them
        con.execute("UPDATE billing SET row_hash = 'v3-' || row_hash")
        con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with open_store(db) as store:
        r = ingest_billing(store, [files[2]], bt.CONFIG)
        assert [(x.action, x.old_lines, x.new_lines) for x in r.restatements] == [
            ("replaced", 5, 5)
        ]
        n, billed, eff = _truth(files[2])
        assert _stored(store) == (n, round(billed, 6), round(eff, 6))
