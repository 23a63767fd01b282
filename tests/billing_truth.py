"""A small world with a known bill: telemetry for four models over three days
(March 2025) and a FOCUS 1.2 export for it, written the way real exports are
(NULL strings, dates without T/Z, Tags as JSON, an x_ column).

What the bill holds, and the hand computation the tests check against:

- openai/gpt-4o-mini, negotiated 20% discount (EffectiveCost = 0.8 x ListCost):
  day 1 input 0.80 + output 1.60 = 2.40 over c1 (est 0.50), c2 (est 1.50)
  -> c1 0.60, c2 1.80; day 2 input 1.20 + output 2.00 = 3.20 over c3 (est 1.00,
  1000 tok), c4 (est 3.00, 3000 tok), c5 (unpriced, 2000 tok: weighs as the
  pool's 0.001/token = 2.00) -> c3 0.5333.., c4 1.60, c5 1.0666..; day 3 a
  0.50 line with no telemetry (unattributed).
- a promotional credit of -1.00 for gpt-4o-mini over March, spread on c1..c5 by
  weight (0.5, 1.5, 1, 3, 2 of 8): -0.0625, -0.1875, -0.125, -0.375, -0.25.
  Finals: c1 0.5375, c2 1.6125, c3 0.408333.., c4 1.225, c5 0.816666.. (4.60).
- aws.bedrock/claude-sonnet-4 (found in the meter "Claude Sonnet 4 Input
  Tokens"), covered by a commitment (BilledCost 0): day 1 3.00 + 6.00 = 9.00 over
  c6 (est 2.00), c7 (est 4.00) -> 3.00, 6.00; c8 on day 2 has no line, keeps 1.50.
  The commitment's purchase line (BilledCost 20, EffectiveCost 0) bills no model.
- openai/gpt-4o: a gateway line with x_RequestId req-42 (0.30) goes to c9
  exactly; c10 (day 3, est 0.40) has no line.
- a g5 GPU instance (i-0gpu123, [[infra]] -> self/llama-3-8b), 2.00/h, 48.00 a
  day on days 1 and 2, busy 40% of the time: all of it spread by tokens on
  c11 (1000 tok), c12 (3000 tok) -> 12, 36; c13 (2000 tok) -> 48. Llama
  sessions: s11, s12 succeed, s13 fails: infra per success 96 / 2 = 48.
- tax 2.00 and an S3 line of 5.00: never spread on calls.

Spread and matched: 2.40 + 3.20 - 1.00 + 9.00 + 0.30 + 96 = 109.90 = the sum
of what the calls carry after the join.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from costper.config import Config, Costs, InfraResource
from costper.store._store import Store

D1, D2, D3 = "2025-03-01", "2025-03-02", "2025-03-03"
SONNET = "anthropic.claude-sonnet-4-20250514-v1:0"

# call, session, provider, model, start, input, output, estimate, request_id
CALLS = [
    ("c1", "s1", "openai", "gpt-4o-mini", f"{D1} 10:00:00", 400, 100, 0.50, None),
    ("c2", "s2", "openai", "gpt-4o-mini", f"{D1} 15:30:00", 1200, 300, 1.50, None),
    ("c3", "s3", "openai", "gpt-4o-mini-2024-07-18", f"{D2} 09:00:00", 800, 200, 1.00, None),
    ("c4", "s4", "openai", "gpt-4o-mini", f"{D2} 11:00:00", 2400, 600, 3.00, None),
    ("c5", "s5", "openai", "gpt-4o-mini", f"{D2} 23:59:59.700000", 1600, 400, None, None),
    ("c6", "s6", "aws.bedrock", SONNET, f"{D1} 08:00:00", 900, 100, 2.00, None),
    ("c7", "s7", "aws.bedrock", SONNET, f"{D1} 20:00:00", 1800, 200, 4.00, None),
    ("c8", "s8", "aws.bedrock", SONNET, f"{D2} 08:00:00", 500, 100, 1.50, None),
    ("c9", "s9", "openai", "gpt-4o", f"{D2} 12:00:00", 300, 50, 0.25, "req-42"),
    ("c10", "s10", "openai", "gpt-4o", f"{D3} 12:00:00", 400, 80, 0.40, None),
    ("c11", "s11", "vllm", "meta-llama/Llama-3-8B", f"{D1} 09:00:00", 800, 200, None, None),
    ("c12", "s12", "vllm", "meta-llama/Llama-3-8B", f"{D1} 13:00:00", 2500, 500, None, None),
    ("c13", "s13", "vllm", "meta-llama/Llama-3-8B", f"{D2} 09:00:00", 1500, 500, None, None),
]  # fmt: skip

EXPECTED_COST = {
    "c1": 0.5375, "c2": 1.6125, "c3": 3.2 / 6 - 0.125, "c4": 1.225, "c5": 3.2 / 3 - 0.25,
    "c6": 3.00, "c7": 6.00, "c9": 0.30, "c11": 0.0, "c12": 0.0, "c13": 0.0,
}  # fmt: skip
EXPECTED_INFRA = {"c11": 12.0, "c12": 36.0, "c13": 48.0}
UNBILLED = {"c8": 1.50, "c10": 0.40}

CONFIG = Config(
    costs=Costs(escalation_cost=0.0, review_cost=0.0, per_call_overhead=0.0),
    infra=(InfraResource(resource_id="i-0gpu123", model="self/llama-3-8b"),),
)
NOW = datetime(2025, 4, 10)


def calls_table() -> pa.Table:
    rows = []
    for cid, sid, provider, model, start, tin, tout, est, rid in CALLS:
        rows.append(
            {
                "trace_id": f"t-{cid}",
                "span_id": f"s-{cid}",
                "session_id": sid,
                "turn_id": f"t-{cid}",
                "request_id": rid,
                "feature": "llama-helper" if provider == "vllm" else "support-chat",
                "provider": provider,
                "model": model,
                "prompt_version": "v1",
                "operation": "chat",
                "service_name": "app",
                "start_time": datetime.fromisoformat(start),
                "duration_ms": 500.0,
                "input_tokens": tin,
                "output_tokens": tout,
                "cache_read_tokens": 0,
                "failed": False,
                "estimated_cost": est,
                "estimate_source": "catalog" if est is not None else "unpriced",
                "cost": est,
                "cost_source": "catalog" if est is not None else "unpriced",
                "infra_cost": 0.0,
            }
        )
    return pa.Table.from_pylist(rows)


def outcomes_table() -> pa.Table:
    rows = [
        {"record_id": f"o-{s}", "session_id": s, "at": datetime(2025, 3, 5), "success": ok,
         "escalated": False, "reviewed": False, "signal": "test", "source": "explicit"}
        for s, ok in (("s11", True), ("s12", True), ("s13", False))
    ]  # fmt: skip
    return pa.Table.from_pylist(rows)


COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountStatus", "ConsumedQuantity",
    "ConsumedUnit", "ContractedCost", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ResourceId", "ResourceName",
    "ServiceCategory", "ServiceName", "SkuId", "SkuMeter", "SkuPriceDetails", "Tags", "x_RequestId",
]  # fmt: skip


def _line(day: str, days: object = 1, **kw: object) -> dict[str, object]:
    start = f"{day} 00:00:00"
    end_day = int(day[-2:]) + int(days)  # type: ignore[call-overload]
    end = "2025-04-01 00:00:00" if end_day > 31 else f"{day[:-2]}{end_day:02d} 00:00:00"
    row: dict[str, object] = {c: None for c in COLUMNS}
    row.update(
        BillingAccountId="acct-1", BillingAccountName="Acme", BillingCurrency="USD",
        BillingPeriodStart="2025-03-01 00:00:00", BillingPeriodEnd="2025-04-01 00:00:00",
        ChargeCategory="Usage", ChargeFrequency="Usage-Based", ChargePeriodStart=start,
        ChargePeriodEnd=end, InvoiceId="inv-2025-03", PricingUnit="1000000 Tokens",
        ServiceCategory="AI and Machine Learning",
    )  # fmt: skip
    row.update(kw)
    cost = row["EffectiveCost"]
    for k in ("BilledCost", "ListCost"):
        row[k] = cost if row[k] is None else row[k]
    row["ContractedCost"] = (
        row["BilledCost"] if row["ContractedCost"] is None else row["ContractedCost"]
    )
    row["PricingQuantity"] = 1 if row["PricingQuantity"] is None else row["PricingQuantity"]
    return row


def _openai(
    day: str, kind: str, eff: float, model: str = "gpt-4o-mini-2024-07-18", **kw: object
) -> dict[str, object]:
    details = json.dumps({"ModelId": model, "TokenDirection": kind})
    fields: dict[str, object] = dict(
        ProviderName="OpenAI", PublisherName="OpenAI", InvoiceIssuerName="OpenAI",
        ServiceName="OpenAI API", SkuId=f"{model}-{kind.lower()}", SkuMeter=f"{kind} Tokens",
        ChargeDescription=f"{kind} tokens", SkuPriceDetails=details, ConsumedUnit="Tokens",
        EffectiveCost=eff, BilledCost=eff, ListCost=round(eff / 0.8, 10),
    )  # fmt: skip
    fields.update(kw)
    return _line(day, **fields)


def _bedrock(day: str, kind: str, eff: float) -> dict[str, object]:
    return _line(
        day, ProviderName="AWS", PublisherName="Anthropic", InvoiceIssuerName="Amazon Web Services",
        ServiceName="Amazon Bedrock", SkuId=f"BEDROCK-CS4-{kind.upper()}",
        SkuMeter=f"Claude Sonnet 4 {kind} Tokens",
        ChargeDescription=f"Claude Sonnet 4 {kind} tokens",
        ConsumedUnit="Tokens", EffectiveCost=eff, BilledCost=0.0, ListCost=eff,
        CommitmentDiscountStatus="Used",
    )  # fmt: skip


def _aws(day: str, eff: float, **kw: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        ProviderName="AWS", PublisherName="Amazon Web Services",
        InvoiceIssuerName="Amazon Web Services", EffectiveCost=eff,
    )  # fmt: skip
    fields.update(kw)
    return _line(day, **fields)


GPU = "arn:aws:ec2:us-east-1:123456789012:instance/i-0gpu123"


def bill_rows() -> list[dict[str, object]]:
    return [
        _openai(D1, "Input", 0.80),
        _openai(D1, "Output", 1.60),
        _openai(D2, "Input", 1.20),
        _openai(D2, "Output", 2.00),
        _openai(D3, "Input", 0.50),
        _openai(
            D1,
            "Input",
            -1.00,
            days=31,
            ChargeCategory="Credit",
            ChargeDescription="Promotional credit",
            ListCost=0.0,
        ),
        _openai(
            D2, "Input", 0.30, model="gpt-4o", x_RequestId="req-42", ChargeFrequency="Usage-Based"
        ),
        _bedrock(D1, "Input", 3.00),
        _bedrock(D1, "Output", 6.00),
        _aws(
            D1,
            0.0,
            days=31,
            ChargeCategory="Purchase",
            BilledCost=20.0,
            ChargeFrequency="One-Time",
            ServiceName="Amazon Bedrock",
            ChargeDescription="Provisioned throughput commitment",
        ),
        _aws(
            D1,
            48.0,
            ServiceName="Amazon Elastic Compute Cloud",
            ServiceCategory="Compute",
            ResourceId=GPU,
            ResourceName="gpu-llama",
            ChargeDescription="g5.xlarge On Demand Linux",
            ConsumedQuantity=24,
            ConsumedUnit="Hours",
            PricingUnit="Hours",
            Tags=json.dumps({"team": "ml", "utilisation": "0.40"}),
        ),
        _aws(
            D2,
            48.0,
            ServiceName="Amazon Elastic Compute Cloud",
            ServiceCategory="Compute",
            ResourceId=GPU,
            ResourceName="gpu-llama",
            ChargeDescription="g5.xlarge On Demand Linux",
            ConsumedQuantity=24,
            ConsumedUnit="Hours",
            PricingUnit="Hours",
        ),
        _aws(
            D1,
            2.0,
            days=31,
            ChargeCategory="Tax",
            ServiceName="Tax",
            ServiceCategory="Other",
            ChargeDescription="Sales tax",
        ),
        _aws(
            D1,
            5.0,
            days=31,
            ServiceName="Amazon Simple Storage Service",
            ServiceCategory="Storage",
            ChargeDescription="S3 storage",
            ResourceId="arn:aws:s3:::acme-bucket",
        ),
    ]


def bill_csv(rows: list[dict[str, object]] | None = None) -> str:
    """The export as text: NULL for nulls, dates as YYYY-MM-DD HH:MM:SS, like real ones."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(COLUMNS)
    for r in rows if rows is not None else bill_rows():
        w.writerow(["NULL" if r[c] is None else r[c] for c in COLUMNS])
    return out.getvalue()


def with_bill(store: Store, tmp_path: Path) -> Store:
    """The world's calls and outcomes stored, and its bill ingested (the cost join run)."""
    from costper.billing._ingest import ingest_billing

    store.insert_many({"calls": calls_table(), "outcomes": outcomes_table()})
    bill = tmp_path / "bill.csv"
    bill.write_text(bill_csv())
    ingest_billing(store, [bill], CONFIG)
    return store
