"""Budgets: burn and projection against hand sums; `/metrics` scraped from a real `costper
serve` and read by the real prometheus_client parser; webhook crossings posted once each
to a real HTTP receiver on 127.0.0.1 while spans are ingested over OTLP."""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_process import ServeProcess

from costper._demo import generate
from costper.budgets._budgets import period_bounds
from costper.cli import main
from costper.config import parse_config
from costper.errors import ConfigError
from costper.store._store import open_store

NOW = datetime(2026, 11, 18, 12, 0)  # a Wednesday


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_periods_are_calendar_periods_in_utc() -> None:
    assert period_bounds("day", NOW) == (datetime(2026, 11, 18), datetime(2026, 11, 19))
    assert period_bounds("week", NOW) == (datetime(2026, 11, 16), datetime(2026, 11, 23))
    assert period_bounds("month", NOW) == (datetime(2026, 11, 1), datetime(2026, 12, 1))
    assert period_bounds("month", datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
        datetime(2026, 12, 1), datetime(2027, 1, 1),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("[[budgets]]\nlimit = 5\nmetric = 'tokens'", "budgets[0].metric: expected one of spend"),
        ("[[budgets]]\nperiod = 'month'", "budgets[0].limit: required"),
        ("[[budgets]]\nlimit = -1", "budgets[0].limit: must be >= 0"),
        ("[[budgets]]\nlimit = 5\nperiod = 'year'", "budgets[0].period: expected one of day"),
        ("[[budgets]]\nlimit = 5\nthresholds = [0]", "budgets[0].thresholds: must be > 0"),
        ("[[budgets]]\nlimit = 5\nfeature = 3", "budgets[0].feature: expected a non-empty"),
        ("[[budgets]]\nlimit = 5\nlimt = 5", "budgets[0].limt: unknown key"),
        ("[[budgets]]\nlimit = 5\n[[budgets]]\nlimit = 6", "budgets[1].name: 'month spend all'"),
        ("[alerts]\nwebhook_url = 'ftp://x'", "alerts.webhook_url: expected an http(s) URL"),
        ("[alerts]\ninterval = 'soon'", "alerts.interval: expected a duration"),
        ("[server]\nmetrics_public = 'yes'", "server.metrics_public: expected true or false"),
        ("[commitments.gpt4]\nunit_price = 1", "commitments.\"gpt4\": expected a 'provider/model'"),
        ("[commitments.'azure/gpt-4o']\nmin_units = 0", 'commitments."azure/gpt-4o".min_units'),
    ],
)
def test_config_errors_name_the_key(toml: str, says: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as e:
        parse_config(tomllib.loads(toml))
    assert says in str(e.value)


def _calls(rows: list[tuple[str, str, datetime, float, str]]) -> pa.Table:
    """(session, feature, start, cost, tenant) -> calls."""
    return pa.table(
        {
            "trace_id": [f"t{i}" for i in range(len(rows))],
            "span_id": [f"s{i}" for i in range(len(rows))],
            "session_id": [r[0] for r in rows], "turn_id": [f"t{i}" for i in range(len(rows))],
            "feature": [r[1] for r in rows], "provider": ["openai"] * len(rows),
            "model": ["gpt-4o-2024-08-06"] * len(rows), "start_time": [r[2] for r in rows],
            "input_tokens": [1000] * len(rows), "output_tokens": [100] * len(rows),
            "cost": [r[3] for r in rows], "cost_source": ["config"] * len(rows),
            "failed": [False] * len(rows), "tenant": [r[4] for r in rows],
        }
    )  # fmt: skip


def test_spend_and_cost_per_success_budgets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.duckdb"
    day = datetime(2026, 11, 18)
    rows = [
        ("a", "chat", day + timedelta(hours=1), 1.0, "acme"),
        ("b", "chat", day + timedelta(hours=2), 2.0, "acme"),
        ("c", "chat", day + timedelta(hours=3), 4.0, "other"),
        ("d", "chat", day - timedelta(days=2), 8.0, "acme"),  # this week, not today
        ("e", "chat", day - timedelta(days=20), 16.0, "acme"),  # last month
        ("f", "search", day + timedelta(hours=4), 32.0, "acme"),
        ("g", "chat", day + timedelta(hours=13), 64.0, "acme"),  # after NOW: not yet
    ]
    outcomes = pa.table(
        {
            "record_id": ["ra", "rb", "rc", "rd"], "session_id": ["a", "b", "c", "d"],
            "at": [day + timedelta(hours=5)] * 4, "success": [True, True, False, True],
            "escalated": [False, False, True, False], "source": ["explicit"] * 4,
        }
    )  # fmt: skip
    with open_store(db) as store:
        store.insert_many({"calls": _calls(rows), "outcomes": outcomes})
    cfg = tmp_path / "costper.toml"
    cfg.write_text(
        '[[budgets]]\nname = "chat today"\nfeature = "chat"\nlimit = 8\nperiod = "day"\n'
        '[[budgets]]\nname = "acme week"\ntenant = "acme"\nlimit = 100\nperiod = "week"\n'
        "thresholds = [0.25, 0.5]\n"
        '[[budgets]]\nname = "gpt-4o month"\nmodel = "gpt-4o"\nlimit = 40\nperiod = "month"\n'
        '[[budgets]]\nname = "chat cps"\nmetric = "cost_per_success"\nfeature = "chat"\n'
        'limit = 5\nperiod = "week"\n'
        '[[budgets]]\nname = "nothing yet"\nfeature = "later"\nlimit = 5\n'
    )
    code, out, err = run(
        capsys, "budgets", "--db", str(db), "--config", str(cfg), "--at", "2026-11-18T12:00:00Z",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    got = {b["name"]: b for b in json.loads(out)["budgets"]}
    today = got["chat today"]  # 1 + 2 + 4 by noon: half the day gone
    assert today["value"] == pytest.approx(7.0) and today["calls"] == 3
    assert today["elapsed_share"] == pytest.approx(0.5)
    assert today["projected"] == pytest.approx(14.0) and today["burn"] == pytest.approx(7 / 8)
    assert today["crossed"] == [0.8] and today["status"] == "projected over"
    week = got["acme week"]  # a, b, d, f (Monday 16th to noon Wednesday: 2.5 of 7 days)
    assert week["value"] == pytest.approx(1 + 2 + 8 + 32)
    assert week["projected"] == pytest.approx(43 / (2.5 / 7))
    assert week["crossed"] == [0.25] and week["status"] == "projected over"
    month = got["gpt-4o month"]  # everything from the 1st to noon on the 18th
    assert month["value"] == pytest.approx(1 + 2 + 4 + 8 + 32)
    assert month["status"] == "over" and month["crossed"] == [0.8, 1.0]
    cps = got["chat cps"]  # sessions a, b, c, d: 15 cost 1+2+4+8 plus c's escalation (15.00)
    assert cps["value"] == pytest.approx((15 + 15) / 3) and cps["status"] == "over"
    assert cps["low"] <= cps["value"] <= cps["high"] and cps["projected"] is None
    assert got["nothing yet"]["status"] == "ok" and got["nothing yet"]["value"] == 0.0
    code, out, _ = run(
        capsys, "budgets", "--db", str(db), "--config", str(cfg), "--at", "2026-11-18T12:00:00Z"
    )
    assert code == 0 and "projected over" in out and "linear" in out


def _families(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


KEY = {"authorization": "Bearer k-1"}
WEIRD = 'we"ird\\feat\nure'


def test_metrics_scraped_from_a_real_server(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    with open_store(db) as store:
        generate(store, sessions=600, seed=2, end=datetime(2026, 11, 20))
        store.insert("calls", _calls([("w1", WEIRD, datetime(2026, 11, 2), 0.5, "x")]))
    con = duckdb.connect(str(db), read_only=True)
    want = {
        (f, m): (s, n)
        for f, m, s, n in con.execute(
            "select feature, model, sum(coalesce(cost, 0) + coalesce(infra_cost, 0)), count(*)"
            " from calls group by all"
        ).fetchall()
    }
    con.close()
    cfg = tmp_path / "costper.toml"
    cfg.write_text(
        '[server]\napi_keys = ["k-1"]\n[[budgets]]\nname = "all \\"month\\""\nlimit = 10\n'
    )
    with ServeProcess(db, "--config", str(cfg)) as server:
        assert httpx.get(server.url + "/metrics", timeout=120).status_code == 401
        r = httpx.get(server.url + "/metrics", headers=KEY, timeout=120)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        report = httpx.get(server.url + "/api/report?by=feature", headers=KEY, timeout=120).json()
        budgets = httpx.get(server.url + "/api/budgets", headers=KEY, timeout=120).json()
        an = httpx.get(server.url + "/api/anomalies", headers=KEY, timeout=120).json()
    got = _families(r.text)
    for (feature, model), (spend, calls) in want.items():
        labels = (("feature", feature), ("model", model))
        assert got[("costper_calls", labels)] == calls
        assert got[("costper_spend", (("currency", "USD"), *labels))] == pytest.approx(spend)
    assert ("costper_calls", (("feature", WEIRD), ("model", "gpt-4o-2024-08-06"))) in got
    for g in report["groups"]:
        for bound in ("value", "low", "high"):
            key = (("bound", bound), ("currency", "USD"), ("feature", g["key"]["feature"]))
            want_v = g["cost_per_success"][bound]
            got_v = got[("costper_cost_per_success", key)]
            assert math.isnan(got_v) if want_v is None else got_v == pytest.approx(want_v)
    budget = (("budget", 'all "month"'), ("metric", "spend"), ("period", "month"))
    assert got[("costper_budget_limit", budget)] == 10.0
    assert ("costper_budget_burn_ratio", budget) in got
    for f in {g["key"]["feature"] for g in report["groups"]}:
        runaway = sum(1 for r in an["sessions"] if r["feature"] == f)
        wasted = sum(r["wasted"] for r in an["wasted"] if r["feature"] == f)
        assert got[("costper_runaway_sessions", (("feature", f),))] == runaway
        key = (("currency", "USD"), ("feature", f))
        assert got[("costper_wasted_spend", key)] == pytest.approx(wasted)
    [row] = budgets["budgets"]
    assert row["name"] == 'all "month"' and row["limit"] == 10.0 and "linear" in budgets["method"]
    cfg.write_text('[server]\napi_keys = ["k-1"]\nmetrics_public = true\n')
    with ServeProcess(db, "--config", str(cfg)) as server:
        assert httpx.get(server.url + "/metrics", timeout=120).status_code == 200
        assert httpx.get(server.url + "/api/report", timeout=120).status_code == 401


class _Receiver:
    """A real HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers["content-length"])
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _spans(n: int, first: int) -> dict[str, Any]:
    now = time.time_ns()
    spans = [
        {
            "traceId": f"{first + i:032x}", "spanId": f"{first + i:016x}", "name": "chat gpt-4o",
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000),
            "attributes": [
                {"key": k, "value": v} for k, v in (
                    ("gen_ai.operation.name", {"stringValue": "chat"}),
                    ("gen_ai.provider.name", {"stringValue": "openai"}),
                    ("gen_ai.request.model", {"stringValue": "gpt-4o"}),
                    ("gen_ai.usage.input_tokens", {"intValue": "50000"}),
                    ("gen_ai.usage.output_tokens", {"intValue": "0"}),
                    ("costper.feature", {"stringValue": "alerts-test"}),
                )
            ],
        }
        for i in range(n)
    ]  # fmt: skip
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}


def test_webhook_once_per_crossing(tmp_path: Path) -> None:
    receiver = _Receiver()
    try:
        cfg = tmp_path / "costper.toml"
        cfg.write_text(
            '[prices."openai/gpt-4o"]\ninput = 2.5\noutput = 10.0\n'  # 50k in = 0.125
            f'[alerts]\nwebhook_url = "{receiver.url}"\ninterval = "0.2s"\n'
            '[[budgets]]\nname = "alerts day"\nfeature = "alerts-test"\nlimit = 1.0\n'
            'period = "day"\n'
        )
        db = tmp_path / "w.duckdb"
        with ServeProcess(db, "--config", str(cfg)) as server:
            post = lambda body: httpx.post(server.url + "/v1/traces", json=body, timeout=30)  # noqa: E731
            assert post(_spans(7, 1)).status_code == 200  # 0.875: crosses 0.8
            receiver.wait_for(1)
            assert [b["threshold"] for b in receiver.bodies] == [0.8]
            assert receiver.bodies[0]["value"] == pytest.approx(0.875)
            assert post(_spans(2, 100)).status_code == 200  # 1.125: crosses 1.0
            receiver.wait_for(2)
            assert post(_spans(1, 200)).status_code == 200  # still over: nothing new
            time.sleep(1.5)
        assert [b["threshold"] for b in receiver.bodies] == [0.8, 1.0]
        last = receiver.bodies[1]
        assert last["name"] == "alerts day" and last["status"] == "over"
        assert last["value"] == pytest.approx(1.125)
        # A restart does not send them again.
        with ServeProcess(db, "--config", str(cfg)):
            time.sleep(1.5)
        assert len(receiver.bodies) == 2
    finally:
        receiver.close()
