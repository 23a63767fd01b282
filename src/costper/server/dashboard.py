"""What each page shows: report results turned into tables and chart shapes.

Pure functions of the engine's JSON-ready results, so a page's numbers are
the API's numbers by construction. The templates only lay them out.
"""

from __future__ import annotations

from typing import Any

from costper.engine._difference import compare_ratios
from costper.engine._report_model import Group
from costper.engine._rollup import coarsen
from costper.server.charts import Chart, Panel, Point, Series, row_panels, stacked_rows, trend
from costper.server.formatting import money, percent
from costper.server.params import Filters
from costper.server.queries import Queries

PARTS = ("LLM, first tries", "Retries", "Evals", "Escalation", "Review", "Overhead", "Infra")
KINDS = ("tokens", "retries", "evals", "escalation", "review", "overhead", "infra")


def _pct(v: Any) -> str:
    return percent(v, 0)


def point(iv: dict[str, Any] | None) -> Point:
    if not iv:
        return Point(None)
    return Point(iv.get("value"), iv.get("low"), iv.get("high"))


def metric_panels(
    groups: list[dict[str, Any]], labels: list[str], *, label: str, tokens: bool = True
) -> Chart:
    """Cost per token beside success rate and cost per success: the efficiency paradox."""
    panels = []
    if tokens:
        panels.append(
            Panel("Cost per 1M tokens", [Point(g["cost_per_1m_tokens"]) for g in groups], money)
        )
    else:
        panels.append(
            Panel("Cost per intent", [point(g["cost_per_intent"]) for g in groups], money)
        )
    panels.append(Panel("Success rate", [point(g["success_rate"]) for g in groups], _pct, 1.0))
    panels.append(Panel("Cost per success", [point(g["cost_per_success"]) for g in groups], money))
    return row_panels(labels, panels, ok=[g["sample_ok"] for g in groups], label=label)


def _series(
    groups: list[dict[str, Any]], period: str, series_key: str | None
) -> tuple[list[str], list[Series]]:
    periods = sorted({g["key"][period] for g in groups})
    names = sorted({g["key"][series_key] for g in groups}) if series_key else ["all"]
    at = {((g["key"][series_key] if series_key else "all"), g["key"][period]): g for g in groups}
    series = []
    for name in names:
        found = [at.get((name, p)) for p in periods]
        series.append(
            Series(
                str(name),
                [point(g["cost_per_success"]) if g else None for g in found],
                [bool(g and g["sample_ok"]) for g in found],
            )
        )
    return periods, series


def trend_chart(groups: list[dict[str, Any]], period: str) -> Chart | None:
    if not groups:
        return None
    periods, series = _series(groups, period, None)
    return trend(periods, series, money, label=f"Cost per success by {period}")


def trend_multiples(
    groups: list[dict[str, Any]], period: str, series_key: str
) -> list[tuple[str, Chart]]:
    """One small chart per feature, each on its own scale: a $0.04 feature and a
    $3 one on one axis would flatten the cheap one to a line on the floor."""
    if not groups:
        return []
    periods, series = _series(groups, period, series_key)
    return [
        (s.name, trend(periods, [s], money, label=f"{s.name}: cost per success by {period}",
                       width=370, height=170))
        for s in series
    ]  # fmt: skip


def per_intent_parts(g: dict[str, Any]) -> list[float]:
    n = g["labeled_sessions"] or 0
    if not n:
        return [0.0] * len(PARTS)
    c = g["cost"]
    parts = (
        c["llm"] - c["retries"],
        c["retries"],
        c.get("evals", 0.0),
        c["escalation"],
        c["review"],
        c["overhead"],
        c["infra"],
    )
    return [p / n for p in parts]


def model_paradox(by_model: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per feature with two or more models: each model's cost per 1M tokens beside its
    cost per success, marking the cheapest of each, so the article's contrast
    (cheapest tokens, dearest outcomes) is on the first screen."""
    features: dict[str, list[dict[str, Any]]] = {}
    for g in by_model:
        if g["cost_per_1m_tokens"] is not None and g["labeled_sessions"]:
            features.setdefault(str(g["key"]["feature"]), []).append(g)
    out = []
    for name, models in sorted(features.items()):
        if len(models) < 2:
            continue
        per_token = min(models, key=lambda g: g["cost_per_1m_tokens"])
        priced = [g for g in models if g["cost_per_success"]["value"] is not None]
        per_success = min(priced, key=lambda g: g["cost_per_success"]["value"]) if priced else None
        rows = sorted(models, key=lambda g: g["cost_per_1m_tokens"])
        out.append(
            {
                "feature": name,
                "rows": rows,
                "cheapest_tokens": str(per_token["key"]["model"]),
                "cheapest_success": None
                if per_success is None
                else str(per_success["key"]["model"]),
                "paradox": _separated(per_success, per_token),
            }
        )
    return sorted(out, key=lambda f: not f["paradox"])


def _separated(cheaper: dict[str, Any] | None, dearer: dict[str, Any]) -> bool:
    """Only a contrast the data can bear: both groups enough to decide on and their
    cost-per-success intervals apart."""
    if cheaper is None or cheaper is dearer or not (cheaper["sample_ok"] and dearer["sample_ok"]):
        return False
    high, low = cheaper["cost_per_success"]["high"], dearer["cost_per_success"]["low"]
    return high is not None and low is not None and high < low


def overview(q: Queries, f: Filters) -> dict[str, Any]:
    fine = q.groups(["feature", "model", f.period], f.since, f.until, f.feature)
    groups = q.view(fine, ["feature"])
    overall = q.view(fine, [])
    labels = [str(g["key"]["feature"]) for g in groups]
    paradox = None
    if groups:
        paradox = metric_panels(
            groups, labels, label="Cost per token beside cost per success, per feature"
        )
    return {
        "report": {
            "confidence": q.config.confidence,
            "unpriced_calls": sum(g["unpriced_calls"] for g in groups),
        },
        "groups": groups,
        "overall": overall[0] if overall else None,
        "paradox": paradox,
        "models": model_paradox(q.view(fine, ["feature", "model"])),
        "trends": trend_multiples(q.view(fine, ["feature", f.period]), f.period, "feature"),
        "anomalies": q.anomalies(
            f.since, f.until, f.feature if f.feature in q.features() else None
        ),
    }


def _verdicts(q: Queries, by_model: list[Group]) -> tuple[str | None, dict[str, Any]]:
    """Each model against the one with most sessions, as `costper compare` does it."""
    if len(by_model) < 2:
        return None, {}
    base = max(by_model, key=lambda m: (m.labeled_sessions, str(m.key["model"])))
    conf = q.config.confidence
    return str(base.key["model"]), {
        str(m.key["model"]): compare_ratios(
            m.sums, base.sums, conf, decidable=m.sample_ok and base.sample_ok
        ).to_dict()
        for m in by_model
        if m is not base
    }


def feature(q: Queries, f: Filters, name: str) -> dict[str, Any]:
    fine = q.groups(["model", "turns", "prompt_version", f.period], f.since, f.until, name)
    summary = q.view(fine, [])
    models = coarsen(fine, ["model"], q.config)
    by_model = [m.to_dict() for m in models]
    by_turns = q.view(fine, ["turns"])
    by_prompt = q.view(fine, ["prompt_version"])
    g = summary[0] if summary else None
    baseline, verdicts = _verdicts(q, models)
    ctx: dict[str, Any] = {
        "name": name, "g": g, "by_model": by_model, "by_turns": by_turns, "by_prompt": by_prompt,
        "top": [], "verdicts": verdicts, "baseline": baseline,
    }  # fmt: skip
    if g is None:
        return ctx
    ctx["breakdown"] = stacked_rows(
        ["All sessions"] + [str(m["key"]["model"]) for m in by_model],
        PARTS,
        [per_intent_parts(r) for r in [g, *by_model]],
        money,
        label=f"Cost per intent of {name}, by part",
        kinds=KINDS,
    )
    ctx["turns_chart"] = metric_panels(
        by_turns,
        [f"{t['key']['turns']} turn" + ("" if t["key"]["turns"] == "1" else "s") for t in by_turns],
        label="Cost and success by turns",
        tokens=False,
    )
    ctx["models_chart"] = metric_panels(
        by_model, [str(m["key"]["model"]) for m in by_model], label="Models compared"
    )
    if len(by_prompt) > 1:
        ctx["prompts_chart"] = metric_panels(
            by_prompt, [str(p["key"]["prompt_version"]) for p in by_prompt], label="Prompt versions"
        )
    ctx["top"] = q.top_sessions(name, f.since, f.until)
    ctx["trend"] = trend_chart(q.view(fine, [f.period]), f.period)
    return ctx


def session(q: Queries, session_id: str) -> dict[str, Any] | None:
    detail = q.session(session_id)
    if detail is None:
        return None
    s = detail["summary"]
    chart = None
    if s:
        parts = [
            s["llm"] - s["retries"],
            s["retries"],
            s["escalation"],
            s["review"],
            s["overhead"],
            s["infra"],
        ]
        chart = stacked_rows(
            ["This session"],
            PARTS,
            [parts],
            money,
            label="Cost of this session, by part",
            kinds=KINDS,
        )
    return {"detail": detail, "s": s, "chart": chart}
