"""The dashboard in a real headless Chromium, on `costper demo` data.

What a person would check: every feature is on the overview with the same
numbers as `/api/report`, the charts are drawn, filters change the numbers
and stay in the URL, a session link opens, nothing is fetched from outside,
and a feature called `<script>alert(1)</script>` is shown as text. Each page
is saved as a screenshot under test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_app import XSS, LiveServer, calls, outcomes

from costper._demo import generate
from costper.config import Config
from costper.server.formatting import count, money, percent
from costper.store._store import open_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("dash") / "costper.duckdb"
    store = open_store(db)
    generate(store, sessions=3000, seed=11)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=3)
    ids = [f"xss-{i}" for i in range(3)]
    store.insert_many(
        {
            "calls": calls(
                [{"session_id": s, "feature": XSS, "start_time": start, "cost": 0.01} for s in ids]
            ),
            "outcomes": outcomes([{"session_id": s, "at": start, "success": True} for s in ids]),
        }
    )
    live = LiveServer(Config(db=str(db)), store)
    yield live
    live.stop()
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
            ],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = context.new_page()
    pg.requested = []
    pg.dialogs = []
    pg.on("request", lambda r: pg.requested.append(r.url))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def api(server: LiveServer, **params: str) -> dict[str, Any]:
    return httpx.get(server.url + "/api/report", params=params, timeout=60).json()


def first_line(locator: Any) -> str:
    return locator.inner_text().strip().splitlines()[0].strip()


def test_overview_shows_every_feature_with_the_api_numbers(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    body = api(server)
    names = [g["key"]["feature"] for g in body["groups"]]
    assert {"support-chat", "invoice-extraction", "assistant", XSS} <= set(names)
    rows = page.locator("#features tbody tr")
    assert rows.count() == len(names)
    for g in body["groups"]:
        row = page.locator("#features tbody tr").filter(
            has=page.get_by_role("link", name=g["key"]["feature"], exact=True)
        )

        def cell(metric: str, row: Any = row) -> Any:
            return row.locator(f'td[data-metric="{metric}"]')

        assert first_line(cell("sessions")) == count(g["sessions"])
        assert first_line(cell("success_rate")) == percent(g["success_rate"]["value"])
        assert first_line(cell("cost_per_1m_tokens")) == money(g["cost_per_1m_tokens"])
        assert first_line(cell("cost_per_intent")) == money(g["cost_per_intent"]["value"])
        assert first_line(cell("cost_per_success")) == money(g["cost_per_success"]["value"])
        assert first_line(cell("cost_total")) == money(g["cost"]["total"])
        assert ("insufficient" in (row.get_attribute("class") or "")) == (not g["sample_ok"])
    assert page.locator("#paradox svg rect.bar").count() >= 3 * len(names) - 3
    assert page.locator("#paradox svg line.whisker").count() > 0
    assert page.locator("#trend svg").count() == len(names)  # one small chart per feature
    assert page.locator("#trend svg circle.point").count() >= len(names)
    assert page.locator("#paradox svg rect.bar.insufficient").count() >= 1
    assert all(u.startswith(server.url) for u in page.requested), page.requested
    shot(page, "overview")


def test_filters_change_the_numbers_and_stay_in_the_url(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.select_option("select[name=feature]", "support-chat")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?*feature=support-chat*")
    assert page.locator("#features tbody tr").count() == 1
    whole = api(server, feature="support-chat")["groups"][0]
    kpi = page.locator(".kpi .value").first
    assert kpi.inner_text() == count(whole["sessions"])

    since = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    page.fill("input[name=since]", since)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**since={since}**")
    assert "feature=support-chat" in page.url
    recent = api(server, feature="support-chat", since=since)["groups"][0]
    assert recent["sessions"] < whole["sessions"]
    assert page.locator(".kpi .value").first.inner_text() == count(recent["sessions"])
    cps = page.locator('#features td[data-metric="cost_per_success"]')
    assert first_line(cps) == money(recent["cost_per_success"]["value"])
    shot(page, "overview-filtered")

    page.goto(page.url)  # the URL alone restores the view
    assert page.locator(".kpi .value").first.inner_text() == count(recent["sessions"])
    page.click("text=by day")
    assert "period=day" in page.url and "since=" in page.url
    assert page.locator("#trend svg circle.point").count() >= 5


def test_feature_page_and_a_session_link(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.locator("#features").get_by_role("link", name="support-chat", exact=True).click()
    page.wait_for_url("**/features/support-chat")
    assert page.locator("h1").inner_text() == "support-chat"
    g = api(server, feature="support-chat")["groups"][0]
    assert page.locator("#feature-cps").inner_text() == money(g["cost_per_success"]["value"])
    assert page.locator("#breakdown svg rect.seg").count() >= 3
    assert page.locator("#turns svg rect.bar").count() >= 2
    models = api(server, feature="support-chat", by="model")["groups"]
    assert page.locator("#models tbody tr").count() == len(models) == 2
    assert page.locator("#models .badge.better, #models .badge.worse").count() == 1
    shot(page, "feature")

    link = page.locator("a.session-link").first
    session_id = link.inner_text()
    link.click()
    page.wait_for_url("**/sessions/**")
    detail = httpx.get(f"{server.url}/api/sessions/{session_id}", timeout=30).json()
    assert page.locator("h1").inner_text() == session_id
    assert page.locator("#session-total").inner_text() == money(detail["summary"]["total"])
    assert page.locator("#session-status").inner_text() == detail["summary"]["status"]
    assert page.locator("#calls tbody tr").count() == len(detail["calls"])
    assert page.locator("#outcomes tbody tr").count() == len(detail["outcomes"])
    shot(page, "session")


def test_a_script_feature_name_is_shown_as_text(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    link = page.locator("#features").get_by_role("link", name=XSS, exact=True)
    assert page.locator("#trend h3").get_by_text(XSS, exact=True).count() == 1
    assert link.inner_text() == XSS
    tooltips = page.locator("#paradox svg text.row-label title").all_text_contents()
    assert XSS in tooltips  # the full name; the visible label is cut to fit
    assert page.locator("select[name=feature] option", has_text=XSS).count() == 1
    link.click()
    page.wait_for_url("**/features/**")
    assert page.locator("h1").inner_text() == XSS
    assert page.dialogs == []
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    shot(page, "xss-feature")


def test_calculator_page(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/calc")
    assert page.locator("#a-cps").inner_text() == "$6.43"
    assert page.locator("#b-cps").inner_text() == "$0.80"
    assert "83% cheaper per intent" in page.locator("#calc-verdict").inner_text()
    assert page.locator("#scenarios svg rect.seg").count() >= 3
    # B escalates 20% and succeeds 80%: 0.014 + 0.2 x 15 = 3.014 an intent, 3.7675 a success.
    page.fill("input[name=b_escalation_rate]", "0.2")
    page.fill("input[name=b_success_rate]", "0.8")
    page.click("#calc-form button[type=submit]")
    page.wait_for_url("**b_escalation_rate=0.2**")
    assert page.locator("#b-cpi").inner_text() == "$3.01"
    assert page.locator("#b-cps").inner_text() == "$3.77"
    assert (
        "33% cheaper per intent, 41% cheaper per success"
        in page.locator("#calc-verdict").inner_text()
    )
    assert "146,000" in page.locator("#be-verdict").inner_text()
    assert page.locator("#be-table tbody tr").count() == 3
    assert page.locator("#breakeven svg rect.bar").count() == 12
    shot(page, "calculator")
    page.fill("input[name=a_retry_rate]", "2")
    page.click("#calc-form button[type=submit]")
    assert "retry_rate" in page.locator("#calc-error").inner_text()


def test_docs_page_is_served_locally(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/docs")
    assert page.locator(".endpoint code.path", has_text="/api/report").count() >= 1
    assert all(u.startswith(server.url) for u in page.requested), page.requested
    shot(page, "docs")


def test_a_browser_without_the_key_gets_a_page_that_says_how(
    browser: Any, server: LiveServer
) -> None:
    keyed = LiveServer(Config(db=server.config.db, api_keys=("k-test-1",)), server.store)
    try:
        context = browser.new_context()
        pg = context.new_page()
        response = pg.goto(keyed.url + "/")
        assert response.status == 401
        assert pg.title() == "costper: API key needed"
        text = pg.inner_text("body")
        assert "needs an API key" in text and "/?api_key=YOUR_KEY" in text and "{" not in text
        shot(pg, "no-key")
        pg.goto(keyed.url + "/?api_key=k-test-1")
        assert pg.url == keyed.url + "/?api_key=k-test-1" or "api_key" not in pg.url
        assert "support-chat" in pg.inner_text("body")
        pg.goto(keyed.url + "/")  # the cookie carries the key from now on
        assert "support-chat" in pg.inner_text("body")
        api_call = httpx.get(keyed.url + "/api/report", timeout=30)
        assert api_call.status_code == 401 and "no API key" in api_call.json()["error"]
        context.close()
    finally:
        keyed.stop()


def test_overview_shows_the_paradox_per_model_first(page: Any, server: LiveServer) -> None:
    """The article's contrast on the first screen: within support-chat, gpt-4o-mini has the
    cheapest tokens and gpt-4-turbo the cheapest success; numbers as /api/report gives them."""
    page.goto(server.url + "/")
    section = page.locator("#model-paradox")
    assert section.is_visible() and section.bounding_box()["y"] < 900  # on the first screen
    expected = {
        (g["key"]["feature"], g["key"]["model"]): g
        for g in api(server, by="feature,model")["groups"]
    }
    rows = section.locator("tr[data-feature='support-chat']")
    assert rows.count() == 2
    seen = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        model = row.get_attribute("data-model")
        g = expected[("support-chat", model)]
        token_cell = row.locator("[data-metric='cost_per_1m_tokens']").inner_text()
        assert token_cell.split()[0] == money(g["cost_per_1m_tokens"])
        cps = row.locator("[data-metric='cost_per_success']").inner_text()
        assert cps.startswith(money(g["cost_per_success"]["value"]))
        seen[model] = (token_cell, cps)
    assert "cheapest tokens" in seen["gpt-4o-mini"][0]
    assert "cheapest per success" in seen["gpt-4-turbo"][1]
    assert "paradox" in section.locator("tr[data-feature='support-chat'] td.name").inner_text()
    shot(page, "overview-model-paradox")
    assert "paradox" not in section.locator("tr[data-feature='sql-helper'] td.name").inner_text()
