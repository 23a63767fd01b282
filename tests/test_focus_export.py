"""FOCUS 1.3 export: hand-checked rows, and a round trip through costper's own FOCUS checks."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import billing_truth as bt
import pytest

from costper.billing._columns import MANDATORY
from costper.billing._export import export_focus, focus_table
from costper.billing._focus import read_focus
from costper.billing._ingest import ingest_billing
from costper.cli import main
from costper.config import Config
from costper.store._store import Store, open_store


@pytest.fixture
def joined(store: Store, tmp_path: Path) -> Store:
    return bt.with_bill(store, tmp_path)


def _rows(store: Store, **kw: object) -> dict[tuple[str, str, str], dict[str, object]]:
    t = focus_table(store, bt.CONFIG, now=bt.NOW, **kw)  # type: ignore[arg-type]
    out = {}
    for r in t.to_pylist():
        r = {k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()}
        out[(r["ServiceProviderName"], r["x_ModelVersion"], r["ChargePeriodStart"][:10])] = r
    return out


def test_daily_rows_carry_billed_cost_and_ai_dimensions(joined: Store) -> None:
    rows = _rows(joined)
    assert len(rows) == 9
    mini = rows[("openai", "gpt-4o-mini", "2025-03-02")]
    assert mini["x_Cost"] == pytest.approx(1.225 + 3.2 / 3 - 0.25)
    assert (
        mini["x_AllocatedCost"] == mini["x_Cost"] and mini["x_EstimatedCost"] == 3.0
    )  # c4; c5 is unpriced
    assert mini["BilledCost"] == mini["EffectiveCost"] == 0.0  # the provider's bill has it
    assert mini["AllocatedMethodId"] == "costper-pro-rata-estimate"
    assert (mini["AllocatedResourceName"], mini["InvoiceIssuerName"]) == ("support-chat", "costper")
    assert (mini["x_SessionCount"], mini["x_SuccessCount"], mini["x_Calls"]) == (2, 2, 2)
    assert (mini["x_FeatureTag"], mini["x_PromptVersion"], mini["x_CostSource"]) == (
        "support-chat",
        "v1",
        "billed",
    )
    assert mini["x_UnpricedCalls"] == 0  # c5 is priced by the bill now
    assert mini["ConsumedQuantity"] == 3000 + 2000 and mini["ConsumedUnit"] == "Tokens"
    assert mini["ChargePeriodEnd"] == "2025-03-03T00:00:00Z"
    assert mini["BillingPeriodStart"] == "2025-03-01T00:00:00Z"
    assert mini["BillingPeriodEnd"] == "2025-04-01T00:00:00Z"
    llama = rows[("vllm", "meta-llama/Llama-3-8B", "2025-03-01")]
    assert llama["x_Cost"] == pytest.approx(48.0) and llama["x_InfraCost"] == pytest.approx(48.0)
    assert (llama["x_SessionCount"], llama["x_SuccessCount"]) == (2, 2)
    assert rows[("vllm", "meta-llama/Llama-3-8B", "2025-03-02")]["x_SuccessCount"] == 0
    sonnet = rows[("aws.bedrock", bt.SONNET, "2025-03-02")]
    assert sonnet["x_Cost"] == pytest.approx(1.50) and sonnet["x_CostSource"] == "catalog"
    assert sonnet["x_AllocatedCost"] == 0.0 and sonnet["AllocatedMethodId"] is None
    assert '"x_ModelId": "claude-sonnet-4"' in sonnet["SkuPriceDetails"]
    assert sum(r["x_Cost"] for r in rows.values()) == pytest.approx(4.60 + 10.50 + 0.70 + 96.0)


def test_unpriced_calls_are_counted_not_zeroed(store: Store) -> None:
    store.insert("calls", bt.calls_table())
    rows = _rows(store)
    mini = rows[("openai", "gpt-4o-mini", "2025-03-02")]
    assert mini["x_UnpricedCalls"] == 1 and mini["x_CostSource"] == "mixed"
    assert mini["x_Cost"] == pytest.approx(3.00)
    llama = rows[("vllm", "meta-llama/Llama-3-8B", "2025-03-01")]
    assert llama["x_UnpricedCalls"] == 2 and llama["x_Cost"] == 0.0


@pytest.mark.parametrize("name", ["usage.csv", "usage.csv.gz", "usage.parquet"])
def test_round_trip_through_our_own_focus_checks(joined: Store, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    n = export_focus(
        joined, bt.CONFIG, out, fmt="parquet" if name.endswith(".parquet") else "csv", now=bt.NOW
    )
    assert n == 9
    f = read_focus(out)
    assert f.version == "1.3" and f.warnings == []
    assert set(MANDATORY["1.3"]) <= set(f.columns.column_names)
    with open_store(tmp_path / "other.duckdb") as other:
        r = ingest_billing(other, [out], Config())
        assert (r.lines, r.new_lines, r.model_lines) == (9, 9, 9)
        got = other.sql(
            "SELECT provider, model, sum(EffectiveCost) e FROM billing GROUP BY ALL ORDER BY ALL"
        ).to_pylist()
    assert [(g["provider"], g["model"]) for g in got] == [
        ("aws.bedrock", "claude-sonnet-4"),
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("vllm", "llama-3-8b"),
    ]
    # Read back as a bill it adds nothing: the money is the providers' invoices'.
    assert [g["e"] for g in got] == pytest.approx([0.0, 0.0, 0.0, 0.0])


def test_per_call_rows_and_the_cli(
    joined: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = focus_table(joined, bt.CONFIG, per_call=True, now=bt.NOW)
    assert t.num_rows == 13
    by_span = {r["x_SpanId"]: r for r in t.to_pylist()}
    assert float(by_span["s-c1"]["x_Cost"]) == pytest.approx(0.5375)
    assert (
        by_span["s-c13"]["x_InfraCost"] == pytest.approx(48.0)
        and by_span["s-c13"]["x_SuccessCount"] == 0
    )
    db = joined.path
    joined.close()
    assert main(["export", "focus", "--db", db]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 9 and {"x_FeatureTag", "x_SessionCount", "x_SuccessCount"} <= set(rows[0])
    out = tmp_path / "calls.parquet"
    assert main(["export", "focus", "--db", db, "--per-call", "--out", str(out)]) == 0
    assert "13 FOCUS 1.3 row(s) written" in capsys.readouterr().err
    assert read_focus(out).num_rows == 13
    assert main(["export", "focus", "--db", db, "--format", "xlsx"]) == 2
    assert "--format: expected csv or parquet, got 'xlsx'" in capsys.readouterr().err
