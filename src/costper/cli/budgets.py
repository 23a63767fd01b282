"""`costper budgets`: each `[[budgets]]` entry's burn and projection in its current period."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FormatOption,
    check_format,
    config,
    opt,
    parse_time,
    source_for,
)
from costper.errors import InputError

if TYPE_CHECKING:  # budgets read the store (Ibis, DuckDB): loaded when the command runs
    from costper.budgets._budgets import BudgetStatus


@app.command("budgets")
def budgets_cmd(
    at: Annotated[
        str | None, opt("Evaluate as of this time instead of now (date or date-time).", "--at")
    ] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Spend and cost-per-success budgets: value so far, burn, linear projection, status."""
    from costper.budgets._budgets import PROJECTION_METHOD, evaluate_budgets

    check_format(fmt)
    cfg = config(db, config_file)
    if not cfg.budgets:
        raise InputError(
            "budgets: none configured; add [[budgets]] entries to costper.toml "
            '(metric = "spend" or "cost_per_success", limit, period = "day"|"week"|"month")',
            field="config",
        )
    now = parse_time(at, "at")
    with source_for(cfg, read_only=True) as store:
        statuses = evaluate_budgets(store, cfg, now)
    rows = [s.to_dict() for s in statuses]
    if fmt == "json":
        render.write_json({"method": PROJECTION_METHOD, "budgets": rows})
    elif fmt == "csv":
        render.write_csv(_flat(r) for r in rows)
    else:
        print_budgets(statuses)


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "thresholds": " ".join(f"{t:g}" for t in r["thresholds"]),
            "crossed": " ".join(f"{t:g}" for t in r["crossed"])}  # fmt: skip


def _value(s: BudgetStatus) -> str:
    if s.value is None:
        return "-"
    if s.budget.metric == "cost_per_success":
        return render.interval({"value": s.value, "low": s.low, "high": s.high})
    return render.money(s.value)


def print_budgets(statuses: list[BudgetStatus]) -> None:
    from costper.budgets._budgets import PROJECTION_METHOD

    con = render.console()
    currency = statuses[0].currency
    t = render.table(
        f"Budgets in their current period ({currency})",
        [
            (h, "left" if h in ("budget", "period", "status") else "right")
            for h in (
                "budget",
                "period",
                "limit",
                "so far",
                "burn",
                "projected",
                "status",
            )
        ],  # fmt: skip
    )
    for s in statuses:
        b = s.budget
        burn, proj = s.burn, s.projected
        t.add_row(
            b.name, f"{b.period}, {render.pct(s.elapsed_share, 0)} gone",
            render.money(b.limit) + (" a success" if b.metric == "cost_per_success" else ""),
            _value(s), "-" if burn is None else render.pct(burn, 0),
            "-" if proj is None else f"{render.money(proj)} ({render.pct(proj / b.limit, 0)})",
            s.status,
        )  # fmt: skip
    con.print(t)
    con.print(f"[dim]Projection: {PROJECTION_METHOD}.[/dim]")
