"""The one number formatter (costper._format): each shared function, and the three
edges (CLI tables, dashboard, calculator) agreeing on 6.425 (issue 9)."""

from __future__ import annotations

from decimal import Decimal as D

from costper import _format as f
from costper.cli import render
from costper.planning._scenarios import calc_json
from costper.server import formatting


def test_round_money_to_the_cent_or_two_significant_digits() -> None:
    assert f.round_money(D("6.425")) == D("6.43")  # half-up as written
    assert f.round_money(6.425) == D("6.43")  # the float 6.42499.. reads as written too
    assert f.round_money(D("4.5019")) == D("4.50")
    assert f.round_money(D("0.0807")) == D("0.081")
    assert f.round_money(D("0.00189975")) == D("0.0019")
    assert f.round_money(D("-0.125")) == D("-0.13")
    assert f.round_money(0) == 0


def test_money_with_and_without_a_currency() -> None:
    assert f.money(6.425) == "6.43"
    assert f.money(D("6.425"), "USD") == "$6.43"
    assert f.money(-0.12, "EUR") == "−€0.12"
    assert f.money(12.5, "CHF") == "12.50 CHF"
    assert f.money(0.04) == "0.040"
    assert f.money(1460) == "1,460.00"
    assert f.money(100_000) == "100,000.00"
    assert f.money(1_234_567.891, "USD") == "$1,234,568"
    assert f.money(None) == "—" and f.money(float("nan")) == "—"
    assert f.money(float("inf")) == "∞"
    assert f.money(-0.0001) == "−0.00010"


def test_percent_and_whole_percent() -> None:
    assert f.percent(0.8779) == "87.8%"
    assert f.percent(0.00125, 2) == "0.13%"
    assert f.percent(None) == "—"
    assert f.whole_percent(D("-82.5")) == -83 and f.whole_percent(D("12.4")) == 12


def test_count_and_compact() -> None:
    assert f.count(3_000_000) == "3,000,000" and f.count(2.5) == "3" and f.count(None) == "—"
    assert f.compact(1_234_567) == "1.2M" and f.compact(35_400) == "35.4k"
    assert f.compact(950) == "950" and f.compact(2e9) == "2B"


def test_interval_and_range() -> None:
    iv = {"value": 6.425, "low": 6.0, "high": 7.015}
    assert f.interval(iv) == "6.43 (6.00–7.02)"
    assert f.interval({"value": 1.0, "low": None, "high": None}) == "1.00"
    assert f.interval({"value": None}) == "—"
    assert f.interval(iv, f.percent) == "642.5% (600.0%–701.5%)"
    assert f.interval_range(iv) == "6.00 – 7.02"
    assert f.interval_range({"low": None, "high": None}) == "—"


def test_cli_dashboard_and_calculator_agree() -> None:
    assert render.money(6.425) == "6.43"
    assert formatting.money(6.425) == "$6.43"
    # A token cost of 6.425 an intent: the calculator's JSON and table round the same way.
    doc = calc_json({"scenarios": [{"token_cost": "6.425"}]})
    assert doc["scenarios"][0]["cost_per_intent"] == 6.43


def test_interval_endpoints_read_like_the_value() -> None:
    from costper import _format as fm

    assert fm.interval({"value": 1.5, "low": 0.0472, "high": 2.96}) == "1.50 (0.05–2.96)"
    assert fm.interval({"value": -5.65, "low": -6.1, "high": -5.19}) == "−5.65 (−6.10 to −5.19)"
    assert fm.interval({"value": 0.5, "low": -0.2, "high": 1.2}) == "0.50 (−0.20 to 1.20)"
    assert fm.interval({"value": 0.0019, "low": 0.0012, "high": 0.0031}) == "0.0019 (0.0012–0.0031)"
    # an endpoint that would read 0.00 at the value's precision keeps its own digits
    assert fm.interval({"value": 0.8, "low": 0.001, "high": 2.96}) == "0.80 (0.0010–2.96)"


def test_signed_percent_uses_the_same_minus_as_money() -> None:
    from costper._format import signed_percent

    assert signed_percent(-87.66) == "−87.7%"
    assert signed_percent(12) == "+12.0%"
    assert signed_percent(-0.01) == "+0.0%"  # no "−0.0%"
    assert signed_percent(None) == "—"
