"""The cost join on a world with a known bill (see billing_truth.py for the hand computation)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import billing_truth as bt
import pyarrow as pa
import pytest

from costper.billing import _join as costjoin
from costper.billing._focus import read_focus
from costper.billing._ingest import ingest_billing
from costper.billing._models import ModelNames, bill_provider, identify
from costper.config import BillingRule, Config
from costper.engine._report import report
from costper.errors import ConfigError, InputError
from costper.pricing._aliases import canonical_model
from costper.store._store import Store


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Store:
    store.insert_many({"calls": bt.calls_table(), "outcomes": bt.outcomes_table()})
    bill = tmp_path / "bill.csv"
    bill.write_text(bt.bill_csv())
    ingest_billing(store, [bill], bt.CONFIG)
    return store


def _calls(store: Store) -> dict[str, dict[str, object]]:
    rows = store.sql(
        "SELECT span_id, cost, cost_source, infra_cost, estimated_cost FROM calls"
    ).to_pylist()
    return {r["span_id"][2:]: r for r in rows}


def test_every_call_carries_its_hand_computed_share(world: Store) -> None:
    calls = _calls(world)
    for cid, cost in bt.EXPECTED_COST.items():
        assert calls[cid]["cost"] == pytest.approx(cost, abs=1e-12), cid
        assert calls[cid]["cost_source"] == "billed", cid
        assert calls[cid]["infra_cost"] == pytest.approx(bt.EXPECTED_INFRA.get(cid, 0.0)), cid
    for cid, estimate in bt.UNBILLED.items():
        assert calls[cid]["cost"] == estimate and calls[cid]["cost_source"] == "catalog", cid


def test_allocated_cost_equals_the_billed_effective_cost_to_the_cent(world: Store) -> None:
    allocated = world.sql(
        "SELECT sum(cost + infra_cost) a FROM calls WHERE cost_source = 'billed'"
    ).to_pylist()[0]["a"]
    assert round(allocated, 2) == 109.90
    assert allocated == pytest.approx(109.90, abs=1e-9)
    r = costjoin.apply(world)
    assert (r.billed_calls, r.unattributed_lines) == (11, 1)
    assert r.spread_cost == pytest.approx(110.40) and r.unattributed == pytest.approx(0.50)
    assert r.spread_cost - r.unattributed == pytest.approx(r.allocated, abs=1e-9)


def test_reports_use_the_bill(world: Store) -> None:
    rep = report(world, by=["model"], config=bt.CONFIG, now=bt.NOW)
    groups = {g.key["model"]: g for g in rep.groups}
    llama = groups["meta-llama/Llama-3-8B"]
    assert (llama.sessions, llama.successes) == (3, 2)
    assert llama.cost["llm"] == 0.0
    assert llama.cost["infra"] == pytest.approx(96.0)
    assert llama.cost_per_success.value == pytest.approx(48.0)  # idle GPU hours included
    assert llama.cost_sources == {"billed": 3}
    mini = [g for m, g in groups.items() if m.startswith("gpt-4o-mini")]
    assert sum(g.cost["llm"] for g in mini) == pytest.approx(4.60)
    assert sum(g.successes for g in mini) == 5
    sonnet = groups[bt.SONNET]
    assert sonnet.cost["llm"] == pytest.approx(9.00 + 1.50)
    assert sonnet.cost_sources == {"billed": 2, "catalog": 1}
    assert sum(g.cost["total"] for g in rep.groups) == pytest.approx(4.60 + 10.50 + 0.70 + 96.0)


def test_the_same_bill_again_changes_no_cost(world: Store, tmp_path: Path) -> None:
    before = _calls(world)
    lines = world.count("billing")
    bill = tmp_path / "again.csv"
    bill.write_text(bt.bill_csv())
    r = ingest_billing(world, [bill], bt.CONFIG)
    assert r.new_lines == 0 and world.count("billing") == lines
    assert _calls(world) == before


def test_a_bad_bill_writes_nothing_and_keeps_costs(world: Store, tmp_path: Path) -> None:
    before = _calls(world)
    rows = bt.bill_rows()
    rows[0]["ChargePeriodStart"] = "2025-03-01 00:00:00"
    rows[0]["EffectiveCost"] = 99.0
    rows[7]["ChargeCategory"] = "Discount"
    bad = tmp_path / "bad.csv"
    bad.write_text(bt.bill_csv(rows))
    with pytest.raises(InputError, match=r"row 8 \(line 9\), column ChargeCategory"):
        ingest_billing(world, [bad], bt.CONFIG)
    assert world.count("billing") == len(bt.bill_rows())
    assert _calls(world) == before


def test_calls_after_the_bill_get_their_share_on_rejoin(world: Store) -> None:
    late = bt.calls_table().slice(3, 1).to_pylist()[0]
    late.update(
        trace_id="t-c14", span_id="s-c14", session_id="s14", input_tokens=1500,
        output_tokens=500, estimated_cost=2.0, cost=2.0, start_time=datetime(2025, 3, 2, 18),
    )  # fmt: skip
    world.insert("calls", pa.Table.from_pylist([late]))
    assert _calls(world)["c14"]["cost_source"] == "catalog"
    costjoin.apply(world)
    calls = _calls(world)
    # Day 2: weights 1, 3, 2 (imputed), 2 of 8 -> 3.20 * 2/8; credit: 2 of 10 -> -0.20.
    assert calls["c14"]["cost"] == pytest.approx(0.80 - 0.20)
    assert calls["c4"]["cost"] == pytest.approx(3.2 * 3 / 8 - 1.0 * 3 / 10)
    mini = sum(calls[c]["cost"] for c in ("c1", "c2", "c3", "c4", "c5", "c14"))
    assert mini == pytest.approx(4.60, abs=1e-12)


def test_unpriced_pools_split_by_tokens_then_evenly(store: Store, tmp_path: Path) -> None:
    t = bt.calls_table().slice(0, 2)
    t = t.set_column(
        t.column_names.index("estimated_cost"), "estimated_cost", pa.nulls(2, pa.float64())
    )
    t = t.set_column(t.column_names.index("output_tokens"), "output_tokens", pa.array([0, 0]))
    t = t.set_column(t.column_names.index("input_tokens"), "input_tokens", pa.array([0, 0]))
    store.insert("calls", t)
    bill = tmp_path / "b.csv"
    bill.write_text(bt.bill_csv(bt.bill_rows()[:2]))
    ingest_billing(store, [bill], Config())
    calls = _calls(store)
    assert calls["c1"]["cost"] == pytest.approx(1.20) and calls["c2"]["cost"] == pytest.approx(1.20)


@pytest.mark.parametrize(
    ("name", "service", "expect"),
    [
        ("AWS", "Amazon Bedrock", "aws.bedrock"),
        ("Amazon Web Services, Inc.", "Amazon Simple Storage Service", "aws"),
        ("Microsoft", "Azure OpenAI Service", "azure.ai.openai"),
        ("Microsoft", "Virtual Machines", "azure"),
        ("Google Cloud", "Vertex AI", "gcp.vertex_ai"),
        ("OpenAI", "OpenAI API", "openai"),
        ("Anthropic", None, "anthropic"),
        ("Mistral AI", "La Plateforme", "mistral_ai"),
        ("az.ai.openai", None, "azure.ai.openai"),
        ("Oracle", "COMPUTE", "oracle"),
    ],
)
def test_provider_names_become_gen_ai_values(name: str, service: str | None, expect: str) -> None:
    assert bill_provider(name, service) == expect


@pytest.mark.parametrize(
    ("model", "expect"),
    [
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("meta-llama/Llama-3-8B", "llama-3-8b"),
        ("GPT-4o", "gpt-4o"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("amazon.titan-text-express-v1", "titan-text-express-v1"),
    ],
)
def test_canonical_models(model: str, expect: str) -> None:
    assert canonical_model(model) == expect


def test_model_names_in_free_text() -> None:
    names = ModelNames(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "gpt-4.1"])
    assert names.find("GPT-4o mini Input Tokens") == "gpt-4o-mini"
    assert names.find("gpt-4o-2024-08-06 output") == "gpt-4o"
    assert names.find("Claude 3.5 Sonnet (Amazon Bedrock Edition)") == "claude-3-5-sonnet"
    assert names.find("GPT-4.1 cached input") == "gpt-4.1"
    assert names.find("xgpt-4o") is None


def test_model_from_config_rule_and_tags(tmp_path: Path) -> None:
    rows = bt.bill_rows()[7:9]  # the two Bedrock lines
    rows[0]["SkuMeter"] = rows[1]["SkuMeter"] = "Meter 7"
    rows[0]["ChargeDescription"] = rows[1]["ChargeDescription"] = "usage"
    rows[0]["Tags"] = '{"gen_ai.request.model": "anthropic/claude-opus-4"}'
    p = tmp_path / "b.csv"
    p.write_text(bt.bill_csv(rows))
    f = read_focus(p)
    plain = identify(f.columns, Config()).to_pylist()
    assert plain[0]["model"] == "claude-opus-4" and plain[0]["provider"] == "anthropic"
    assert plain[1]["allocation"] is None and plain[1]["provider"] == "aws.bedrock"
    rule = BillingRule(
        match={"ServiceName": "Amazon Bedrock", "SkuMeter": "meter *"}, model="aws.bedrock/x-1"
    )
    ruled = identify(f.columns, Config(billing_models=(rule,))).to_pylist()
    assert (ruled[1]["allocation"], ruled[1]["provider"], ruled[1]["model"]) == (
        "model",
        "aws.bedrock",
        "x-1",
    )
    assert ruled[0]["model"] == "claude-opus-4"  # Tags come before config rules
    with pytest.raises(ConfigError, match="SkuMetre"):
        identify(
            f.columns, Config(billing_models=(BillingRule(match={"SkuMetre": "*"}, model="a/b"),))
        )


def test_token_kinds_from_sku_price_details_and_meters(world: Store) -> None:
    kinds = world.sql(
        "SELECT row_number, token_kind FROM billing WHERE allocation = 'model' ORDER BY 1"
    ).to_pylist()
    assert [k["token_kind"] for k in kinds] == [
        "input", "output", "input", "output", "input", "input", "input", "input", "output",
    ]  # fmt: skip
