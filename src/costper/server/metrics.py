"""`GET /metrics`: the store's figures in the Prometheus text exposition format (0.0.4).

Every value is a gauge read from the store at scrape time (cached per data
version): spend and calls per feature and model over all stored calls (a
bill joined later can restate spend, so it is not a counter), cost per
success and success rate per feature with their interval bounds (labeled
sessions, the report's method), and each budget's limit, value, burn and
projection in its current period, and what `costper anomalies` flags (runaway
sessions, wasted spend, spend-rate anomalies per feature). Label values are escaped as the format
says (backslash, double quote, newline); a missing figure is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from costper.budgets._budgets import evaluate_budgets
from costper.server.queries import Queries
from costper.server.result_cache import cache_of
from costper.store._source import to_arrow

router = APIRouter()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: Any) -> str:
    if v is None:
        return "NaN"
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f)


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, object], Any]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            self.lines.append(
                f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}"
            )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def spend_by_feature_model(q: Queries) -> list[dict[str, Any]]:
    def compute() -> list[dict[str, Any]]:
        calls = q.store.table("calls")
        agg = calls.group_by(["feature", "model"]).aggregate(
            spend=(calls.cost.fill_null(0) + calls.infra_cost.fill_null(0)).sum(),
            calls=calls.count(),
            unpriced=calls.cost.isnull().sum(),
        )
        rows: list[dict[str, Any]] = to_arrow(
            q.store, agg.order_by(["feature", "model"])
        ).to_pylist()
        return rows

    out: list[dict[str, Any]] = q.cached(("metrics-spend",), compute)
    return out


def exposition(q: Queries) -> str:
    from costper.pricing._currency import ESTIMATES, Rates

    cfg = q.config
    factor = Rates.of(cfg).factor(ESTIMATES, cfg.currency)
    cur = cfg.currency
    e = Exposition()
    e.family("costper_data_version", "The store's data version.", [({}, q.version)])
    rows = spend_by_feature_model(q)
    e.family(
        "costper_spend",
        "Cost of all stored calls (priced or billed, plus infra), report currency.",
        ((
            {"feature": r["feature"], "model": r["model"] or "", "currency": cur},
            (r["spend"] or 0.0) * factor,
        ) for r in rows),
    )  # fmt: skip
    e.family(
        "costper_calls",
        "Stored LLM calls.",
        (({"feature": r["feature"], "model": r["model"] or ""}, r["calls"]) for r in rows),
    )
    e.family(
        "costper_unpriced_calls",
        "Stored calls without a price (their cost is unknown, never zero).",
        (({"feature": r["feature"], "model": r["model"] or ""}, r["unpriced"]) for r in rows),
    )
    groups = q.report(["feature"])["groups"]
    for name, field, what in (
        ("costper_cost_per_success", "cost_per_success", "Cost per success (labeled sessions)"),
        ("costper_cost_per_intent", "cost_per_intent", "Cost per intent (labeled sessions)"),
        ("costper_success_rate", "success_rate", "Success rate (labeled sessions)"),
    ):
        money = field != "success_rate"
        e.family(
            name,
            f"{what}; bound is value, low or high (interval at confidence {cfg.confidence:g}).",
            (
                (
                    {"feature": g["key"]["feature"], "bound": bound,
                     **({"currency": cur} if money else {})},
                    g[field][bound],
                )
                for g in groups
                for bound in ("value", "low", "high")
            ),
        )  # fmt: skip
    e.family(
        "costper_sessions",
        "Sessions per feature (all, labeled or pending).",
        (
            ({"feature": g["key"]["feature"], "state": state}, g[key])
            for g in groups
            for state, key in (("all", "sessions"), ("labeled", "labeled_sessions"),
                               ("pending", "pending_sessions"))
        ),
    )  # fmt: skip
    if cfg.budgets:
        statuses = q.cached(
            ("metrics-budgets", q.now.replace(second=0, microsecond=0)),
            lambda: [s.to_dict() for s in evaluate_budgets(q.store, cfg, q.now)],
        )
        for name, key, what in (
            ("costper_budget_limit", "limit", "The budget's limit"),
            ("costper_budget_value", "value", "Spend so far, or cost per success, this period"),
            ("costper_budget_burn_ratio", "burn", "Value / limit"),
            ("costper_budget_projected", "projected", "Spend projected linearly to period end"),
            ("costper_budget_projected_burn_ratio", "projected_burn", "Projected / limit"),
            ("costper_budget_period_elapsed_ratio", "elapsed_share", "Share of the period gone"),
        ):
            e.family(
                name,
                f"{what}.",
                (({"budget": s["name"], "metric": s["metric"], "period": s["period"]}, s[key])
                 for s in statuses),
            )  # fmt: skip
    _anomalies(e, q, [g["key"]["feature"] for g in groups], cur)
    return e.text()


def _anomalies(e: Exposition, q: Queries, features: list[str], currency: str) -> None:
    """`costper anomalies` over everything stored, per feature (0 where nothing is flagged),
    so an alert rule can say `costper_runaway_sessions > 0`."""
    an = q.anomalies()
    names = sorted(
        set(features) | {r["feature"] for part in ("sessions", "wasted", "spend") for r in an[part]}
    )
    count: dict[str, dict[str, float]] = {
        n: {"runaway": 0, "wasted": 0.0, "spend": 0} for n in names
    }
    for r in an["sessions"]:
        count[r["feature"]]["runaway"] += 1
    for r in an["wasted"]:
        count[r["feature"]]["wasted"] += r["wasted"]
    for r in an["spend"]:
        count[r["feature"]]["spend"] += 1
    e.family(
        "costper_runaway_sessions",
        "Sessions far past their feature's baseline or in a tight repeat loop (costper anomalies).",
        (({"feature": n}, count[n]["runaway"]) for n in names),
    )
    e.family(
        "costper_wasted_spend",
        "Cost of flagged sessions beyond their feature's baseline, report currency.",
        (({"feature": n, "currency": currency}, count[n]["wasted"]) for n in names),
    )
    e.family(
        "costper_spend_anomalies",
        f"Periods ({an['period']}) whose spend is anomalous against the same phase before.",
        (({"feature": n}, count[n]["spend"]) for n in names),
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> PlainTextResponse:
    state = request.app.state
    q = Queries(state.store, state.config, cache_of(state))
    return PlainTextResponse(exposition(q), media_type=CONTENT_TYPE)
