"""Real export shapes: Athena's lower-case and Snowflake's upper-case headers, BigQuery's
FOCUS view (Tags as an array of key/value structs), and messages that say what differs."""

from __future__ import annotations

import json
from pathlib import Path

import billing_truth as bt
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FOCUS_SAMPLE

from costper.billing._focus import read_focus
from costper.billing._ingest import ingest_billing
from costper.config import Config
from costper.errors import InputError
from costper.store._store import Store


def _recased(tmp_path: Path, name: str, case: str) -> Path:
    text = FOCUS_SAMPLE.read_text()
    header, rest = text.split("\n", 1)
    p = tmp_path / name
    p.write_text((header.lower() if case == "lower" else header.upper()) + "\n" + rest)
    return p


@pytest.mark.parametrize("case", ["lower", "upper"])
def test_athena_and_snowflake_headers_read_as_focus(
    store: Store, tmp_path: Path, case: str
) -> None:
    p = _recased(tmp_path, f"{case}.csv", case)
    r = ingest_billing(store, [p], Config())
    assert (r.lines, r.versions) == (1000, ("1.0",))
    assert any("column name(s) read in FOCUS's case" in w for w in r.warnings)
    got = store.sql("SELECT sum(BilledCost) b, sum(EffectiveCost) e FROM billing").to_pylist()[0]
    want = duckdb.sql(
        "SELECT sum(CAST(BilledCost AS DOUBLE)), sum(CAST(EffectiveCost AS DOUBLE)) "
        f"FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true, nullstr='NULL')"
    ).fetchone()
    assert (got["b"], got["e"]) == pytest.approx(want)


def test_bigquery_view_tags_as_key_value_structs(store: Store, tmp_path: Path) -> None:
    rows = bt.bill_rows()
    t = pa.Table.from_pylist(
        [{k: (None if v is None else str(v)) for k, v in r.items()} for r in rows]
    )
    kv = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
    tags = [
        None
        if r["Tags"] is None
        else [{"key": k, "value": v} for k, v in json.loads(str(r["Tags"])).items()]
        for r in rows
    ]
    t = t.set_column(t.column_names.index("Tags"), "Tags", pa.array(tags, kv))
    p = tmp_path / "bq.parquet"
    pq.write_table(t, p)
    f = read_focus(p)
    tagged = [x for x in f.columns.column("Tags").to_pylist() if x]
    assert [json.loads(x) for x in tagged] == [{"team": "ml", "utilisation": "0.40"}]
    r = ingest_billing(store, [p], bt.CONFIG)
    assert r.lines == len(rows)


def test_a_focus_05_file_is_called_05(tmp_path: Path) -> None:
    p = tmp_path / "old.csv"
    p.write_text(
        "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
        "ChargeType,ChargePeriodStart,ChargePeriodEnd,InvoiceIssuer,Provider,Publisher,"
        "ServiceName,UsageQuantity,UsageUnit\n"
        "1.0,a,USD,2024-01-01,2024-02-01,Usage,2024-01-01,2024-01-02,AWS,AWS,AWS,EC2,1,Hours\n"
    )
    with pytest.raises(InputError) as e:
        read_focus(p)
    assert "a FOCUS 0.5 export (columns ChargeType, InvoiceIssuer, Provider" in str(e.value)
    assert "1.2" not in str(e.value)


def test_a_missing_column_says_which_column_decided_the_version(tmp_path: Path) -> None:
    old = bt.COLUMNS[:]
    bt.COLUMNS.remove("EffectiveCost")
    try:
        text = bt.bill_csv()
    finally:
        bt.COLUMNS[:] = old
    p = tmp_path / "b.csv"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        read_focus(p)
    assert "FOCUS 1.2 export without mandatory column(s) EffectiveCost" in str(e.value)
    assert "(read as FOCUS 1.2 for its column InvoiceId)" in str(e.value)
