"""The cost model and report on hand-built sessions whose every figure is known."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from costper.config import Config, Costs
from costper.engine._compare import compare
from costper.engine._report import report
from costper.engine._sessions import session_table
from costper.errors import InputError
from costper.store._store import Store

NOW = datetime(2025, 6, 10, 12, 0)
T0 = NOW - timedelta(days=3)


def call(
    session: str,
    n: int,
    cost: float | None,
    *,
    turn: str | None = None,
    failed: bool = False,
    feature: str = "f",
    model: str = "m1",
    at: datetime = T0,
    tokens: tuple[int, int] = (100, 10),
) -> dict:
    return {
        "trace_id": turn or f"{session}-t",
        "span_id": f"{session}-{n}",
        "session_id": session,
        "turn_id": turn or f"{session}-t",
        "feature": feature,
        "provider": "openai",
        "model": model,
        "start_time": at + timedelta(seconds=n),
        "failed": failed,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cost": cost,
        "estimated_cost": cost,
        "cost_source": "catalog" if cost is not None else "unpriced",
        "infra_cost": 0.0,
    }


def outcome(session: str, at: datetime, **fields: object) -> dict:
    base = {"success": None, "escalated": None, "reviewed": None, "signal": None}
    return {
        "record_id": f"{session}-{at.isoformat()}",
        "session_id": session,
        "at": at,
        **base,
        **fields,
    }


def load(store: Store, calls: list[dict], outcomes: list[dict]) -> None:
    store.insert_many(
        {"calls": pa.Table.from_pylist(calls), "outcomes": pa.Table.from_pylist(outcomes)}
    )


@pytest.fixture
def hand_built(store: Store) -> Store:
    calls = [
        call("A", 1, 0.10, turn="A1", failed=True),
        call("A", 2, 0.20, turn="A1"),
        call("A", 3, 0.30, turn="A2"),
        call("B", 1, 1.00),
        call("C", 1, 0.50),
        call("D", 1, 0.25, at=NOW - timedelta(hours=1)),
        call("E", 1, None),
    ]
    outcomes = [
        outcome("A", T0 + timedelta(hours=1), success=True),
        outcome("B", T0 + timedelta(hours=1), success=True),
        outcome("B", T0 + timedelta(hours=2), escalated=True, signal="ticket_created"),
        outcome("E", T0 + timedelta(hours=1), success=True, reviewed=True),
    ]
    load(store, calls, outcomes)
    return store


def test_cost_model_by_hand(hand_built: Store) -> None:
    cfg = Config(costs=Costs(escalation_cost=15.0, review_cost=2.0, per_call_overhead=0.01))
    g = report(hand_built, ["feature"], config=cfg, now=NOW).groups[0]
    # Labeled: A (success), B (escalated after a success: failure), C (implicit), E (success, reviewed).
    assert (g.sessions, g.labeled_sessions, g.pending_sessions) == (5, 4, 1)
    assert (g.successes, g.escalations, g.reviewed) == (3, 1, 1)
    assert (g.calls, g.failed_calls, g.turns, g.unpriced_calls) == (6, 1, 5, 1)
    assert g.cost["llm"] == pytest.approx(2.10)
    assert g.cost["retries"] == pytest.approx(0.10)
    assert g.cost["escalation"] == 15.0 and g.cost["review"] == 2.0
    assert g.cost["overhead"] == pytest.approx(0.06)
    assert g.cost["total"] == pytest.approx(0.63 + 16.01 + 0.51 + 2.01)
    assert g.cost_per_intent.value == pytest.approx(19.16 / 4)
    assert g.cost_per_success.value == pytest.approx(19.16 / 3)
    assert g.success_rate.value == 0.75 and g.escalation_rate.value == 0.25
    assert g.tokens == {"input": 600, "output": 60, "cache_read": 0, "total": 660}
    assert g.cost_per_1m_tokens == pytest.approx(2.10 / 660 * 1e6)
    assert g.cost_sources == {"catalog": 5, "unpriced": 1}
    assert not g.sample_ok


def test_pending_resolves_after_the_window_and_off_means_never(hand_built: Store) -> None:
    later = report(hand_built, ["feature"], now=NOW + timedelta(days=2)).groups[0]
    assert (later.labeled_sessions, later.successes) == (5, 4)
    off = report(
        hand_built, ["feature"], config=Config(implicit_success_after=None), now=NOW
    ).groups[0]
    assert (off.labeled_sessions, off.successes) == (3, 2)


def test_latest_value_of_each_field_wins(store: Store) -> None:
    load(
        store,
        [call("S", 1, 1.0)],
        [
            outcome("S", T0 + timedelta(hours=1), success=False, signal="thumbs_down"),
            outcome("S", T0 + timedelta(hours=3), success=True, signal="thumbs_up"),
            outcome("S", T0 + timedelta(hours=2), reviewed=True),
        ],
    )
    row = store.to_arrow(session_table(store, Config(), now=NOW)).to_pylist()[0]
    assert row["status"] == "success" and row["reviewed"] is True


def test_per_feature_overrides(store: Store) -> None:
    load(
        store,
        [call("X", 1, 0.0, feature="f"), call("Y", 1, 0.0, feature="g")],
        [outcome("X", T0, escalated=True), outcome("Y", T0, escalated=True)],
    )
    cfg = Config(feature_costs={"g": Costs(escalation_cost=20.0)})
    groups = {
        gr.key["feature"]: gr for gr in report(store, ["feature"], config=cfg, now=NOW).groups
    }
    assert groups["f"].cost["escalation"] == 15.0 and groups["g"].cost["escalation"] == 20.0


def test_session_model_is_the_one_that_cost_most(store: Store) -> None:
    load(
        store,
        [
            call("S", 1, 0.2, model="cheap"),
            call("S", 2, 0.2, model="cheap"),
            call("S", 3, 0.3, model="dear"),
        ],
        [outcome("S", T0, success=True)],
    )
    g = report(store, ["model"], now=NOW).groups
    assert [x.key["model"] for x in g] == ["cheap"] and g[0].cost["llm"] == pytest.approx(0.7)


def scenario(
    store: Store, name: str, sessions: int, turns: int, token_cost: float, successes: int
) -> None:
    calls, outcomes = [], []
    for i in range(sessions):
        sid = f"{name}-{i}"
        for t in range(turns):
            calls.append(
                call(sid, t, token_cost / turns, turn=f"{sid}-{t}", feature="chat", model=name)
            )
        ok = i < successes
        outcomes.append(outcome(sid, T0, success=ok, escalated=not ok))
    load(store, calls, outcomes)


def test_article_scenarios_from_session_level_data(store: Store) -> None:
    scenario(store, "mini", 100, 5, 0.0019, 70)
    scenario(store, "reasoning", 100, 1, 0.014, 95)
    by = {g.key["model"]: g for g in report(store, ["model"], now=NOW).groups}
    a, b = by["mini"], by["reasoning"]
    assert round(a.cost_per_intent.value, 2) == 4.50 and round(a.cost_per_success.value, 2) == 6.43
    assert round(b.cost_per_intent.value, 2) == 0.76 and round(b.cost_per_success.value, 2) == 0.80
    assert round(1 - b.cost_per_intent.value / a.cost_per_intent.value, 2) == 0.83
    assert a.turns == 500 and b.turns == 100 and a.sample_ok and b.sample_ok
    cmp = compare(store, "model", "mini", now=NOW)
    assert cmp.variants[0].vs_baseline.verdict == "cheaper"


def test_time_and_feature_filters(hand_built: Store) -> None:
    g = report(hand_built, ["day"], since=NOW - timedelta(hours=2), now=NOW).groups
    assert [x.sessions for x in g] == [1]
    with pytest.raises(InputError, match="no feature 'nope' in the store"):  # issue #13: a typo
        report(hand_built, ["feature"], feature="nope", now=NOW)


def test_unknown_key_and_baseline(hand_built: Store) -> None:
    with pytest.raises(InputError, match="unknown group key 'colour'"):
        report(hand_built, ["colour"])
    with pytest.raises(InputError, match="baseline 'zzz' has no sessions"):
        compare(hand_built, "model", "zzz", now=NOW)
    # a provider/model reference, as whatif prints it, names the stored model
    as_ref = compare(hand_built, "model", "openai/M1", now=NOW)
    assert as_ref.baseline.key["model"] == "m1"


def test_report_rows_for_a_notebook(hand_built: Store) -> None:
    df = report(hand_built, ["feature", "turns"], now=NOW).to_pandas()
    assert set(df["turns"]) == {"1", "2"} and "turns_count" in df and len(df) == 2


def test_shape_sums_by_hand(hand_built: Store) -> None:
    """Issue #11: the third power sums and max c, per labeled session by hand."""
    cfg = Config(costs=Costs(escalation_cost=15.0, review_cost=2.0, per_call_overhead=0.01))
    g = report(hand_built, ["feature"], config=cfg, now=NOW).groups[0]
    ok, failed = [0.63, 0.51, 2.01], [16.01]  # A, C, E succeeded; B escalated
    every = ok + failed
    s = g.sums
    assert s.ccc == pytest.approx(sum(x**3 for x in every))
    assert s.ccs == pytest.approx(sum(x**2 for x in ok))
    assert s.cmax == pytest.approx(16.01)
    # 16.01 of 19.16 is 84%, under 2/sqrt(4) = 100%: four sessions cannot show a tail.
    assert [w["code"] for w in g.warnings] == ["few_sessions", "few_successes", "few_failures",
                                              "unbounded"]  # fmt: skip


def test_coarsened_groups_keep_the_shape_sums(hand_built: Store) -> None:
    from costper.engine._rollup import coarsen

    cfg = Config()
    fine = report(hand_built, ["feature", "turns"], config=cfg, now=NOW).groups
    (whole,) = report(hand_built, ["feature"], config=cfg, now=NOW).groups
    (merged,) = coarsen(fine, ["feature"], cfg)
    for f in ("ccc", "ccs", "cmax"):
        assert getattr(merged.sums, f) == pytest.approx(getattr(whole.sums, f))
    assert merged.cost_per_success == whole.cost_per_success or (
        merged.cost_per_success.low == pytest.approx(whole.cost_per_success.low)
    )
    assert merged.warnings == whole.warnings


def test_compare_does_not_pool_features(store: Store) -> None:
    """A model serving only a cheap feature is not 'cheaper' than one serving a dear one."""
    calls, outcomes = [], []
    for i in range(200):
        for feature, model, cost in (("cheap", "a", 0.01), ("dear", "b", 1.0), ("dear", "a", 1.0)):
            sid = f"{feature}-{model}-{i}"
            calls.append(call(sid, 0, cost, feature=feature, model=model))
            outcomes.append(outcome(sid, T0, success=i % 4 != 0))
    load(store, calls, outcomes)
    with pytest.raises(InputError, match=r"span 2 features \(cheap, dear\).*--feature"):
        compare(store, "model", "b", now=NOW)
    pooled = compare(store, "model", "b", now=NOW, pool_features=True)
    assert pooled.variants[0].vs_baseline.verdict == "cheaper"  # the confounded answer, asked for
    within = compare(store, "model", "b", feature="dear", now=NOW)
    v = within.variants[0].vs_baseline
    assert v.verdict == "no significant difference" and v.ratio.value == pytest.approx(1.0)
    assert v.ratio.low < 1 < v.ratio.high  # type: ignore[operator]


def test_no_verdict_for_an_arm_that_is_not_enough_to_decide(store: Store) -> None:
    scenario(store, "mini", 300, 5, 0.0019, 210)
    scenario(store, "thin", 30, 1, 0.014, 29)
    cmp = compare(store, "model", "mini", now=NOW)
    (v,) = cmp.variants
    assert not v.group.sample_ok and v.vs_baseline.verdict == "not enough data"
    assert v.vs_baseline.ratio.high is not None and v.vs_baseline.ratio.high < 1
