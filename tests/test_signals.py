"""Runaway sessions, spend-rate anomalies and `diagnose` on data whose answers are known.

Expected values are computed here from the raw calls (numpy) or by hand from the
catalog's prices, never by the code under test."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from costper._demo import generate
from costper._demo_planted import INCIDENT_DAY, runaway_ids
from costper.signals import anomalies, diagnose
from costper.signals._spend_rate import anomalies as spend_rate
from costper.store._store import Store, open_store

END = datetime(2026, 11, 1)
SESSIONS = 20_000


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "costper.duckdb"
    with open_store(path) as store:
        generate(store, sessions=SESSIONS, seed=1, end=END)
    return path


@pytest.fixture
def demo(demo_db: Path) -> Iterator[Store]:
    with open_store(demo_db, read_only=True) as store:
        yield store


def _sessions(store: Store) -> dict[str, dict]:
    """Per session from the raw calls: feature (of the first call), cost, calls in time order."""
    calls = store.to_arrow(store.table("calls")).to_pylist()
    out: dict[str, dict] = {}
    for c in sorted(calls, key=lambda c: (c["session_id"], c["start_time"])):
        s = out.setdefault(c["session_id"], {"feature": c["feature"], "cost": 0.0, "calls": []})
        s["cost"] += (c["cost"] or 0.0) + (c["infra_cost"] or 0.0)
        s["calls"].append(c)
    return out


def test_planted_runaways_found_with_their_exact_waste_and_nothing_else(demo: Store) -> None:
    got = anomalies(demo)
    planted = runaway_ids(1, SESSIONS)
    assert len(planted) == 6
    # No false flag: among ~20,600 demo sessions, exactly the planted ones.
    assert sorted(s.session_id for s in got.sessions) == sorted(planted)

    sessions = _sessions(demo)
    research = [s["cost"] for s in sessions.values() if s["feature"] == "research-agent"]
    median = float(np.median(research))
    want_total = 0.0
    for s in got.sessions:
        raw = sessions[s.session_id]
        runs: dict[tuple, list] = defaultdict(list)
        for c in raw["calls"]:
            runs[(c["model"], c["input_tokens"])].append(c)
        repeat = sum(
            sum(c["cost"] for c in run) - run[0]["cost"] for run in runs.values() if len(run) >= 5
        )
        want = max(raw["cost"] - median, repeat)
        assert s.cost == pytest.approx(raw["cost"], rel=1e-12)
        assert s.wasted == pytest.approx(want, rel=1e-9)
        want_total += want
    # By hand from the catalog (gpt-4o: 2.50 in, 10.00 out per 1M tokens): the loop
    # of 150 identical calls (2,400 in, 150 out) wastes 149 calls of 0.0075.
    loop = next(s for s in got.sessions if s.session_id == planted[0])
    assert loop.repeat_calls == 150 and loop.wasted == pytest.approx(149 * 0.0075)
    [day] = got.wasted
    assert (day.feature, day.sessions) == ("research-agent", 6)
    assert day.day == (END - timedelta(days=INCIDENT_DAY)).date()
    assert day.wasted == pytest.approx(want_total, rel=1e-9)
    # The incident day is the one spend-rate anomaly of the demo, day by day.
    [spike] = got.spend
    assert (spike.feature, spike.start.date()) == ("research-agent", day.day)
    # Hour by hour too: only the incident's hours, nothing in the random traffic.
    hours = anomalies(demo, period="hour").spend
    assert hours and {(a.feature, a.start.date()) for a in hours} == {("research-agent", day.day)}


def test_spend_rate_method_by_hand() -> None:
    t0 = datetime(2026, 1, 1)
    flat = [10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0, 10.0, 11.0, 9.0]
    series = {"f": {t0 + timedelta(days=i): x for i, x in enumerate([*flat, 40.0, 10.5])}}
    [a] = spend_rate(series, "day")
    # History of day 10: the previous 10 days; median 10, deviations 0,0,0,0,1,1,1,1,2,2
    # so MAD 1 -> scale 1.4826 (above the floor 0.05 * 10).
    assert a.start == t0 + timedelta(days=10) and a.median == 10.0
    assert a.scale == pytest.approx(1.4826) and a.z == pytest.approx(30 / 1.4826)
    # Fewer than 7 earlier periods: never judged; a fall is never flagged.
    assert spend_rate({"f": dict(list(series["f"].items())[:5])}, "day") == []
    falls = {"f": {t0 + timedelta(days=i): x for i, x in enumerate([*flat, 0.5])}}
    assert spend_rate(falls, "day") == []
    # Hours compare with the same hour of earlier days: a daily peak is no anomaly.
    hours = {"f": {t0 + timedelta(hours=h): (50.0 if h % 24 == 9 else 1.0) for h in range(24 * 10)}}
    assert spend_rate(hours, "hour") == []


def _row(sid: str, n: int, at: datetime, **kw: object) -> dict:
    return {
        "trace_id": f"{sid}-t", "span_id": f"{sid}-{n}", "session_id": sid, "turn_id": f"{sid}-t",
        "feature": kw.get("feature", "chat"), "provider": "openai", "model": kw.get("model", "m"),
        "prompt_version": kw.get("prompt", "v1"), "operation": "chat",
        "service_name": kw.get("service", "app"), "start_time": at + timedelta(seconds=n),
        "duration_ms": 500.0, "input_tokens": kw.get("tokens", 1000), "output_tokens": 0,
        "failed": False, "cost": kw.get("cost", 0.01), "estimated_cost": kw.get("cost", 0.01),
        "cost_source": "config", "infra_cost": 0.0,
    }  # fmt: skip


def _write(store: Store, calls: list[dict], outcomes: list[dict]) -> None:
    with store.transaction():
        store.insert_many(
            {"calls": pa.Table.from_pylist(calls), "outcomes": pa.Table.from_pylist(outcomes)}
        )


def _outcome(sid: str, at: datetime, escalated: bool) -> dict:
    return {
        "record_id": f"{sid}-o", "session_id": sid, "at": at + timedelta(hours=1),
        "success": not escalated, "escalated": escalated, "reviewed": False,
        "signal": None, "source": "explicit",
    }  # fmt: skip


D0 = datetime(2026, 9, 1, 8)


def test_diagnose_every_symptom_true_by_design(store: Store) -> None:
    calls, outs = [], []
    for day in range(20):
        at = D0 + timedelta(days=day)
        late = day >= 10
        for i in range(20):
            sid = f"c{day}-{i}"
            # Days 0-9: 1k tokens at 0.02 (20 per 1M), 5% escalate; days 10-19, after a
            # "cheaper" model and prompt: 10k tokens at 0.05 (5 per 1M), 30% escalate.
            calls.append(_row(sid, 0, at, model="mini" if late else "turbo",
                              prompt="v2" if late else "v1", tokens=10_000 if late else 1000,
                              cost=0.05 if late else 0.02))  # fmt: skip
            outs.append(_outcome(sid, at, i < (6 if late else 1)))
            # A service whose calls carry no feature tag (feature = service name), no outcomes.
            calls.append(_row(f"s{day}-{i}", 0, at, feature="billing-svc", service="billing-svc",
                              cost=0.05))  # fmt: skip
    _write(store, calls, outs)
    d = diagnose(store)
    got = {s.code: s for s in d.symptoms}
    assert {c: s.present for c, s in got.items()} == {
        "token_cost_down_bill_flat": True, "escalations_rose_after_change": True,
        "spend_unexplained": True, "no_success_rate": True, "cps_never_calculated": True,
    }  # fmt: skip
    assert d.count == 5 and d.to_dict()["lacks_outcome_visibility"] is True
    ev = got["token_cost_down_bill_flat"].evidence
    # By hand: chat + billing-svc per day; first half 20*0.02 + 20*0.05 = 1.40 on
    # 20k + 20k tokens (35 per 1M); second 20*0.05 + 20*0.05 = 2.00 on 220k (9.09 per 1M).
    assert ev["first"]["bill_per_day"] == pytest.approx(1.40)
    assert ev["second"]["cost_per_1m_tokens"] == pytest.approx(2.0 / 220_000 * 1e6)
    [prompt, model] = got["escalations_rose_after_change"].evidence["changes"]
    assert (prompt["key"], prompt["value"], model["value"]) == ("prompt_version", "v2", "mini")
    assert prompt["before"]["value"] == pytest.approx(10 / 200)
    assert prompt["after"]["value"] == pytest.approx(60 / 200)
    assert prompt["difference"]["low"] > 0
    # billing-svc: 20 * 20 * 0.05 = 20.00 of 20 + 14 = 34.00.
    assert got["spend_unexplained"].evidence["untagged_share"] == pytest.approx(20 / 34)
    assert got["no_success_rate"].evidence["without_outcomes"][0]["feature"] == "billing-svc"
    assert got["cps_never_calculated"].evidence["covered_share"] == pytest.approx(14 / 34)


def test_diagnose_every_symptom_false_by_design(store: Store) -> None:
    calls, outs = [], []
    for day in range(20):
        at = D0 + timedelta(days=day)
        for i in range(20):
            sid = f"c{day}-{i}"
            calls.append(_row(sid, 0, at, prompt="v2" if day >= 10 else "v1"))
            outs.append(_outcome(sid, at, i < 4))  # 20% escalate before and after
    _write(store, calls, outs)
    d = diagnose(store)
    assert {s.code: s.present for s in d.symptoms} == {
        "token_cost_down_bill_flat": False, "escalations_rose_after_change": False,
        "spend_unexplained": False, "no_success_rate": False, "cps_never_calculated": False,
    }  # fmt: skip
    assert d.count == 0 and "outcome-based visibility" in d.verdict


def test_cli_anomalies_and_diagnose(demo_db: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["costper", *args, "--db", str(demo_db)], capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip

    out = run("anomalies", "--format", "json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert {s["session_id"] for s in body["sessions"]} == set(runaway_ids(1, SESSIONS))
    assert body["method"]["spend"].startswith("robust z")
    table = run("anomalies", "--feature", "research-agent")
    assert table.returncode == 0 and "Wasted in total" in table.stdout
    csv = run("anomalies", "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("section,")
    diag = json.loads(run("diagnose", "--format", "json").stdout)
    codes = {s["code"]: s["present"] for s in diag["symptoms"]}
    assert codes["escalations_rose_after_change"] is True and diag["count"] < 3
    for args, word in (
        (("anomalies", "--feature", "nope"), "--feature: no feature 'nope'"),
        (("anomalies", "--since", "yesterdayish"), "--since: expected a date"),
        (("anomalies", "--period", "week"), "--period: expected one of day, hour"),
        (("diagnose", "--until", "2026-13-01"), "--until: expected a date"),
    ):
        bad = run(*args)
        assert bad.returncode == 2 and bad.stdout == ""
        assert bad.stderr.count("\n") == 1 and word in bad.stderr


def test_api_and_overview_panel(demo_db: Path, tmp_path: Path) -> None:
    """The JSON API equals the CLI's JSON; the overview page shows the runaways, escaped."""
    import httpx
    from live_app import LiveServer

    from costper.config import Config

    cli = subprocess.run(["costper", "anomalies", "--format", "json", "--db", str(demo_db)],
                         capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    with open_store(demo_db) as store:
        server = LiveServer(Config(db=str(demo_db)), store)
        try:
            api = httpx.get(server.url + "/api/anomalies", timeout=120).json()
            assert api == json.loads(cli.stdout)
            diag = httpx.get(server.url + "/api/diagnose", timeout=120).json()
            assert diag["count"] == sum(1 for s in diag["symptoms"] if s["present"])
            bad = httpx.get(server.url + "/api/anomalies", params={"period": "week"}, timeout=30)
            assert bad.status_code == 400 and "period" in bad.text
            bad = httpx.get(server.url + "/api/anomalies", params={"feature": "nope"}, timeout=30)
            assert bad.status_code == 400 and "no feature 'nope'" in bad.text
            page = httpx.get(server.url + "/", timeout=120).text
            assert 'id="anomalies"' in page
            for sid in runaway_ids(1, SESSIONS):
                assert f'data-session="{sid}"' in page
        finally:
            server.stop()


def test_cli_reads_through_a_running_server(demo_db: Path, tmp_path: Path) -> None:
    """While `costper serve` holds the store, both commands ask it (same JSON, tables too)."""
    import shutil

    import httpx
    from serve_process import ServeProcess

    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["costper", *args, "--db", str(db)], capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip

    with ServeProcess(db) as server:
        for command in ("anomalies", "diagnose"):
            api = httpx.get(f"{server.url}/api/{command}", timeout=300).json()
            got = run(command, "--format", "json")
            assert got.returncode == 0, got.stderr
            assert json.loads(got.stdout) == api
        table = run("anomalies", "--feature", "research-agent")
        assert table.returncode == 0 and "demo-1-runaway-0" in table.stdout
        assert "symptoms" in run("diagnose").stdout
        server.stop()
