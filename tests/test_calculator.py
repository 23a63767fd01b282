"""The scenario calculator: the article's figures exactly, known answers, properties."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costper._format import round_money
from costper.cli.options import flag
from costper.config import Config, Costs, Price
from costper.errors import InputError
from costper.planning._calculator import (
    EXAMPLES,
    Scenario,
    build_scenario,
    change_pct,
    evaluate,
    verdict,
)
from costper.planning._scenarios import (
    calc_json,
    defaults_from,
    examples_json,
    load_scenario_file,
    resolve,
)


def test_scenario_a_mini_model() -> None:
    r = evaluate(EXAMPLES["chatbot-mini"])
    # 2,533 tokens x 0.15/1M = 0.00037995 a turn, x 5 turns; 30% x 15.00 = 4.50
    assert r.call_cost == D("0.00037995")
    assert r.token_cost == D("0.00189975")
    assert r.escalation == D("4.5000")
    assert r.cost_per_intent == D("4.50189975")
    assert round_money(r.token_cost) == D("0.0019")
    assert round_money(r.cost_per_intent) == D("4.50")
    assert round_money(r.cost_per_success) == D("6.43")
    assert r.extra_turns == D("0.00151980")


def test_scenario_b_reasoning_model_is_83_percent_cheaper() -> None:
    a, b = evaluate(EXAMPLES["chatbot-mini"]), evaluate(EXAMPLES["chatbot-reasoning"])
    assert b.token_cost == D("0.014")
    assert b.cost_per_intent == D("0.764")
    assert round_money(b.cost_per_intent) == D("0.76")
    assert round_money(b.cost_per_success) == D("0.80")
    assert verdict(b.cost_per_intent, a.cost_per_intent) == "83% cheaper"
    assert round(b.token_cost / a.token_cost, 1) == D("7.4")  # "7.4x more expensive in tokens"


def test_invoices_before_and_after() -> None:
    before, after = evaluate(EXAMPLES["invoices-before"]), evaluate(EXAMPLES["invoices-after"])
    # 0.08 + 35% x 0.08 + 10% x 2.00
    assert before.cost_per_intent == D("0.308")
    assert round_money(before.cost_per_intent) == D("0.31")
    # 0.036 + 10% x 0.036 + 2% x 2.00 + 1.1 calls x 0.001
    assert after.retries == D("0.0036")
    assert after.review == D("0.04")
    assert after.orchestration == D("0.0011")
    assert after.cost_per_intent == D("0.0807")
    assert round_money(after.cost_per_intent) == D("0.081")
    assert verdict(after.cost_per_intent, before.cost_per_intent) == "74% cheaper"
    assert (
        after.cost_per_success == after.cost_per_intent
    )  # no escalation: every page ends extracted


def test_json_reproduces_the_article() -> None:
    doc = calc_json({"scenarios": [{"example": n} for n in EXAMPLES]})
    by = {s["name"]: s for s in doc["scenarios"]}
    assert (by["chatbot-mini"]["cost_per_intent"], by["chatbot-mini"]["cost_per_success"]) == (
        4.5,
        6.43,
    )
    b = by["chatbot-reasoning"]
    assert (b["cost_per_intent"], b["cost_per_success"]) == (0.76, 0.8)
    assert b["vs_baseline"]["cost_per_intent_pct"] == -83
    assert b["vs_baseline"]["token_cost_ratio"] == 7.4
    assert by["invoices-before"]["cost_per_intent"] == 0.31
    assert by["invoices-after"]["cost_per_intent"] == 0.081
    assert by["chatbot-mini"]["exact"]["cost_per_intent"] == "4.50189975"
    assert by["chatbot-mini"]["hidden_costs"]["escalation"] == 4.5
    two = calc_json({"scenarios": [{"example": "invoices-before"}, {"example": "invoices-after"}]})
    assert two["scenarios"][1]["vs_baseline"]["cost_per_intent_pct"] == -74
    assert two["baseline"] == "invoices-before"


def test_shown_money_rounds_only_for_display() -> None:
    assert round_money(D("4.50189975")) == D("4.50")
    assert round_money(D("0.0807")) == D("0.081")
    assert round_money(D("0.00189975")) == D("0.0019")
    assert round_money(D("0.125")) == D("0.13")  # half up, not banker's
    assert round_money(D("0")) == 0
    assert round_money(D("12345.675")) == D("12345.68")


def test_monthly_total_and_infra_spread_over_intents() -> None:
    s = build_scenario(
        {
            "intents": "2000",
            "token_cost": "0.01",
            "turns": "2",
            "infra": "100",
            "orchestration": "0.002",
        }
    )
    r = evaluate(s)
    # tokens 0.02 + orchestration 2 x 0.002 + infra 100/2000
    assert r.cost_per_intent == D("0.02") + D("0.004") + D("0.05")
    assert r.monthly_total == D("148.000")
    assert r.cost_per_success == r.cost_per_intent  # no escalation, success defaults to 1


def test_flags_override_an_example() -> None:
    (s,) = resolve(["chatbot-mini"], overrides={"escalation_rate": "0.2", "success_rate": "0.8"})
    r = evaluate(s)
    assert s.name == "chatbot-mini" and s.turns == 5
    assert r.cost_per_intent == D("0.00189975") + D("3.0")
    # A price flag replaces the example's token cost source, it is not silently ignored.
    (t,) = resolve(["invoices-before"], overrides={"input_tokens": "1000", "price_input": "2"})
    assert t.token_cost is None and evaluate(t).call_cost == D("0.002")


def test_catalog_and_config_prices() -> None:
    s = build_scenario({"model": "openai/gpt-4o-mini", "input_tokens": 2000, "output_tokens": 300})
    r = evaluate(s)
    # genai-prices: gpt-4o-mini 0.15 in / 0.60 out per 1M
    assert r.call_cost == D("0.00048") and r.price_source == "catalog"
    mine = {"acme/house-model": Price(input=1.0, output=4.0)}
    t = build_scenario({"model": "acme/house-model", "input_tokens": 1000, "output_tokens": 500})
    r2 = evaluate(t, mine)
    assert r2.call_cost == D("0.003") and r2.price_source == "config"
    with pytest.raises(InputError, match=r"^model: unknown model 'acme/house-model'") as e:
        evaluate(t)
    assert e.value.worded(flag).startswith("--model: unknown model 'acme/house-model'")


def test_config_costs_are_the_custom_defaults() -> None:
    cfg = Config(costs=Costs(escalation_cost=20.0, review_cost=3.0, per_call_overhead=0.01))
    (s,) = resolve(
        [], overrides={"escalation_rate": "0.1", "token_cost": "0"}, defaults=defaults_from(cfg)
    )
    assert evaluate(s).cost_per_intent == D("2.0") + D("0.01")
    (ex,) = resolve(["chatbot-mini"], defaults=defaults_from(cfg))
    assert ex.escalation_cost == D("15.00")  # the article's example keeps the article's ticket


def test_scenario_file(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(
        '[scenarios.today]\nexample = "chatbot-mini"\n'
        "escalation_rate = 0.25\nsuccess_rate = 0.75\n\n"
        "[scenarios.plan]\ntoken_cost = 0.01\nturns = 2\nescalation_rate = 0.05\n"
    )
    today, plan = load_scenario_file(f)
    assert today.name == "today" and today.turns == 5
    assert evaluate(today).cost_per_intent == D("0.00189975") + D("3.75")
    assert evaluate(plan).cost_per_intent == D("0.02") + D("0.75")
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenarios.x]\nretry_rate = 1.5\n")
    with pytest.raises(InputError) as e:
        load_scenario_file(bad)
    assert str(e.value) == f"{bad}: scenarios.x.retry_rate: must be a rate between 0 and 1, got 1.5"
    typo = tmp_path / "typo.toml"
    typo.write_text("[scenarios.x]\nretry_rat = 0.1\n")
    with pytest.raises(InputError, match=r"typo.toml: scenarios.x.retry_rat: unknown parameter"):
        load_scenario_file(typo)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"retry_rate": 1.2}, "scenario.retry_rate: must be a rate between 0 and 1, got 1.2"),
        ({"price_input": -3}, "scenario.price_input: must not be negative, got -3"),
        ({"example": "chatbot-huge"}, "scenario.example: unknown example 'chatbot-huge'"),
        ({"turns": 0}, "scenario.turns: must be greater than 0, got 0"),
        ({"intents": "lots"}, "scenario.intents: expected a number, got 'lots'"),
        ({"scenarios": [{}, {"review_rate": 2}]}, "scenarios[1].review_rate: must be a rate"),
    ],
)
def test_calc_json_names_the_bad_parameter(params: dict, message: str) -> None:
    with pytest.raises(InputError) as e:
        calc_json(params)
    assert str(e.value).startswith(message)


def test_examples_json_prefills_a_form() -> None:
    ex = examples_json()
    assert list(ex) == list(EXAMPLES)
    assert ex["chatbot-reasoning"]["parameters"]["price_input"] == 10.0
    again = calc_json({"scenarios": [dict(ex["chatbot-mini"]["parameters"], name="copy")]})
    assert again["scenarios"][0]["cost_per_success"] == 6.43


def test_percent_change() -> None:
    assert change_pct(D("0.764"), D("4.50189975")) == pytest.approx(D("-83.029"), abs=D("0.001"))
    assert verdict(D("1.10"), D("1.00")) == "10% dearer"
    assert verdict(D("1.001"), D("1.00")) == "the same"
    assert change_pct(D(1), D(0)) is None


rates = st.decimals(min_value=0, max_value=1, places=3)
money = st.decimals(min_value=0, max_value=1000, places=4)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    esc = draw(st.decimals(min_value=0, max_value=D("0.999"), places=3))
    success = draw(st.none() | st.decimals(min_value=D("0.001"), max_value=1 - esc, places=3))
    return Scenario(
        intents=draw(st.decimals(min_value=1, max_value=10**7, places=0)),
        token_cost=draw(st.decimals(min_value=0, max_value=5, places=6)),
        turns=draw(st.decimals(min_value=D("0.5"), max_value=20, places=1)),
        retry_rate=draw(rates),
        success_rate=success,
        escalation_rate=esc,
        escalation_cost=draw(money),
        review_rate=draw(rates),
        review_cost=draw(money),
        orchestration=draw(st.decimals(min_value=0, max_value=1, places=4)),
        infra=draw(money),
    )


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_cost_per_success_is_never_below_cost_per_intent(s: Scenario) -> None:
    r = evaluate(s)
    if r.cost_per_success is not None:
        assert r.cost_per_success >= r.cost_per_intent
    # Exact but for infra / intents, a division carried to 28 significant digits.
    assert abs(r.cost_per_intent - (r.token_cost + sum(r.hidden().values()))) < D("1e-20")


@settings(max_examples=300, deadline=None)
@given(scenarios(), rates)
def test_more_escalation_never_lowers_cost_per_intent(s: Scenario, more: D) -> None:
    higher = min(D(1), s.escalation_rate + more)
    success = None if s.success_rate is None else min(s.success_rate, 1 - higher)
    if success is not None and success <= 0:
        success = None
    before = evaluate(Scenario(**{**vars(s), "success_rate": success}))
    after = evaluate(Scenario(**{**vars(s), "success_rate": success, "escalation_rate": higher}))
    assert after.cost_per_intent >= before.cost_per_intent
    if before.cost_per_success is not None and after.cost_per_success is not None:
        assert after.cost_per_success >= before.cost_per_success
