"""AI lines of every major source, identified without config, their money on the right calls.

Each line is shaped as its source writes it: Azure's Cost Management FOCUS
export (meter names such as "gpt-4o 1120 Inp glbl Tokens"), AWS's FOCUS
export (`x_UsageType` such as "USE1-Claude3.5Sonnet-input-tokens", Marketplace
services "Claude 3 Haiku (Amazon Bedrock Edition)"), Google's FOCUS view
(SKU descriptions "Gemini 2.0 Flash Text Input - Predictions", Claude as a
partner service), OpenAI's and Anthropic's cost reports converted to FOCUS
(line items "gpt-4o-mini-2024-07-18, input", "evals | gpt-4o-mini"), and
LiteLLM's FOCUS export (ProviderName = custom_llm_provider, model in Tags).
Telemetry names models and providers its own way (`gemini-2.0-flash-001`,
`us.anthropic.claude-3-5-sonnet-20241022-v2:0`, `azure.ai.openai`). The
expected shares are computed by hand in the comments: a pool's cost over its
calls pro rata to their estimates.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from costper.billing._ingest import ingest_billing
from costper.billing._reconcile import reconcile
from costper.config import Config
from costper.store._store import Store

D1, D2 = "2025-03-01", "2025-03-02"

# call, provider, model (as telemetry says it), day, estimate, operation
CALLS = [
    ("az1", "azure.ai.openai", "gpt-4o-2024-11-20", D1, 0.30, "chat"),
    ("az2", "azure.ai.openai", "gpt-4o-2024-11-20", D1, 0.10, "chat"),
    ("br1", "aws.bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", D1, 1.00, "chat"),
    ("br2", "aws.bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", D1, 4.00, "chat"),
    ("bh1", "aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", D1, 0.40, "chat"),
    ("nl1", "aws.bedrock", "amazon.nova-lite-v1:0", D1, 0.25, "chat"),
    ("ll1", "aws.bedrock", "us.meta.llama4-maverick-17b-instruct-v1:0", D1, 0.10, "chat"),
    ("ml1", "aws.bedrock", "mistral.mistral-large-2402-v1:0", D1, 0.70, "chat"),
    ("cr1", "aws.bedrock", "cohere.command-r-plus-v1:0", D1, 0.30, "chat"),
    ("g1", "gcp.vertex_ai", "gemini-2.0-flash-001", D1, 0.10, "generate_content"),
    ("g2", "gcp.vertex_ai", "gemini-2.0-flash-001", D1, 0.20, "generate_content"),
    ("vc1", "gcp.vertex_ai", "claude-3-5-sonnet-v2@20241022", D1, 1.20, "chat"),
    ("oa1", "openai", "gpt-4o-mini-2024-07-18", D1, 0.20, "chat"),
    ("oa2", "openai", "gpt-4o-mini-2024-07-18", D1, 0.40, "chat"),
    ("an1", "anthropic", "claude-sonnet-4-20250514", D1, 1.00, "chat"),
    ("lt1", "azure.ai.openai", "gpt-4o", D2, 0.01, "chat"),
    ("lt2", "azure.ai.openai", "gpt-4o", D2, 0.03, "chat"),
]  # fmt: skip

EXPECTED = {
    # Azure: 0.30 input + 0.06 cached input + 0.24 output = 0.60 over 0.30 : 0.10.
    "az1": 0.45, "az2": 0.15,
    # Bedrock Claude 3.5 Sonnet: 0.90 + 1.50 + 0.10 cache read = 2.50 over 1 : 4.
    "br1": 0.50, "br2": 2.00,
    # Marketplace Claude 3 Haiku 0.12 + 0.36; Nova Lite 0.06 + 0.24; Llama 4 0.20;
    # Mistral Large 0.80; Command R+ 0.33: one call each.
    "bh1": 0.48, "nl1": 0.30, "ll1": 0.20, "ml1": 0.80, "cr1": 0.33,
    # Vertex Gemini 2.0 Flash: 0.075 + 0.30 = 0.375 over 0.10 : 0.20.
    "g1": 0.125, "g2": 0.25,
    # Claude on Vertex: 0.90 + 0.60.
    "vc1": 1.50,
    # OpenAI: 0.15 input + 0.60 output over 0.20 : 0.40; the evals line is not theirs.
    "oa1": 0.25, "oa2": 0.50,
    # Anthropic: 0.30 uncached input + 1.50 output + 0.03 cache read; batch line not theirs.
    "an1": 1.83,
    # LiteLLM (day 2): 0.012 + 0.008 over 0.01 : 0.03.
    "lt1": 0.005, "lt2": 0.015,
}  # fmt: skip


def _calls() -> pa.Table:
    rows = []
    for cid, provider, model, day, est, op in CALLS:
        rows.append(
            {
                "trace_id": f"t-{cid}", "span_id": f"s-{cid}", "session_id": f"s-{cid}",
                "turn_id": f"t-{cid}", "feature": "assistant", "provider": provider,
                "model": model, "operation": op, "start_time": datetime.fromisoformat(f"{day} 12:00"),
                "input_tokens": 1000, "output_tokens": 100, "failed": False,
                "estimated_cost": est, "estimate_source": "catalog", "cost": est,
                "cost_source": "catalog", "infra_cost": 0.0,
            }
        )  # fmt: skip
    return pa.Table.from_pylist(rows)


def _line(
    provider: str, issuer: str, service: str, cost: float, day: str = D1, **kw: object
) -> dict[str, object]:
    end = f"2025-03-0{int(day[-1]) + 1}T00:00:00Z"
    row: dict[str, object] = dict(
        BilledCost=cost, EffectiveCost=cost, ListCost=cost, ContractedCost=cost,
        BillingAccountId="acct-1", BillingAccountName="Acme", BillingCurrency="USD",
        BillingPeriodStart="2025-03-01T00:00:00Z", BillingPeriodEnd="2025-04-01T00:00:00Z",
        ChargeCategory="Usage", ChargeClass=None, ChargeDescription=None,
        ChargeFrequency="Usage-Based", ChargePeriodStart=f"{day}T00:00:00Z", ChargePeriodEnd=end,
        InvoiceIssuerName=issuer, ProviderName=provider, PublisherName=provider,
        PricingQuantity=1, PricingUnit="1K Tokens", ConsumedUnit="Tokens",
        ServiceCategory="AI and Machine Learning", ServiceName=service,
    )  # fmt: skip
    row.update(kw)
    return row


def _azure(meter: str, cost: float) -> dict[str, object]:
    return _line(
        "Microsoft", "Microsoft", "Azure AI Services", cost, x_SkuMeterName=meter,
        SkuMeter=meter, ChargeDescription=meter, x_SkuMeterSubcategory="Azure OpenAI",
    )  # fmt: skip


def _aws(service: str, usage_type: str, cost: float) -> dict[str, object]:
    return _line(
        "AWS", "Amazon Web Services, Inc.", service, cost, x_UsageType=usage_type,
        ChargeDescription=f"{service} {usage_type}",
    )  # fmt: skip


def _google(service: str, sku: str, cost: float) -> dict[str, object]:
    return _line("Google Cloud", "Google", service, cost, ChargeDescription=sku, SkuId="2AF0-41D8")


def bill_rows() -> list[dict[str, object]]:
    # Names as published (sources in tests/data/focus-samples/README.md, "AI line names"):
    # Bedrock first-party usage types USE1-<Model>-input-tokens (AWS Price List:
    # USE1-MistralLarge-*, USE1-NovaLite-*, USE1-Llama4-Maverick-17B-*); Anthropic and
    # Cohere models are AWS Marketplace products "<Model> (Amazon Bedrock Edition)"
    # with usage types USE1-MP:USE1_InputTokenCount-Units.
    bedrock = "Amazon Bedrock"
    haiku = "Claude 3 Haiku (Amazon Bedrock Edition)"
    return [
        _azure("gpt-4o 1120 Inp glbl Tokens", 0.30),
        _azure("gpt 4o 1120 cached Inp glbl Tokens", 0.06),
        _azure("gpt-4o 1120 Outp glbl Tokens", 0.24),
        _aws(bedrock, "USE1-Claude3.5Sonnet-input-tokens", 0.90),
        _aws(bedrock, "USE1-Claude3.5Sonnet-output-tokens", 1.50),
        _aws(bedrock, "USE1-Claude3.5Sonnet-cache-read-input-token-count", 0.10),
        _aws(haiku, "USE1-MP:USE1_InputTokenCount-Units", 0.12),
        _aws(haiku, "USE1-MP:USE1_OutputTokenCount-Units", 0.36),
        _aws(bedrock, "USE1-NovaLite-input-tokens", 0.06),
        _aws(bedrock, "USE1-NovaLite-output-tokens", 0.24),
        _aws(bedrock, "USE1-Llama4-Maverick-17B-input-tokens", 0.20),
        _aws(bedrock, "USE1-MistralLarge-input-tokens", 0.80),
        _aws("Cohere Command R+ (Amazon Bedrock Edition)", "USE1-MP:USE1_InputTokenCount-Units", 0.33),
        _google("Vertex AI", "Gemini 2.0 Flash Text Input - Predictions", 0.075),
        _google("Vertex AI", "Gemini 2.0 Flash Text Output - Predictions", 0.30),
        _google("Claude 3.5 Sonnet v2", "Claude 3.5 Sonnet v2 Input Tokens", 0.90),
        _google("Claude 3.5 Sonnet v2", "Claude 3.5 Sonnet v2 Output Tokens", 0.60),
        _line("OpenAI", "OpenAI", "OpenAI API", 0.15, ChargeDescription="gpt-4o-mini-2024-07-18, input"),
        _line("OpenAI", "OpenAI", "OpenAI API", 0.60, ChargeDescription="gpt-4o-mini-2024-07-18, output"),
        _line("OpenAI", "OpenAI", "OpenAI API", 1.00, ChargeDescription="evals | gpt-4o-mini"),
        *[
            _line(
                "Anthropic", "Anthropic", "Claude API", cost,
                ChargeDescription=f"Claude Sonnet 4 Usage - {what}",
                SkuPriceDetails=json.dumps({"x_ModelId": "claude-sonnet-4-20250514", "x_TokenType": token}),
                x_ServiceTier=tier,
            )
            for cost, what, token, tier in (
                (0.30, "Input Tokens", "uncached_input_tokens", "standard"),
                (1.50, "Output Tokens", "output_tokens", "standard"),
                (0.03, "Cache Read", "cache_read_input_tokens", "standard"),
                (0.50, "Input Tokens", "uncached_input_tokens", "batch"),
            )
        ],
        *[
            _line(
                "azure", "azure", "gpt-4o", cost, day=D2, ChargeDescription="gpt-4o",
                BillingAccountId=key, BillingPeriodStart=f"{D2}T00:00:00Z",
                BillingPeriodEnd="2025-03-03T00:00:00Z", ConsumedUnit="Requests",
                PricingUnit="Requests", ResourceId="gpt-4o",
                Tags=json.dumps({"model": "gpt-4o", "custom_llm_provider": "azure", "team_id": "t1"}),
            )
            for key, cost in (("88dc28", 0.012), ("a73dc2", 0.008))
        ],
    ]  # fmt: skip


def _csv(rows: list[dict[str, object]]) -> str:
    cols = sorted({k for r in rows for k in r})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r[c] for c in cols])
    return out.getvalue()


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Store:
    store.insert("calls", _calls())
    p = tmp_path / "bills.csv"
    p.write_text(_csv(bill_rows()))
    ingest_billing(store, [p], Config())
    return store


def test_each_source_identifies_the_model_and_token_kind(world: Store) -> None:
    got = {
        (r["ChargeDescription"] or ""): (
            r["provider"],
            r["model"],
            r["token_kind"],
            r["usage_kind"],
        )
        for r in world.sql(
            "SELECT ChargeDescription, provider, model, token_kind, usage_kind FROM billing"
        ).to_pylist()
    }

    def at(text: str) -> tuple[object, ...]:
        (hit,) = [v for k, v in got.items() if text in k]
        return hit

    assert at("gpt-4o 1120 Inp") == ("azure.ai.openai", "gpt-4o", "input", "inference")
    assert at("gpt 4o 1120 cached") == ("azure.ai.openai", "gpt-4o", "cache_read", "inference")
    assert at("gpt-4o 1120 Outp") == ("azure.ai.openai", "gpt-4o", "output", "inference")
    assert at("Claude3.5Sonnet-input")[:3] == ("aws.bedrock", "claude-3-5-sonnet", "input")
    assert at("Claude3.5Sonnet-cache-read")[2] == "cache_read"
    assert at("Haiku (Amazon Bedrock Edition) USE1-MP:USE1_Input")[:3] == (
        "aws.bedrock", "claude-3-haiku", "input",
    )  # fmt: skip
    assert at("USE1_OutputTokenCount")[2] == "output"
    assert at("NovaLite-input")[1] == "nova-lite"
    assert at("Llama4-Maverick")[1] == "llama4-maverick-17b-instruct"
    assert at("MistralLarge")[1] == "mistral-large"
    assert at("Command R+")[:3] == ("aws.bedrock", "command-r-plus", "input")
    assert at("Gemini 2.0 Flash Text Input")[:3] == ("gcp.vertex_ai", "gemini-2.0-flash", "input")
    assert at("Gemini 2.0 Flash Text Output")[2] == "output"
    assert at("Claude 3.5 Sonnet v2 Input")[:3] == ("gcp.vertex_ai", "claude-3-5-sonnet", "input")
    assert at("2024-07-18, input")[:3] == ("openai", "gpt-4o-mini", "input")
    assert at("evals | gpt-4o-mini") == ("openai", "gpt-4o-mini", None, "evals")
    rows = world.sql(
        "SELECT model, token_kind, usage_kind FROM billing WHERE ServiceName = 'Claude API' "
        "ORDER BY EffectiveCost"
    ).to_pylist()
    assert [(r["token_kind"], r["usage_kind"]) for r in rows] == [
        ("cache_read", "inference"), ("input", "inference"), ("input", "batch"),
        ("output", "inference"),
    ]  # fmt: skip
    assert {r["model"] for r in rows} == {"claude-sonnet-4-20250514"}
    lite = world.sql("SELECT provider, model FROM billing WHERE ServiceName = 'gpt-4o'").to_pylist()
    assert lite == [{"provider": "azure.ai.openai", "model": "gpt-4o"}] * 2


def test_each_call_carries_its_hand_computed_share_to_the_cent(world: Store) -> None:
    calls = {
        r["span_id"][2:]: r
        for r in world.sql("SELECT span_id, cost, cost_source FROM calls").to_pylist()
    }
    for cid, expected in EXPECTED.items():
        assert calls[cid]["cost_source"] == "billed", cid
        assert round(calls[cid]["cost"], 2) == round(expected, 2), cid
        assert calls[cid]["cost"] == pytest.approx(expected, abs=1e-9), cid


def test_other_usage_stays_off_inference_calls_and_reconcile_says_so(world: Store) -> None:
    rec = reconcile(world, Config(), ["provider", "model"])
    by = rec.totals["unattributed_by_usage"]
    assert by["evals"] == {"effective": pytest.approx(1.00), "lines": 1}
    assert by["batch"] == {"effective": pytest.approx(0.50), "lines": 1}
    assert rec.totals["unattributed"] == pytest.approx(1.50)
    # OpenAI's calls carry 0.75 (the inference lines), not 1.75.
    oa = [r for r in rec.rows if r["key"] == {"provider": "openai", "model": "gpt-4o-mini"}]
    assert oa[0]["allocated"] == pytest.approx(0.75) and oa[0]["effective"] == pytest.approx(1.75)


def test_eval_lines_go_onto_eval_calls_when_they_exist(store: Store, tmp_path: Path) -> None:
    calls = _calls().to_pylist()
    evals = {**calls[12], "trace_id": "t-ev", "span_id": "s-ev", "operation": "evals"}
    store.insert("calls", pa.Table.from_pylist([*calls, evals]))
    p = tmp_path / "bills.csv"
    p.write_text(_csv(bill_rows()))
    ingest_billing(store, [p], Config())
    cost = store.sql("SELECT cost FROM calls WHERE span_id = 's-ev'").to_pylist()[0]["cost"]
    assert cost == pytest.approx(1.00)
