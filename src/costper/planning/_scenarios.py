"""Scenario sets: built-in examples, TOML files and JSON requests, and their JSON shape.

The CLI, the HTTP API and the dashboard's calculator page all ask the same
question ("these scenarios, side by side"), so they share one way of
assembling scenarios and one result shape: `calc_json`.

Layering, lowest first: built-in defaults, the config's [costs], a named
example (or a file scenario's `example = "..."`), the scenario's own values,
then flags given on the command line (which apply to every scenario shown).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from costper._format import round_money, whole_percent
from costper.config import Config, Price
from costper.errors import InputError
from costper.planning._calculator import (
    EXAMPLES,
    PARAMETERS,
    Result,
    Scenario,
    build_scenario,
    change_pct,
    evaluate,
    to_decimal,
    verdict,
)


def defaults_from(config: Config | None) -> Scenario:
    """A custom scenario starts from the user's own escalation, review and per-call costs."""
    if config is None:
        return Scenario()
    c = config.costs
    return Scenario(
        escalation_cost=to_decimal(c.escalation_cost, "costs.escalation_cost"),
        review_cost=to_decimal(c.review_cost, "costs.review_cost"),
        orchestration=to_decimal(c.per_call_overhead, "costs.per_call_overhead"),
    )


def example(name: str, label: str = "scenario") -> Scenario:
    try:
        return EXAMPLES[name]
    except KeyError:
        known = ", ".join(EXAMPLES)
        raise InputError(
            f"{label}: unknown example {name!r} (built in: {known})", field=label, value=name
        ) from None


def _one(raw: Any, label: str, defaults: Scenario, name: str | None = None) -> Scenario:
    if not isinstance(raw, Mapping):
        raise InputError(f"{label}: expected a table of parameters, got {raw!r}", field=label)
    values = dict(raw)
    base = defaults
    if "example" in values:
        base = example(str(values.pop("example")), f"{label}.example")
    raw_name = values.pop("name", None)
    if raw_name is not None and not isinstance(raw_name, str):
        raise InputError(f"{label}.name: expected text, got {raw_name!r}", field=f"{label}.name")
    values.pop("note", None)
    return build_scenario(values, base=base, name=name or raw_name, label=label)


def load_scenario_file(path: str | Path, defaults: Scenario | None = None) -> list[Scenario]:
    """`[scenarios.NAME]` tables of parameters (snake_case), optionally `example = "..."`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise InputError("file: scenario file not found", file=str(p), field="file") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"not valid TOML: {e}", file=str(p)) from None
    extra = set(data) - {"scenarios"}
    if extra:
        raise InputError(
            f"unknown top-level key {sorted(extra)[0]!r} (expected [scenarios.NAME] tables)",
            file=str(p),
        )
    tables = data.get("scenarios")
    if not isinstance(tables, dict) or not tables:
        raise InputError("no [scenarios.NAME] tables", file=str(p))
    out = []
    for name, raw in tables.items():
        try:
            out.append(_one(raw, f"scenarios.{name}", defaults or Scenario(), name=name))
        except InputError as e:
            raise InputError(str(e), file=str(p), field=e.field, value=e.value) from None
    return out


def resolve(
    names: Sequence[str] = (),
    *,
    file: str | Path | None = None,
    overrides: Mapping[str, object] | None = None,
    defaults: Scenario | None = None,
) -> list[Scenario]:
    """The scenarios a `costper calc` invocation asks for, flags applied last.

    `names` may name built-in examples or scenarios of `file`; with neither a
    name nor a file, the flags alone make one scenario called "custom".
    """
    defaults = defaults or Scenario()
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    from_file = {s.name: s for s in load_scenario_file(file, defaults)} if file else {}
    if names:
        chosen = [from_file[n] if n in from_file else example(n) for n in names]
    elif from_file:
        chosen = list(from_file.values())
    else:
        chosen = [defaults]
    return [build_scenario(overrides, base=s) for s in chosen]


def _num(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def _exact(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def _money(d: Decimal | None) -> float | None:
    return None if d is None else float(round_money(d))


def _pct(new: Decimal | None, base: Decimal | None) -> int | None:
    p = change_pct(new, base)
    return None if p is None else whole_percent(p)


def _ratio(new: Decimal, base: Decimal) -> float | None:
    return None if base == 0 else float((new / base).quantize(Decimal("0.1"), ROUND_HALF_UP))


def result_dict(r: Result, base: Result | None = None) -> dict[str, Any]:
    """A result as JSON: money rounded as shown, exact Decimal strings under `exact`."""
    s = r.scenario
    d: dict[str, Any] = {
        "name": s.name,
        "note": s.note,
        "parameters": {
            p: (getattr(s, p) if p == "model" else _num(getattr(s, p))) for p in PARAMETERS
        },
        "price_source": r.price_source,
        "call_cost": _money(r.call_cost),
        "token_cost_per_intent": _money(r.token_cost),
        "extra_turns_cost": _money(r.extra_turns),
        "hidden_costs": {k: _money(v) for k, v in r.hidden().items()},
        "hidden_total": _money(sum(r.hidden().values(), Decimal(0))),
        "cost_per_intent": _money(r.cost_per_intent),
        "success_rate": float(r.success_rate),
        "cost_per_success": _money(r.cost_per_success),
        "calls_per_intent": float(r.calls_per_intent),
        "intents_per_month": float(s.intents),
        "monthly_total": _money(r.monthly_total),
        "exact": {
            "call_cost": _exact(r.call_cost),
            "token_cost_per_intent": _exact(r.token_cost),
            "cost_per_intent": _exact(r.cost_per_intent),
            "cost_per_success": _exact(r.cost_per_success),
            "monthly_total": _exact(r.monthly_total),
        },
    }
    if base is not None:
        d["vs_baseline"] = {
            "baseline": base.scenario.name,
            "cost_per_intent_pct": _pct(r.cost_per_intent, base.cost_per_intent),
            "cost_per_success_pct": _pct(r.cost_per_success, base.cost_per_success),
            "monthly_total_pct": _pct(r.monthly_total, base.monthly_total),
            "token_cost_pct": _pct(r.token_cost, base.token_cost),
            "token_cost_ratio": _ratio(r.token_cost, base.token_cost),
            "verdict": f"{verdict(r.cost_per_intent, base.cost_per_intent)} per intent, "
            f"{verdict(r.cost_per_success, base.cost_per_success)} per success",
        }
    return d


def results_json(results: Sequence[Result]) -> dict[str, Any]:
    base = results[0] if results else None
    return {
        "baseline": base.scenario.name if base else None,
        "scenarios": [result_dict(r, base if i else None) for i, r in enumerate(results)],
    }


def calc_json(
    params: Mapping[str, Any],
    *,
    config: Config | None = None,
    prices: Mapping[str, Price] | None = None,
) -> dict[str, Any]:
    """The calculator for the JSON API and the dashboard.

    `params` is one scenario (`{"example": "chatbot-mini", "escalation_rate": 0.2}`)
    or `{"scenarios": [...], "overrides": {...}}`; parameter names as in
    `calculator.PARAMETERS`. Bad values raise InputError naming e.g.
    `scenarios[1].retry_rate`, which the server turns into a 400.
    """
    if not isinstance(params, Mapping):
        raise InputError(f"expected a JSON object, got {type(params).__name__}")
    defaults = defaults_from(config)
    prices = prices if prices is not None else (config.prices if config else None)
    if "scenarios" in params:
        raws = params["scenarios"]
        if not isinstance(raws, list) or not raws:
            raise InputError("scenarios: expected a non-empty list", field="scenarios")
        extra = set(params) - {"scenarios", "overrides"}
        if extra:
            raise InputError(f"{sorted(extra)[0]}: unknown key (expected scenarios, overrides)")
        scenarios = [_one(raw, f"scenarios[{i}]", defaults) for i, raw in enumerate(raws)]
        overrides = params.get("overrides") or {}
        if not isinstance(overrides, Mapping):
            raise InputError("overrides: expected an object", field="overrides")
        scenarios = [build_scenario(overrides, base=s, label="overrides") for s in scenarios]
    else:
        scenarios = [_one(params, "scenario", defaults)]
    return results_json([evaluate(s, prices) for s in scenarios])


def examples_json() -> dict[str, Any]:
    """The built-in examples and their parameters, for a page to pre-fill a form."""
    return {
        name: {
            "note": s.note,
            "parameters": {
                p: (getattr(s, p) if p == "model" else _num(getattr(s, p))) for p in PARAMETERS
            },
        }
        for name, s in EXAMPLES.items()
    }
