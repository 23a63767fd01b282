"""The server's pure parts: money formatting, query parameters, chart geometry,
the result cache, and coarser groups derived from finer ones."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from live_app import XSS, known_answer_data, same

from costper._demo import generate
from costper._time import parse_time
from costper.config import Config
from costper.engine._report import report
from costper.engine._rollup import coarsen
from costper.server.charts import Panel, Point, nice_ticks, row_panels
from costper.server.formatting import count, money, percent
from costper.server.params import parse_filters
from costper.server.rendering import ENV, code_spans
from costper.server.result_cache import ResultCache
from costper.store._store import Store


def test_coarser_groups_are_sums_of_finer_ones(store: Store, cfg: Config) -> None:
    """The pages derive every view from one query: it must equal the engine's own."""
    generate(store, sessions=800, seed=3)
    known_answer_data(store)
    fine = report(store, ["feature", "model", "turns", "week"], config=cfg).groups
    for keys in (["feature"], [], ["model"], ["turns"], ["feature", "week"]):
        derived = [g.to_dict() for g in coarsen(fine, keys, cfg)]
        direct = report(store, keys, config=cfg).to_dict()["groups"]
        assert derived == same(direct), keys
    (bot,) = [g for g in coarsen(fine, ["feature"], cfg) if g.key == {"feature": "billing-bot"}]
    assert bot.cost["total"] == pytest.approx(25.0)
    assert bot.cost_per_success.value == pytest.approx(12.5)
    with pytest.raises(ValueError, match="'day'"):
        coarsen(fine, ["day"], cfg)


def test_money_and_counts_read_as_people_write_them() -> None:
    assert money(0) == "$0.00"
    assert money(0.0019) == "$0.0019"
    assert money(0.081) == "$0.081"
    assert money(0.8) == "$0.80"
    assert money(6.425) in ("$6.43", "$6.42")
    assert money(1460) == "$1,460.00"
    assert money(1234567.891) == "$1,234,568"
    assert money(-0.12) == "−$0.12"
    assert money(None) == "—" and money(float("inf")) == "∞" and money(float("nan")) == "—"
    assert count(3_000_000) == "3,000,000"
    assert percent(0.8779) == "87.8%"


def test_parse_time_forms() -> None:
    now = datetime(2026, 3, 10, 12, 0)
    assert parse_time("2026-01-05", "since", now) == datetime(2026, 1, 5)
    assert parse_time("2026-01-05T10:00:00Z", "since", now) == datetime(2026, 1, 5, 10)
    assert parse_time("2026-01-05T12:00:00+02:00", "since", now) == datetime(2026, 1, 5, 10)
    assert parse_time("7d", "since", now) == datetime(2026, 3, 3, 12)
    assert parse_time("24h", "since", now) == datetime(2026, 3, 9, 12)
    f = parse_filters({"since": "7d", "feature": "a b", "period": "day"}, now)
    assert f.query(period="week") == "?since=7d&feature=a+b&period=week"
    assert f.query(since=None) == "?feature=a+b&period=day"


def test_nice_ticks_and_bar_geometry() -> None:
    assert nice_ticks(6.43) == [0, 2, 4, 6, 8]
    assert nice_ticks(0.95) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(1460) == [0, 500, 1000, 1500]
    assert nice_ticks(0.0) == [0.0, 1.0]
    chart = row_panels(
        ["a", XSS], [Panel("Cost", [Point(6.0, 5.0, 7.0), Point(2.0)], money)],
        ok=[True, False], label="t", label_width=100, panel_width=278,
    )  # fmt: skip
    bars = [dict(s.attrs) for s in chart.shapes if s.tag == "rect"]
    # plot width 278 - 78 = 200 over a 0..8 axis: 6 -> 150 px, 2 -> 50 px
    assert [b["width"] for b in bars] == ["150", "50"]
    assert bars[1]["class"] == "bar insufficient"
    html = ENV.from_string('{% from "macros.html" import svg %}{{ svg(c) }}').render(c=chart)
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_result_cache_versions_age_and_single_flight() -> None:
    clock = [0.0]
    cache = ResultCache(max_entries=2, max_age=10, clock=lambda: clock[0])
    made: list[str] = []

    def compute(name: str) -> str:
        made.append(name)
        return name.upper()

    assert cache.get_or_compute(1, "a", lambda: compute("a")) == "A"
    assert cache.get_or_compute(1, "a", lambda: compute("a")) == "A"
    assert made == ["a"]
    assert cache.get_or_compute(2, "a", lambda: compute("a2")) == "A2"
    assert made == ["a", "a2"] and len(cache) == 1
    clock[0] = 11
    cache.get_or_compute(2, "a", lambda: compute("a3"))
    assert made[-1] == "a3"
    for k in "bcd":
        cache.get_or_compute(2, k, lambda k=k: compute(k))
    assert len(cache) == 2

    slow = ResultCache()
    n = []

    def expensive() -> int:
        time.sleep(0.2)
        n.append(1)
        return 42

    threads = [
        threading.Thread(target=slow.get_or_compute, args=(1, "k", expensive)) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert n == [1]


def test_result_cache_serves_stale_while_refreshing() -> None:
    cache = ResultCache()
    release = threading.Event()

    def slow_new() -> str:
        release.wait(10)
        return "new"

    assert cache.get_or_refresh(1, "page", lambda: "old") == ("old", False)
    assert cache.get_or_refresh(2, "page", slow_new) == ("old", True)
    assert cache.get_or_refresh(2, "page", slow_new) == ("old", True)
    release.set()
    deadline = time.monotonic() + 10
    while cache.get_or_refresh(2, "page", slow_new)[1]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert cache.get_or_refresh(2, "page", slow_new) == ("new", False)
    assert cache.get_or_compute(2, "page", lambda: "unused") == "new"
    assert cache.get_or_compute(3, "other", lambda: "x") == "x"


def test_code_spans_in_api_docs_are_escaped() -> None:
    assert str(code_spans("run `costper <x>` & see <b>")) == (
        "run <code>costper &lt;x&gt;</code> &amp; see &lt;b&gt;"
    )


def test_verdict_badges_only_between_arms_enough_to_decide_on(store: Store) -> None:
    """Issue #11: the feature page's badges are compare's verdicts, and a thin arm gets none."""
    from costper.server import dashboard
    from costper.server.queries import Queries

    end = datetime(2025, 6, 1)
    generate(store, sessions=4000, seed=5, end=end)
    q = Queries(store, Config(), ResultCache(), now=end)
    f = parse_filters({}, end)
    chat = dashboard.feature(q, f, "support-chat")
    assert chat["baseline"] == "gpt-4o-mini"
    assert chat["verdicts"]["gpt-4-turbo"]["verdict"] == "cheaper"
    assert chat["verdicts"]["gpt-4-turbo"]["ratio"]["high"] < 1
    thin = dashboard.feature(q, f, "sql-helper")
    (v,) = thin["verdicts"].values()
    assert v["verdict"] == "not enough data"
    assert all(not m["sample_ok"] and m["warnings"] for m in thin["by_model"])
