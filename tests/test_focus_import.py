"""FOCUS import: the real public sample, versions 1.0-1.3, CSV/gzip/Parquet, and bad rows."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime
from pathlib import Path

import billing_truth as bt
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import FOCUS_SAMPLE

from costper.billing._columns import detect_version
from costper.billing._focus import read_focus
from costper.billing._ingest import ingest_billing
from costper.cli import main
from costper.config import Config
from costper.errors import InputError
from costper.store._store import Store


def _sample_totals_by_hand() -> dict[tuple[str, str], tuple[int, float, float, float]]:
    con = duckdb.connect()
    rows = con.execute(
        """
        SELECT ProviderName, ServiceName, count(*),
               sum(CAST(BilledCost AS DECIMAL(38, 11))),
               sum(CAST(EffectiveCost AS DECIMAL(38, 11))),
               sum(CAST(ListCost AS DECIMAL(38, 11)))
        FROM read_csv(?, all_varchar = true, nullstr = 'NULL')
        GROUP BY ALL
        """,
        [str(FOCUS_SAMPLE)],
    ).fetchall()
    return {(p, s): (n, float(b), float(e), float(lc)) for p, s, n, b, e, lc in rows}


def test_real_sample_ingests_and_totals_match_a_hand_written_query(store: Store) -> None:
    r = ingest_billing(store, [FOCUS_SAMPLE], Config())
    assert (r.files, r.lines, r.new_lines, r.versions) == (1, 1000, 1000, ("1.0",))
    assert r.model_lines == 0 and r.infra_lines == 0  # no LLM rows in this sample
    assert any("column Id is not a FOCUS 1.0 column" in w for w in r.warnings)
    got = {
        (row["p"], row["s"]): (row["n"], row["b"], row["e"], row["l"])
        for row in store.sql(
            "SELECT ServiceProviderName p, ServiceName s, count(*) n, sum(BilledCost) b, "
            "sum(EffectiveCost) e, sum(ListCost) l FROM billing GROUP BY ALL"
        ).to_pylist()
    }
    want = _sample_totals_by_hand()
    assert set(got) == set(want)
    assert len(want) > 20
    for key, (n, b, e, lc) in want.items():
        gn, gb, ge, gl = got[key]
        assert gn == n, key
        assert gb == pytest.approx(b, abs=1e-9), key
        assert ge == pytest.approx(e, abs=1e-9), key
        assert gl == pytest.approx(lc, abs=1e-9), key
    # The credit and the adjustments are kept as FOCUS wrote them.
    cats = dict(
        (row["c"], row["n"])
        for row in store.sql(
            "SELECT ChargeCategory c, count(*) n FROM billing GROUP BY 1"
        ).to_pylist()
    )
    assert cats == {"Usage": 997, "Credit": 1, "Adjustment": 2}
    one = store.sql(
        "SELECT ChargePeriodStart, Tags, raw FROM billing WHERE row_number = 2"
    ).to_pylist()[0]
    assert one["ChargePeriodStart"] == datetime(2024, 9, 30, 22, 0)
    assert json.loads(one["Tags"])["application"] == "BrightLensMatrix"
    assert json.loads(one["raw"])["Id"] == "19384"


def test_the_same_bill_twice_changes_nothing(store: Store, tmp_path: Path) -> None:
    ingest_billing(store, [FOCUS_SAMPLE], Config())
    v = store.version()
    before = store.sql("SELECT sum(EffectiveCost) e, count(*) n FROM billing").to_pylist()
    gz = tmp_path / "sample.csv.gz"
    with open(FOCUS_SAMPLE, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    r = ingest_billing(store, [FOCUS_SAMPLE, gz], Config())
    assert (r.lines, r.new_lines) == (2000, 0)
    assert store.sql("SELECT sum(EffectiveCost) e, count(*) n FROM billing").to_pylist() == before
    assert store.version() >= v


def test_parquet_with_typed_columns_is_the_same_bill(store: Store, tmp_path: Path) -> None:
    t = pacsv.read_csv(
        FOCUS_SAMPLE,
        convert_options=pacsv.ConvertOptions(null_values=["NULL"], strings_can_be_null=True),
    )
    i = t.column_names.index("ChargePeriodStart")
    t = t.set_column(i, "ChargePeriodStart", t.column(i).cast(pa.timestamp("ms", tz="UTC")))
    p = tmp_path / "sample.parquet"
    pq.write_table(t, p)
    f = read_focus(p)
    assert f.version == "1.0" and not f.csv
    assert f.columns.column("ChargePeriodStart").type == pa.timestamp("us")
    ingest_billing(store, [FOCUS_SAMPLE], Config())
    r = ingest_billing(store, [p], Config())
    assert (r.lines, r.new_lines) == (1000, 0)  # same content whatever the format


@pytest.mark.parametrize(
    ("columns", "version"),
    [
        ({"ProviderName", "BilledCost"}, "1.0"),
        ({"ProviderName", "SkuMeter"}, "1.1"),
        ({"ProviderName", "SkuPriceDetails", "InvoiceId"}, "1.2"),
        ({"ServiceProviderName", "HostProviderName", "InvoiceId"}, "1.3"),
    ],
)
def test_version_from_columns(columns: set[str], version: str) -> None:
    assert detect_version(columns) == version


def _write(tmp_path: Path, rows: list[dict[str, object]], name: str = "bill.csv") -> Path:
    p = tmp_path / name
    p.write_text(bt.bill_csv(rows))
    return p


def test_focus_13_with_renamed_provider_columns(store: Store, tmp_path: Path) -> None:
    rows = []
    for r in bt.bill_rows():
        r = dict(r)
        r["ServiceProviderName"] = r.pop("ProviderName")
        r["HostProviderName"] = r.pop("PublisherName")
        rows.append(r)
    cols = [c for c in bt.COLUMNS if c not in ("ProviderName", "PublisherName")]
    cols += ["ServiceProviderName", "HostProviderName"]
    buf = [",".join(cols)]
    for r in rows:
        buf.append(",".join(_cell(r[c]) for c in cols))
    p = tmp_path / "bill13.csv"
    p.write_text("\n".join(buf) + "\n")
    f = read_focus(p)
    assert f.version == "1.3"
    r = ingest_billing(store, [p], bt.CONFIG)
    assert (r.model_lines, r.infra_lines) == (9, 2)
    providers = store.sql(
        "SELECT DISTINCT ServiceProviderName p FROM billing ORDER BY 1"
    ).to_pylist()
    assert [x["p"] for x in providers] == ["AWS", "OpenAI"]


def _cell(v: object) -> str:
    if v is None:
        return "NULL"
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n') else s


def test_dates_with_t_z_offsets_and_long_fractions(tmp_path: Path) -> None:
    rows = bt.bill_rows()[:4]
    rows[0]["ChargePeriodStart"] = "2025-03-01T00:00:00Z"
    rows[1]["ChargePeriodStart"] = "2025-03-01T02:00:00+02:00"
    rows[2]["ChargePeriodStart"] = "2025-03-02T00:00:00.0000000Z"
    rows[3]["ChargePeriodStart"] = " 2025-03-02 "
    f = read_focus(_write(tmp_path, rows))
    got = f.columns.column("ChargePeriodStart").to_pylist()
    assert got == [
        datetime(2025, 3, 1),
        datetime(2025, 3, 1),
        datetime(2025, 3, 2),
        datetime(2025, 3, 2),
    ]


@pytest.mark.parametrize(
    ("column", "value", "expect"),
    [
        (
            "BilledCost",
            "12,5",
            "row 3 (line 4), column BilledCost: expected a decimal number, got '12,5'",
        ),
        (
            "EffectiveCost",
            "NULL",
            "row 3 (line 4), column EffectiveCost: must not be null, got None",
        ),
        (
            "ChargePeriodStart",
            "2025-13-01",
            "row 3 (line 4), column ChargePeriodStart: expected an ISO",
        ),
        ("ChargeCategory", "Refund", "row 3 (line 4), column ChargeCategory: expected one of"),
        ("ChargeClass", "Fix", "row 3 (line 4), column ChargeClass: expected null or Correction"),
        (
            "Tags",
            "{not json",
            "row 3 (line 4), column Tags: expected a JSON object, got '{not json'",
        ),
        (
            "ChargePeriodEnd",
            "2025-02-01 00:00:00",
            "column ChargePeriodEnd: is before ChargePeriodStart",
        ),
        (
            "ConsumedQuantity",
            "inf",
            "row 3 (line 4), column ConsumedQuantity: expected a decimal number",
        ),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(
    store: Store, tmp_path: Path, column: str, value: str, expect: str
) -> None:
    rows = bt.bill_rows()
    rows[2][column] = value
    good = _write(tmp_path, bt.bill_rows()[:2], "good.csv")
    bad = _write(tmp_path, rows)
    with pytest.raises(InputError) as e:
        ingest_billing(store, [good, bad], bt.CONFIG)
    msg = str(e.value)
    assert msg.startswith(str(bad)) and expect in msg
    assert e.value.field == column
    assert store.count("billing") == 0


def test_structural_flaws(tmp_path: Path) -> None:
    text = bt.bill_csv()
    header, *lines = text.splitlines()
    missing = tmp_path / "missing.csv"
    missing.write_text(header.replace("EffectiveCost,", "") + "\n")
    with pytest.raises(InputError, match="without mandatory column.*EffectiveCost"):
        read_focus(missing)
    short = tmp_path / "short.csv"
    short.write_text("\n".join([header, lines[0], lines[1].rsplit(",", 2)[0]]) + "\n")
    with pytest.raises(
        InputError, match=r"short.csv: line 3: expected 33 fields as in the header, got 31"
    ):
        read_focus(short)
    twice = tmp_path / "twice.csv"
    twice.write_text(header + ",BilledCost\n")
    with pytest.raises(InputError, match="column BilledCost: appears twice"):
        read_focus(twice)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="no header"):
        read_focus(empty)


def test_cli_exit_codes_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    rows = bt.bill_rows()
    rows[4]["BilledCost"] = "abc"
    bad = _write(tmp_path, rows)
    assert main(["ingest", "billing", str(bad), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"costper: error: {bad}: row 5 (line 6), column BilledCost: "
        "expected a decimal number, got 'abc'"
    )
    assert main(["ingest", "billing", str(FOCUS_SAMPLE), "--db", db]) == 0
    out = capsys.readouterr()
    assert "1000 lines (1000 new, 0 already stored)" in out.out
    assert "column Id is not a FOCUS 1.0 column" in out.err


def test_a_bill_from_stdin_plain_or_gzip_and_errors_name_stdin(tmp_path: Path) -> None:
    """`costper ingest billing -`: DuckDB reads bills from a named file, so stdin is
    copied first; the lines and BilledCost equal a plain DuckDB read of the sample."""
    import subprocess

    con = duckdb.connect()
    lines, billed = con.execute(
        f"SELECT count(*), sum(CAST(BilledCost AS DECIMAL(38, 10))) "
        f"FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true)"
    ).fetchone()
    for i, body in enumerate((FOCUS_SAMPLE.read_bytes(), gzip.compress(FOCUS_SAMPLE.read_bytes()))):
        db = tmp_path / f"s{i}.duckdb"
        done = subprocess.run(
            ["costper", "ingest", "billing", "-", "--db", str(db)],
            input=body, capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert b"/stdin" not in done.stderr and b"<stdin>" in done.stderr  # the Id warning
        got = (
            duckdb.connect(str(db), read_only=True)
            .execute("SELECT count(*), sum(BilledCost) FROM billing")
            .fetchone()
        )
        assert got[0] == lines == 1000
        assert float(got[1]) == pytest.approx(float(billed), abs=1e-9)
    bad = subprocess.run(
        ["costper", "ingest", "billing", "-", "--db", str(tmp_path / "bad.duckdb")],
        input=b"BilledCost\n1\n", capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("costper: error: <stdin>: ")
    assert len(bad.stderr.decode().strip().splitlines()) == 1
