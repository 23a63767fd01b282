"""Reports in the report currency: calls' USD converted by the user's rate, or refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from live_app import LiveServer

from costper.config import Config, load_config
from costper.engine._report import report
from costper.errors import InputError
from costper.store._store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("fx") / "d.duckdb"
    proc = subprocess.run(["costper", "demo", "--sessions", "800", "--db", str(db)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return db


def eur(tmp: Path, rates: str = "USD = 0.9") -> Config:
    cfg = tmp / "eur.toml"
    cfg.write_text(f'[currency]\nreport = "EUR"\n[currency.rates]\n{rates}\n')
    return load_config(str(cfg))


def test_eur_report_converts_token_cost_only(demo: Path, tmp_path: Path) -> None:
    usd = {g.key["feature"]: g for g in report(demo, ["feature"]).groups}
    cfg = eur(tmp_path)
    rep = report(demo, ["feature"], config=cfg)
    assert rep.currency == "EUR" and rep.to_dict()["currency"] == "EUR"
    for g in rep.groups:
        u = usd[g.key["feature"]]
        # by hand: token spend x 0.9; escalations and review are [costs], already in EUR
        assert g.cost["llm"] == pytest.approx(u.cost["llm"] * 0.9, rel=1e-12)
        assert g.cost["escalation"] == pytest.approx(u.cost["escalation"], rel=1e-12)
        assert g.cost["evals"] == pytest.approx(u.cost["evals"] * 0.9, rel=1e-12)
        want = u.cost["llm"] * 0.9 + u.cost["escalation"] + u.cost["review"] + u.cost["overhead"]
        want += u.cost["evals"] * 0.9
        assert g.cost["total"] == pytest.approx(want + u.cost["infra"] * 0.9, rel=1e-12)
    assert all(r["currency"] == "EUR" for r in rep.rows())


def test_eur_without_a_usd_rate_is_refused(demo: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="USD and EUR cannot be added without a rate"):
        report(demo, ["feature"], config=eur(tmp_path, rates="GBP = 1.15"))


def test_the_code_is_shown_in_cli_and_pages(demo: Path, tmp_path: Path) -> None:
    cfg_file = tmp_path / "eur.toml"
    eur(tmp_path)
    table = subprocess.run(["costper", "report", "--db", str(demo), "--config", str(cfg_file)],
                           capture_output=True, text=True)  # fmt: skip
    assert table.returncode == 0 and "(EUR; confidence 95%" in table.stdout
    doc = json.loads(subprocess.run(
        ["costper", "compare", "--by", "model", "--baseline", "gpt-4o-mini", "--feature",
         "support-chat", "--db", str(demo), "--config", str(cfg_file), "--format", "json"],
        capture_output=True, text=True).stdout)  # fmt: skip
    assert doc["currency"] == "EUR"
    with open_store(demo) as store:
        live = LiveServer(load_config(str(cfg_file), db=str(demo)), store)
        try:
            page = httpx.get(live.url + "/", timeout=60).text
            assert "€" in page and "$" not in page.split("<main", 1)[-1]
        finally:
            live.stop()
