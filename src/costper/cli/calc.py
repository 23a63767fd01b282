"""`costper calc`: scenarios side by side. Parse, call the core, render.

Numbers are taken as text and parsed as Decimal, so `--retry-rate 0.1` is
exactly 0.1 and errors name the flag (`--retry-rate: must be a rate between 0
and 1, got 1.5`). `breakeven` and `whatif` live beside it and register on import.
"""

from __future__ import annotations

from typing import Annotated

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import ConfigOption, DbOption, FormatOption, check_format, config, opt
from costper.planning._calculator import EXAMPLES, Result, evaluate, verdict


@app.command("calc")
def calc_cmd(
    scenario: Annotated[
        list[str] | None,
        opt(
            "A built-in example or a scenario of --file; repeat "
            f"to compare. Built in: {', '.join(EXAMPLES)}.",
            "--scenario",
            "-s",
        ),
    ] = None,
    file: Annotated[str | None, opt("TOML file of [scenarios.NAME] tables.", "--file")] = None,
    intents: Annotated[str | None, opt("Intents (user goals) a month.", "--intents")] = None,
    input_tokens: Annotated[str | None, opt("Input tokens per call.", "--input-tokens")] = None,
    output_tokens: Annotated[str | None, opt("Output tokens per call.", "--output-tokens")] = None,
    price_input: Annotated[str | None, opt("Price per 1M input tokens.", "--price-input")] = None,
    price_output: Annotated[
        str | None, opt("Price per 1M output tokens.", "--price-output")
    ] = None,
    model: Annotated[
        str | None, opt("Catalog model (provider/model) for prices.", "--model")
    ] = None,
    token_cost: Annotated[
        str | None, opt("Token cost per call, instead of tokens x price.", "--token-cost")
    ] = None,
    turns: Annotated[str | None, opt("Turns (calls) per intent.", "--turns")] = None,
    retry_rate: Annotated[str | None, opt("Share of calls retried (0-1).", "--retry-rate")] = None,
    success_rate: Annotated[
        str | None,
        opt("Share of intents resolved (0-1); default 1 - escalation rate.", "--success-rate"),
    ] = None,
    escalation_rate: Annotated[
        str | None, opt("Share of intents escalated to a person (0-1).", "--escalation-rate")
    ] = None,
    escalation_cost: Annotated[
        str | None,
        opt("Cost of one escalation (default 15.00 = 10 min at 90/h).", "--escalation-cost"),
    ] = None,
    review_rate: Annotated[
        str | None, opt("Share of intents reviewed by a person (0-1).", "--review-rate")
    ] = None,
    review_cost: Annotated[
        str | None, opt("Cost of one review (default 2.00).", "--review-cost")
    ] = None,
    orchestration: Annotated[
        str | None, opt("Orchestration cost per call.", "--orchestration")
    ] = None,
    infra: Annotated[str | None, opt("Fixed infrastructure per month.", "--infra")] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Cost per intent and per success of scenarios, side by side.

    Flags apply to every scenario shown, over an example's or a file's values;
    differences are against the first scenario.
    """
    from costper.planning._scenarios import defaults_from, resolve, results_json

    check_format(fmt)
    cfg = config(db, config_file)
    flags = dict(
        intents=intents,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        price_input=price_input,
        price_output=price_output,
        model=model,
        token_cost=token_cost,
        turns=turns,
        retry_rate=retry_rate,
        success_rate=success_rate,
        escalation_rate=escalation_rate,
        escalation_cost=escalation_cost,
        review_rate=review_rate,
        review_cost=review_cost,
        orchestration=orchestration,
        infra=infra,
    )
    scenarios = resolve(scenario or (), file=file, overrides=flags, defaults=defaults_from(cfg))
    results = [evaluate(s, cfg.prices) for s in scenarios]
    doc = results_json(results)
    if fmt == "json":
        render.write_json(doc)
    elif fmt == "csv":
        render.write_csv(render.flatten(d) for d in doc["scenarios"])
    else:
        print_scenarios(results)


def print_scenarios(results: list[Result]) -> None:
    con = render.console()
    base = results[0]
    t = render.table(
        "Cost per intent and per success",
        [("", "left")] + [(r.scenario.name, "right") for r in results],
    )
    lines: list[tuple[str, list[str]]] = [
        (
            "price from",
            [
                r.price_source
                + (f" {r.scenario.model}" if r.price_source in ("catalog", "config") else "")
                for r in results
            ],
        ),
        ("token cost per call", [render.money(r.call_cost) for r in results]),
        ("turns per intent", [format(r.scenario.turns.normalize(), "f") for r in results]),
        ("token cost per intent", [render.money(r.token_cost) for r in results]),
        ("  of which extra turns", [render.money(r.extra_turns) for r in results]),
        ("retries", [render.money(r.retries) for r in results]),
        ("escalation", [render.money(r.escalation) for r in results]),
        ("review", [render.money(r.review) for r in results]),
        ("orchestration", [render.money(r.orchestration) for r in results]),
        ("infra", [render.money(r.infra) for r in results]),
        ("cost per intent", [render.money(r.cost_per_intent) for r in results]),
        ("success rate", [render.rate(r.success_rate) for r in results]),
        ("cost per success", [render.money(r.cost_per_success) for r in results]),
        ("intents a month", [f"{r.scenario.intents.normalize():,f}" for r in results]),
        ("monthly total", [render.money(r.monthly_total) for r in results]),
    ]
    if len(results) > 1:
        lines.append(
            (
                f"per intent vs {base.scenario.name}",
                ["—"] + [verdict(r.cost_per_intent, base.cost_per_intent) for r in results[1:]],
            )
        )
        lines.append(
            (
                f"per success vs {base.scenario.name}",
                ["—"] + [verdict(r.cost_per_success, base.cost_per_success) for r in results[1:]],
            )
        )
    bold = {"cost per intent", "cost per success"}
    for label, cells in lines:
        t.add_row(label, *cells, style="bold" if label in bold else None)
    con.print(t)
    for r in results[1:]:
        ratio = r.token_cost / base.token_cost if base.token_cost else None
        tokens = f"; its token cost is {ratio:.1f}x {base.scenario.name}'s" if ratio else ""
        con.print(
            f"{r.scenario.name} is {verdict(r.cost_per_intent, base.cost_per_intent)} per intent "
            f"than {base.scenario.name} ({render.money(r.cost_per_intent)} vs "
            f"{render.money(base.cost_per_intent)}){tokens}."
        )
    for r in results:
        if r.scenario.note:
            con.print(f"[dim]{r.scenario.name}: {r.scenario.note}[/dim]")
