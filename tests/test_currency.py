"""Currencies: a EUR bill and USD estimates are converted by the user's rate or refused.

Telemetry estimates are USD (the catalog's currency). Expected values by hand:
a day-1 gpt-4o-mini bill of 0.90 + 1.80 = 2.70 EUR at 1 USD = 0.90 EUR is 3.00
USD, spread over c1 (est 0.50) and c2 (est 1.50): 0.75 and 2.25 USD.
"""

from __future__ import annotations

import json
from pathlib import Path

import billing_truth as bt
import pytest

from costper.billing._ingest import ingest_billing
from costper.billing._reconcile import reconcile
from costper.cli import main
from costper.errors import InputError
from costper.store._store import Store

EUR_RATES = bt.CONFIG.with_(currency="EUR", rates={"USD": 0.90})


def _bill(tmp_path: Path, name: str, currency: str, account: str = "acct-1") -> Path:
    rows = [
        bt._openai(bt.D1, "Input", 0.90, BillingCurrency=currency, BillingAccountId=account),
        bt._openai(bt.D1, "Output", 1.80, BillingCurrency=currency, BillingAccountId=account),
    ]
    p = tmp_path / name
    p.write_text(bt.bill_csv(rows))
    return p


def test_eur_bill_on_usd_estimates_without_a_rate_is_refused(store: Store, tmp_path: Path) -> None:
    store.insert("calls", bt.calls_table())
    with pytest.raises(InputError) as e:
        ingest_billing(store, [_bill(tmp_path, "eur.csv", "EUR")], bt.CONFIG)
    assert "EUR and USD cannot be added without a rate" in str(e.value)
    assert store.count("billing") == 0
    costs = store.sql("SELECT sum(cost) c FROM calls WHERE cost_source = 'billed'").to_pylist()
    assert costs[0]["c"] is None


def test_eur_bill_is_converted_by_the_given_rate(store: Store, tmp_path: Path) -> None:
    store.insert("calls", bt.calls_table())
    r = ingest_billing(store, [_bill(tmp_path, "eur.csv", "EUR")], EUR_RATES)
    assert r.join.currency == "USD" and r.join.allocated == pytest.approx(3.00)
    calls = {
        x["span_id"]: x["cost"] for x in store.sql("SELECT span_id, cost FROM calls").to_pylist()
    }
    assert calls["s-c1"] == pytest.approx(0.75) and calls["s-c2"] == pytest.approx(2.25)
    rec = reconcile(store, EUR_RATES, ["provider", "model", "day"])
    assert rec.currency == "EUR" and rec.totals["currency"] == "EUR"
    (day1,) = [
        x for x in rec.rows if x["key"]["model"] == "gpt-4o-mini" and x["key"]["day"] == bt.D1
    ]
    assert day1["effective"] == pytest.approx(2.70)  # the bill, as billed
    assert day1["estimated"] == pytest.approx(2.00 * 0.90)  # USD estimates in EUR
    assert day1["allocated"] == pytest.approx(2.70)
    assert day1["ratio"] == pytest.approx(2.70 / 1.80)


def test_usd_and_eur_files_never_sum_unconverted(store: Store, tmp_path: Path) -> None:
    usd = _bill(tmp_path, "usd.csv", "USD", "acct-us")
    eur = _bill(tmp_path, "eur.csv", "EUR", "acct-eu")
    with pytest.raises(InputError, match="EUR and USD"):
        ingest_billing(store, [usd, eur], bt.CONFIG)
    cfg = bt.CONFIG.with_(rates={"EUR": 1.10})  # report in USD, 1 EUR = 1.10 USD
    ingest_billing(store, [usd, eur], cfg)
    rec = reconcile(store, cfg, ["provider"])
    assert rec.totals["bill"]["billed"] == pytest.approx(2.70 + 2.70 * 1.10)
    assert rec.currency == "USD"


def test_cli_says_the_currency_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.duckdb")
    toml = tmp_path / "costper.toml"
    toml.write_text('[currency]\nreport = "EUR"\n[currency.rates]\nUSD = 0.90\n')
    eur = _bill(tmp_path, "eur.csv", "EUR")
    assert main(["ingest", "billing", str(eur), "--db", db]) == 2
    assert "EUR and USD cannot be added without a rate" in capsys.readouterr().err
    args = ["--db", db, "--config", str(toml)]
    assert main(["ingest", "billing", str(eur), *args]) == 0
    assert "EUR" not in capsys.readouterr().err
    assert main(["reconcile", "--format", "json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["currency"] == "EUR" and out["totals"]["bill"]["billed"] == pytest.approx(2.70)
    assert main(["reconcile", "--format", "csv", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[-1] == "currency" and lines[1].endswith(",EUR")
    assert main(["reconcile", *args]) == 0
    assert "in EUR" in capsys.readouterr().out
