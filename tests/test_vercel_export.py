"""Vercel's FOCUS export: JSON lines with a subset of FOCUS 1.3, read as they come.

The file has exactly the fields Vercel documents for `GET /v1/billing/charges`
(vercel.com/docs/rest-api/billing/list-focus-billing-charges; the same field
list is in the TypeScript types of Vercel's CLI, "copied from
@api/billing-types"): BilledCost, BillingCurrency, ChargeCategory,
ChargePeriodStart/End, ConsumedQuantity/Unit, EffectiveCost, RegionId/Name,
ServiceName, ServiceCategory, ServiceProviderName, Tags {ProjectId,
ProjectName}, PricingCategory/Currency/Quantity/Unit, one object per line, a
day per charge. No field names a model, so an AI Gateway line identifies its
provider (Vercel) but no model: without config it stays unattributed, and a
`[[billing.models]]` rule on its ServiceName puts it on the calls. Expected
shares are by hand: the pool's EffectiveCost over its calls pro rata to their
estimates.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from costper.billing._focus import read_focus
from costper.billing._ingest import ingest_billing
from costper.config import BillingRule, Config
from costper.errors import InputError
from costper.store._store import Store, open_store


def _charge(service: str, category: str, day: str, cost: float, unit: str, qty: float) -> dict:
    return {
        "BilledCost": cost,
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ChargePeriodStart": f"2025-03-0{day}T00:00:00.000Z",
        "ChargePeriodEnd": f"2025-03-0{int(day) + 1}T00:00:00.000Z",
        "ConsumedQuantity": qty,
        "ConsumedUnit": unit,
        "EffectiveCost": cost,
        "RegionId": "iad1",
        "RegionName": "Washington, D.C., USA",
        "ServiceName": service,
        "ServiceCategory": category,
        "ServiceProviderName": "Vercel",
        "Tags": {"ProjectId": "prj_8dK2", "ProjectName": "support-chat"},
        "PricingCategory": "Standard",
        "PricingCurrency": "USD",
        "PricingQuantity": qty,
        "PricingUnit": unit,
    }


CHARGES = [
    _charge("AI Gateway", "AI and Machine Learning", "1", 0.90, "USD", 0.90),
    _charge("AI Gateway", "AI and Machine Learning", "2", 0.30, "USD", 0.30),
    _charge("Fluid Active CPU", "Compute", "1", 0.12, "Hours", 0.8),
]


def _calls() -> pa.Table:
    rows = []
    for cid, day, est in (("v1", 1, 0.20), ("v2", 1, 0.40), ("v3", 2, 0.10)):
        rows.append(
            {
                "trace_id": f"t-{cid}", "span_id": f"s-{cid}", "session_id": f"s-{cid}",
                "turn_id": f"t-{cid}", "feature": "support-chat", "provider": "vercel",
                "model": "openai/gpt-4o-mini", "operation": "chat",
                "start_time": datetime(2025, 3, day, 12), "input_tokens": 1000,
                "output_tokens": 100, "failed": False, "estimated_cost": est,
                "estimate_source": "catalog", "cost": est, "cost_source": "catalog",
                "infra_cost": 0.0,
            }
        )  # fmt: skip
    return pa.Table.from_pylist(rows)


def _jsonl(tmp_path: Path, name: str = "vercel.jsonl", gz: bool = False) -> Path:
    text = "".join(json.dumps(c) + "\n" for c in CHARGES).encode()
    p = tmp_path / name
    p.write_bytes(gzip.compress(text) if gz else text)
    return p


def _costs(store: Store) -> dict[str, float]:
    rows = store.sql("SELECT span_id, cost FROM calls ORDER BY 1").to_pylist()
    return {r["span_id"][2:]: round(r["cost"], 6) for r in rows}


def test_read_with_the_missing_mandatory_columns_derived(tmp_path: Path) -> None:
    f = read_focus(_jsonl(tmp_path))
    assert (f.version, f.csv, f.columns.num_rows) == ("1.3", False, 3)
    row = f.columns.to_pylist()[0]
    assert row["BillingPeriodStart"] == datetime(2025, 3, 1)
    assert row["BillingPeriodEnd"] == datetime(2025, 4, 1)
    assert row["InvoiceIssuerName"] == "Vercel" and row["BillingAccountId"] is None
    assert row["EffectiveCost"] == 0.90 and row["ChargePeriodStart"] == datetime(2025, 3, 1)
    assert json.loads(row["Tags"]) == {"ProjectId": "prj_8dK2", "ProjectName": "support-chat"}
    assert any("Vercel's FOCUS JSON lines" in w and "BillingAccountId" in w for w in f.warnings)


def test_ai_gateway_lines_onto_calls_by_rule_to_the_cent(tmp_path: Path, store: Store) -> None:
    store.insert("calls", _calls())
    r = ingest_billing(store, [_jsonl(tmp_path, "v.jsonl.gz", gz=True)], Config())
    assert (r.lines, r.new_lines, r.model_lines) == (3, 3, 0)
    lines = store.sql(
        "SELECT ServiceName s, provider p, model m, allocation a FROM billing ORDER BY 1"
    ).to_pylist()
    assert {(x["s"], x["p"], x["m"], x["a"]) for x in lines} == {
        ("AI Gateway", "vercel", None, None),
        ("Fluid Active CPU", "vercel", None, None),
    }
    assert _costs(store) == {"v1": 0.20, "v2": 0.40, "v3": 0.10}  # no model: no bill on calls
    again = ingest_billing(store, [_jsonl(tmp_path)], Config())
    assert (again.new_lines, store.count("billing")) == (0, 3)  # the same charges: not added
    rule = BillingRule(match={"ServiceName": "AI Gateway"}, model="vercel/gpt-4o-mini")
    with open_store(tmp_path / "ruled.duckdb") as ruled:
        ruled.insert("calls", _calls())
        r = ingest_billing(ruled, [_jsonl(tmp_path)], Config(billing_models=(rule,)))
        assert r.model_lines == 2
        # Day 1: 0.90 over v1 (0.20) and v2 (0.40); day 2: 0.30 on v3 alone.
        assert _costs(ruled) == {"v1": 0.30, "v2": 0.60, "v3": 0.30}


def test_a_bad_value_is_named_by_row(tmp_path: Path) -> None:
    bad = [dict(c) for c in CHARGES]
    bad[1]["EffectiveCost"] = "n/a"
    p = tmp_path / "bad.jsonl"
    p.write_text("".join(json.dumps(c) + "\n" for c in bad))
    with pytest.raises(InputError, match=r"row 2, column EffectiveCost: expected a decimal"):
        read_focus(p)
