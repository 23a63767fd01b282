"""The calculator page: two scenarios side by side, and API against self-hosted.

Before a team has telemetry it has guesses; this page turns them into the
article's arithmetic (via `scenarios.calc_json` and `breakeven.breakeven_json`,
the same functions as `costper calc` and `costper breakeven`). The URL holds
every value, `a_turns=5&b_success_rate=0.95`, so a what-if can be shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from costper.config import Config
from costper.errors import InputError
from costper.planning._breakeven import breakeven_json
from costper.planning._calculator import EXAMPLES
from costper.planning._scenarios import calc_json
from costper.server.charts import Panel, Point, row_panels, stacked_rows
from costper.server.formatting import money, money_tick

SCENARIO_FIELDS = (
    ("intents", "Intents a month"),
    ("model", "Model (priced from the catalog)"),
    ("input_tokens", "Input tokens a call"),
    ("output_tokens", "Output tokens a call"),
    ("price_input", "Price input / 1M tokens"),
    ("price_output", "Price output / 1M tokens"),
    ("token_cost", "Or: token cost a call"),
    ("turns", "Turns (calls) an intent"),
    ("retry_rate", "Retry rate"),
    ("success_rate", "Success rate"),
    ("escalation_rate", "Escalation rate"),
    ("escalation_cost", "Escalation cost"),
    ("review_rate", "Review rate"),
    ("review_cost", "Review cost"),
    ("orchestration", "Orchestration a call"),
    ("infra", "Infra a month"),
)
DEPLOYMENT_FIELDS = (
    ("api_price", "API price / 1M tokens"),
    ("tokens_per_request", "Tokens a request"),
    ("gpu_price", "GPU price an hour"),
    ("hours", "Hours a month"),
    ("throughput", "Tokens/s a GPU"),
    ("utilisation", "Utilisation"),
    ("ops", "Ops a month"),
    ("api_success_rate", "API success rate"),
    ("self_success_rate", "Self-hosted success rate"),
    ("failure_cost", "Cost of a failure"),
)
PARTS = ("Tokens, first turn", "Extra turns", "Retries", "Escalation", "Review",
         "Orchestration", "Infra")  # fmt: skip
KINDS = ("tokens", "extra-turns", "retries", "escalation", "review", "overhead", "infra")
SIDES = (("a", "chatbot-mini"), ("b", "chatbot-reasoning"))


def shown(v: Any) -> str:
    """A parameter as typed in a form: 10000, 0.15, 2533 (no 10000.0, no 1E+4)."""
    if v is None:
        return ""
    if isinstance(v, float | int):
        return format(Decimal(str(v)).normalize(), "f")
    return str(v)


def _prefixed(params: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix) and v.strip()}


def _parts(s: dict[str, Any]) -> list[float]:
    h = s["hidden_costs"]
    first = (s["token_cost_per_intent"] or 0.0) - (s["extra_turns_cost"] or 0.0)
    return [first, s["extra_turns_cost"], h["retries"], h["escalation"], h["review"],
            h["orchestration"], h["infra"]]  # fmt: skip


def scenarios(params: Mapping[str, str], config: Config) -> dict[str, Any]:
    chosen = {side: params.get(side) or default for side, default in SIDES}
    for side, name in chosen.items():
        if name != "custom" and name not in EXAMPLES:
            raise InputError(
                f"{side}: unknown example {name!r} (built in: {', '.join(EXAMPLES)}, or custom)",
                field=side,
                value=name,
            )
    raws = []
    for side, name in chosen.items():
        values: dict[str, Any] = _prefixed(params, f"{side}_")
        raws.append(values if name == "custom" else {"example": name, **values})
    ctx: dict[str, Any] = {
        "chosen": chosen, "examples": EXAMPLES, "fields": SCENARIO_FIELDS, "error": None,
    }  # fmt: skip
    try:
        result = calc_json({"scenarios": raws}, config=config)
    except InputError as e:
        ctx.update(error=str(e), result=None)
        ctx["values"] = {side: _prefixed(params, f"{side}_") for side, _ in SIDES}
        return ctx
    found = result["scenarios"]
    ctx["result"] = result
    ctx["values"] = {
        side: {k: shown(v) for k, v in s["parameters"].items()}
        for (side, _), s in zip(SIDES, found, strict=True)
    }
    ctx["chart"] = stacked_rows(
        [f"A: {found[0]['name']}", f"B: {found[1]['name']}"],
        PARTS,
        [_parts(s) for s in found],
        money,
        label="Cost per intent, by part",
        kinds=KINDS,
        label_width=190,
        plot_width=420,
    )
    return ctx


def deployment(params: Mapping[str, str], config: Config) -> dict[str, Any]:
    values: dict[str, Any] = _prefixed(params, "be_")
    extra = values.pop("requests", "")
    values.setdefault("failure_cost", config.costs.escalation_cost)
    volumes = [v.strip() for v in extra.replace(",", " ").split() if v.strip()]
    ctx: dict[str, Any] = {"be_fields": DEPLOYMENT_FIELDS, "be_requests": extra, "be_error": None}
    try:
        be = breakeven_json({**values, "requests": volumes})
    except InputError as e:
        ctx.update(be=None, be_error=str(e), be_values=_prefixed(params, "be_"))
        return ctx
    rows = be["rows"]
    ctx["be"] = be
    ctx["be_values"] = {k: shown(v) for k, v in be["parameters"].items()}
    labels = [f"{r['requests']:,} requests" for r in rows]
    ctx["be_chart"] = row_panels(
        labels,
        [
            Panel(
                "API compute a month",
                [Point(r["api_compute"]) for r in rows],
                money,
                tick_fmt=money_tick,
            ),
            Panel(
                "Self-hosted a month",
                [Point(r["self_compute"]) for r in rows],
                money,
                tick_fmt=money_tick,
            ),
            Panel("API cost per success", [Point(r["api_per_success"]) for r in rows], money),
            Panel("Self-hosted per success", [Point(r["self_per_success"]) for r in rows], money),
        ],
        ok=[True] * len(rows),
        label="API against self-hosted, by monthly volume",
        panel_width=230,
    )
    return ctx
