"""The JSON API and the server-rendered pages over real HTTP on 127.0.0.1.

Numbers are checked against figures worked out by hand (see
`live_app.known_answer_data`); the CLI/API equality runs real `costper`
processes on `costper demo` data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from live_app import DAY1, XSS, LiveServer, calls, known_answer_data, outcomes, same

from costper._demo import generate
from costper.config import Config
from costper.server.formatting import money
from costper.store._store import Store, open_store


@pytest.fixture
def live(store: Store, cfg: Config) -> Iterator[tuple[LiveServer, Store]]:
    known_answer_data(store)
    server = LiveServer(cfg, store)
    yield server, store
    server.stop()


def get(server: LiveServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=30)


def group(body: dict, **key: str) -> dict:
    (g,) = [g for g in body["groups"] if g["key"] == key]
    return g


def test_report_matches_hand_computed_figures(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    r = get(server, "/api/report")
    assert r.status_code == 200
    body = r.json()
    assert body["by"] == ["feature"] and body["confidence"] == 0.95
    g = group(body, feature="billing-bot")
    assert (g["sessions"], g["labeled_sessions"], g["successes"], g["escalations"]) == (4, 4, 2, 1)
    assert (g["calls"], g["failed_calls"], g["turns"]) == (5, 1, 5)
    assert g["cost"]["llm"] == pytest.approx(10.0)
    assert g["cost"]["retries"] == pytest.approx(0.5)
    assert g["cost"]["escalation"] == pytest.approx(15.0)
    assert g["cost"]["total"] == pytest.approx(25.0)
    assert g["cost_per_success"]["value"] == pytest.approx(12.5)
    assert g["cost_per_intent"]["value"] == pytest.approx(6.25)
    assert g["success_rate"]["value"] == pytest.approx(0.5)
    assert g["cost_per_1m_tokens"] == pytest.approx(1600.0)
    assert g["tokens"] == {"input": 5000, "output": 1250, "cache_read": 0, "total": 6250}
    assert g["sample_ok"] is False
    assert g["cost_sources"] == {"config": 5}
    other = group(body, feature="other")
    assert other["cost_per_success"]["value"] == pytest.approx(0.2)


def test_report_params_group_and_filter(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    body = get(server, "/api/report", by="feature,model").json()
    assert body["by"] == ["feature", "model"]
    m_a = group(body, feature="billing-bot", model="m-a")
    assert m_a["cost"]["total"] == pytest.approx(3.0) and m_a["successes"] == 2
    m_b = group(body, feature="billing-bot", model="m-b")
    assert m_b["cost"]["total"] == pytest.approx(22.0) and m_b["successes"] == 0

    late = get(server, "/api/report", since="2026-01-10").json()
    assert [g["key"]["feature"] for g in late["groups"]] == ["other"]
    early = get(server, "/api/report", until="2026-01-10T00:00:00Z").json()
    assert [g["key"]["feature"] for g in early["groups"]] == ["billing-bot"]
    (everything,) = get(server, "/api/report", by="").json()["groups"]
    assert everything["key"] == {} and everything["sessions"] == 5
    assert everything["cost"]["total"] == pytest.approx(25.2)
    only = get(server, "/api/report", feature="other", by="day").json()
    assert only["groups"][0]["key"] == {"day": "2026-01-12"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"by": "feature,colour"}, "'colour'"),
        ({"by": "feature; DROP TABLE calls"}, "'feature; DROP TABLE calls'"),
        ({"by": "model) OR 1=1 --"}, "'model) OR 1=1 --'"),
        ({"since": "last tuesday"}, "'last tuesday'"),
        ({"feature": "nope"}, "no feature 'nope' in the store"),
    ],
)
def test_bad_parameters_are_400_naming_the_value(
    live: tuple[LiveServer, Store], params: dict[str, str], named: str
) -> None:
    server, store = live
    r = get(server, "/api/report", **params)
    assert r.status_code == 400
    assert named in r.json()["error"]
    assert store.count("calls") == 6


def test_compare_against_baseline(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    body = get(server, "/api/compare", by="model", baseline="m-a", feature="billing-bot").json()
    assert body["by"] == "model" and body["feature"] == "billing-bot"
    assert body["baseline"]["key"] == {"model": "m-a"}
    assert body["baseline"]["cost_per_success"]["value"] == pytest.approx(1.5)
    (variant,) = body["variants"]
    assert variant["key"] == {"model": "m-b"}
    assert variant["cost_per_success"]["value"] is None
    assert variant["vs_baseline"]["verdict"] == "not enough data"
    r = get(server, "/api/compare", by="model", baseline="m-z")
    assert r.status_code == 400 and "'m-z'" in r.json()["error"]
    r = get(server, "/api/compare", by="model,day", baseline="m-a")
    assert r.status_code == 400 and "one key" in r.json()["error"]


def test_session_detail(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    body = get(server, "/api/sessions/s2").json()
    s = body["summary"]
    assert (s["feature"], s["turns"], s["calls"], s["failed_calls"]) == ("billing-bot", 2, 2, 1)
    assert s["llm"] == pytest.approx(2.0) and s["retries"] == pytest.approx(0.5)
    assert s["total"] == pytest.approx(2.0) and s["status"] == "success"
    assert [c["cost"] for c in body["calls"]] == [0.5, 1.5]
    assert [c["failed"] for c in body["calls"]] == [True, False]
    assert body["calls"][0]["error_type"] == "InvalidJSON"
    assert [o["signal"] for o in body["outcomes"]] == ["thumbs_down", "thumbs_up"]
    s3 = get(server, "/api/sessions/s3").json()["summary"]
    assert s3["status"] == "failure" and s3["escalation"] == 15.0 and s3["total"] == 18.0
    missing = get(server, "/api/sessions/nope")
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]


def test_calculator_api_reproduces_the_article(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    r = httpx.get(
        server.url + "/api/calc",
        params=[("scenario", "chatbot-mini"), ("scenario", "chatbot-reasoning")],
    )
    a, b = r.json()["scenarios"]
    assert (a["cost_per_intent"], a["cost_per_success"]) == (4.5, 6.43)
    assert (b["cost_per_intent"], b["cost_per_success"]) == (0.76, 0.8)
    assert b["vs_baseline"]["cost_per_intent_pct"] == -83
    # 2,533 tokens x 0.15/1M x 5 turns = 0.0019; 10% escalate at 15: 1.5019 an intent,
    # over 90% success: 1.6688 a success.
    (one,) = get(
        server, "/api/calc", scenario="chatbot-mini", escalation_rate="0.1", success_rate="0.9"
    ).json()["scenarios"]
    assert (one["cost_per_intent"], one["cost_per_success"]) == (1.5, 1.67)
    posted = httpx.post(server.url + "/api/calc", json={"example": "invoices-before"}).json()
    assert posted["scenarios"][0]["cost_per_intent"] == 0.31
    bad = get(server, "/api/calc", retry_rate="1.5")
    assert bad.status_code == 400 and "retry_rate" in bad.json()["error"]
    assert "1.5" in bad.json()["error"]


def test_breakeven_api(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    body = get(server, "/api/breakeven", requests="3000000").json()
    rows = {r["requests"]: r for r in body["rows"]}
    assert (rows[100_000]["api_compute"], rows[100_000]["self_compute"]) == (1000.0, 1460.0)
    assert rows[1_000_000]["cheaper_on_compute"] == "self-hosted"
    assert rows[3_000_000]["gpus"] == 3
    assert rows[10_000_000]["compute_ratio"] == 9.8
    assert body["parameters"]["failure_cost"] == 15.0
    bad = get(server, "/api/breakeven", gpu_price="-1")
    # Issue 9: the core names the field, HTTP words it as its query parameter (not --gpu-price).
    assert bad.status_code == 400
    assert bad.json()["error"] == "gpu_price: must not be negative, got -1"


def test_reconcile_api_without_a_bill(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    body = get(server, "/api/reconcile", by="model").json()
    rows = {r["key"]["model"]: r for r in body["rows"]}
    assert rows["m-a"]["calls"] == 4 and rows["m-a"]["estimated"] == pytest.approx(3.2)
    assert rows["m-b"]["calls"] == 2 and rows["m-b"]["estimated"] == pytest.approx(7.0)
    assert rows["m-a"]["billed"] is None and rows["m-a"]["calls_without_line"] == 4
    assert body["totals"]["estimated"] == pytest.approx(10.2)
    bad = get(server, "/api/reconcile", by="model,colour")
    assert bad.status_code == 400 and "'colour'" in bad.json()["error"]


def test_cache_serves_repeats_and_expires_on_write(live: tuple[LiveServer, Store]) -> None:
    server, store = live
    first = get(server, "/api/report").json()
    cache = server.app.state.result_cache
    hits = cache.hits
    assert get(server, "/api/report").json() == first
    assert cache.hits == hits + 1
    store.insert_many(
        {
            "calls": calls(
                [{"session_id": "s9", "feature": "other", "start_time": DAY1, "cost": 0.3}]
            ),
            "outcomes": outcomes([{"session_id": "s9", "at": DAY1, "success": True}]),
        }
    )
    after = group(get(server, "/api/report").json(), feature="other")
    assert after["sessions"] == 2
    assert after["cost"]["total"] == pytest.approx(0.5)


def test_pages_render_escaped_and_offline(live: tuple[LiveServer, Store]) -> None:
    server, store = live
    store.insert(
        "calls", calls([{"session_id": "x1", "feature": XSS, "start_time": DAY1, "cost": 0.1}])
    )
    for path in ["/", "/features/" + quote(XSS, safe=""), "/sessions/x1", "/docs"]:
        r = httpx.get(server.url + "/" + path.lstrip("/"), timeout=30)
        assert r.status_code == 200, path
        html = r.text
        assert "<script>alert(1)" not in html
        assert "<script" not in html.lower()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), path
    overview = httpx.get(server.url + "/", timeout=30).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in overview
    assert money(12.5) in overview and "$12.50" in overview
    assert (
        httpx.get(server.url + "/static/costper.css").headers["content-type"].startswith("text/css")
    )
    assert httpx.get(server.url + "/static/..%2Fapp.py").status_code == 404


def test_pages_serve_the_last_render_while_new_data_is_computed(
    live: tuple[LiveServer, Store],
) -> None:
    server, store = live
    before = get(server, "/").text
    assert 'id="stale"' not in before and 'data-feature="late"' not in before
    store.insert_many(
        {
            "calls": calls(
                [{"session_id": "s7", "feature": "late", "start_time": DAY1, "cost": 1.0}]
            ),
            "outcomes": outcomes([{"session_id": "s7", "at": DAY1, "success": True}]),
        }
    )
    stale = get(server, "/").text
    assert 'id="stale"' in stale and 'data-feature="late"' not in stale
    deadline = time.monotonic() + 60
    while True:
        page = get(server, "/").text
        if 'id="stale"' not in page:
            break
        assert time.monotonic() < deadline, "the background render never finished"
        time.sleep(0.1)
    assert 'data-feature="late"' in page
    assert group(get(server, "/api/report").json(), feature="late")["sessions"] == 1


def test_page_with_bad_filter_is_400(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    r = get(server, "/", since="yesterday-ish")
    assert r.status_code == 400
    assert "since" in r.text and "&#39;yesterday-ish&#39;" in r.text
    reversed_range = get(server, "/", since="2026-01-10", until="2026-01-01")
    assert reversed_range.status_code == 400 and "until (2026-01-01)" in reversed_range.text
    assert get(server, "/sessions/nope").status_code == 404


def test_docs_page_and_openapi(live: tuple[LiveServer, Store]) -> None:
    server, _ = live
    spec = get(server, "/openapi.json").json()
    assert {"/api/report", "/api/compare", "/api/sessions/{session_id}"} <= set(spec["paths"])
    params = {p["name"] for p in spec["paths"]["/api/report"]["get"]["parameters"]}
    assert params == {"by", "since", "until", "feature"}
    docs = get(server, "/docs").text
    assert "/api/report" in docs and "Group keys, comma-separated" in docs


def test_api_report_equals_cli_report_json(
    db_path: Path, cfg: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same parameters, same JSON: `costper report --format json` (run in
    process, it opens the store read-only) against `/api/report` on demo data."""
    from costper.cli import main

    with open_store(db_path) as s:
        generate(s, sessions=1500, seed=7)
    variants = [
        ["--by", "feature"],
        ["--by", "feature,model", "--since", (date.today() - timedelta(days=14)).isoformat()],
        ["--by", "turns", "--feature", "assistant", "--until", "2099-01-01"],
    ]
    cli = []
    for args in variants:
        assert main(["report", "--db", str(db_path), "--format", "json", *args]) == 0
        cli.append(json.loads(capsys.readouterr().out))
    with open_store(db_path) as store:
        server = LiveServer(cfg, store)
        try:
            for args, expected in zip(variants, cli, strict=True):
                params = {a[2:]: v for a, v in zip(args[::2], args[1::2], strict=True)}
                api = httpx.get(server.url + "/api/report", params=params, timeout=60).json()
                assert api == same(expected), args
                assert len(api["groups"]) >= 3
        finally:
            server.stop()
