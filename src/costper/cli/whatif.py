"""`costper whatif`: another model on stored data, and the cheapest model per feature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FormatOption,
    SinceOption,
    UntilOption,
    WideOption,
    check_format,
    config,
    opt,
    source_for,
    time_range,
)
from costper.errors import InputError

if TYPE_CHECKING:
    from costper.planning._recommendation import Recommendation
    from costper.planning._whatif import WhatIf


@app.command("whatif")
def whatif_cmd(
    feature: Annotated[
        str | None,
        opt("The feature to look at; without it, a recommendation per feature.", "--feature"),
    ] = None,
    model: Annotated[
        list[str] | None,
        opt(
            "Another model (provider/model) to price the feature's traffic at; repeatable.",
            "--model",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        opt("The incumbent model (default: the one with most sessions).", "--baseline"),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
    wide: WideOption = False,
) -> None:
    """Cost per success with another model, and the cheapest model per feature."""
    from costper.planning._recommendation import recommend
    from costper.planning._whatif import what_if

    check_format(fmt)
    cfg = config(db, config_file)
    s, u = time_range(since, until)
    if feature is None and (model or baseline):
        raise InputError("--model/--baseline need --feature", field="--feature")
    with source_for(cfg, read_only=True) as store:
        if feature is None:
            recs = recommend(store, config=cfg, since=s, until=u)
            if fmt == "json":
                render.write_json(
                    {"confidence": cfg.confidence, "recommendations": [r.to_dict() for r in recs]}
                )
            elif fmt == "csv":
                render.write_csv(render.flatten(r.to_dict()) for r in recs)
            else:
                print_recommendations(recs, cfg.confidence, wide=wide)
            return
        w = what_if(store, feature, model or [], baseline=baseline, config=cfg, since=s, until=u)
    if fmt == "json":
        render.write_json(w.to_dict())
    elif fmt == "csv":
        render.write_csv(render.flatten(e.to_dict()) for e in w.estimates)
    else:
        print_whatif(w, wide=wide)


def print_whatif(w: WhatIf, *, wide: bool = False) -> None:
    from costper.cli.fit import Col, FitTable

    con = render.console()
    t = FitTable(
        f"{w.feature}: cost per success by model (confidence {w.confidence:.0%}; incumbent "
        f"{w.incumbent})",
        [
            Col("model", "left", key=True),
            Col("basis", "left", rank=6),
            Col("labeled", rank=4),
            Col("success", rank=3),
            Col("escalated", rank=7),
            Col("per intent", rank=5),
            Col("per success", rank=1),
            Col("vs incumbent", rank=2),
        ],
        wide=wide,
        key_figures=3,
    )
    for e in w.estimates:
        change = (
            "—"
            if e.change_pct is None or e.model == w.incumbent
            else render.signed_pct(e.change_pct)
        )
        if e.vs_incumbent is not None:
            change += f" ({e.vs_incumbent.verdict})"
        t.add_row(
            e.model,
            e.basis + (f" ({e.price_source})" if e.price_source else ""),
            f"{e.sessions:,}",
            render.interval(e.success_rate, render.pct),
            render.interval(e.escalation_rate, render.pct),
            render.interval(e.cost_per_intent),
            render.interval(e.cost_per_success),
            change,
        )
    t.print(con)
    if any(e.basis == "repriced" for e in w.estimates):
        con.print(
            f"[dim]repriced: {render.safe(w.incumbent)}'s sessions priced at the other model's rates, same "
            "tokens and outcomes; it says nothing about whether that model would succeed as "
            "often.[/dim]"
        )
    con.print(render.safe(_sentence(w.recommendation)))


def _sentence(r: Recommendation) -> str:
    from costper.planning._recommendation import UNSURE

    if r.recommended:
        verb = "switch to" if r.verdict == "switch" else r.verdict
        return f"{r.feature}: {verb} {r.recommended}: {r.reason}."
    if r.verdict == UNSURE:
        more = (
            f"; about {r.sessions_needed:,} more labeled sessions needed"
            if r.sessions_needed
            else ""
        )
        return f"{r.feature}: not enough evidence ({r.reason}){more}."
    return f"{r.feature}: {r.verdict} ({r.reason})."


def print_recommendations(
    recs: list[Recommendation], confidence: float, *, wide: bool = False
) -> None:
    from costper.cli.fit import Col, FitTable

    con = render.console()
    t = FitTable(
        f"Cheapest model per success, by feature (confidence {confidence:.0%})",
        [
            Col("feature", "left", key=True),
            Col("cheapest", "left", key=True),
            Col("per success", rank=2),
            Col("against", "left", key=True),
            Col("against per success", rank=4),
            Col("saving", rank=3),
            Col("verdict", "left", rank=1),
            Col("more sessions", rank=5),
        ],
        wide=wide,
        key_figures=3,
    )
    for r in recs:
        t.add_row(
            r.feature,
            r.best,
            render.interval(r.best_cps),
            r.compared_with or "—",
            "—" if r.other_cps is None else render.interval(r.other_cps),
            "—" if r.saving_pct is None else f"{-r.saving_pct:.0f}%",
            r.verdict,
            "—" if not r.sessions_needed else f"{r.sessions_needed:,}",
        )
    t.print(con)
    for r in recs:
        con.print(f"[dim]{render.safe(_sentence(r))}[/dim]")
