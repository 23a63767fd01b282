"""`costper anomalies`: runaway sessions with their wasted spend, and spend-rate spikes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FeatureOption,
    FormatOption,
    SinceOption,
    UntilOption,
    WideOption,
    check_format,
    config,
    source_for,
    time_range,
)
from costper.cli.remote import ServerOption, get_json, server_for

if TYPE_CHECKING:  # the signals read the store (Ibis): loaded when the command runs
    from costper.signals._anomalies import Anomalies


@app.command("anomalies")
def anomalies_cmd(
    since: SinceOption = None,
    until: UntilOption = None,
    feature: FeatureOption = None,
    period: Annotated[
        str, typer.Option("--period", help="Spend-rate period: day or hour.")
    ] = "day",
    fmt: FormatOption = "table",
    wide: WideOption = False,
    db: DbOption = None,
    config_file: ConfigOption = None,
    server: ServerOption = None,
) -> None:
    """Sessions far past their feature's baseline or looping, the spend they wasted
    per feature and day, and features spending far faster than usual.

    While `costper serve` holds the store, the answer is read through it."""
    from costper.signals._anomalies import Anomalies, anomalies
    from costper.signals._spend_rate import check_period

    check_format(fmt)
    check_period(period)
    cfg = config(db, config_file)
    s, u = time_range(since, until)
    url = server_for(cfg, server)
    if url is not None:
        params = {"since": since, "until": until, "feature": feature, "period": period}
        result = Anomalies.from_dict(get_json(url, "/api/anomalies", params, cfg))
    else:
        with source_for(cfg) as store:
            result = anomalies(store, since=s, until=u, feature=feature, period=period, config=cfg)
    if fmt == "json":
        render.write_json(result.to_dict())
    elif fmt == "csv":
        render.write_csv(result.rows())
    else:
        print_anomalies(result, wide=wide)


def print_anomalies(a: Anomalies, *, wide: bool = False) -> None:
    from costper.cli.fit import Col, FitTable

    con = render.console()
    money = render.money
    t = FitTable(
        f"Runaway sessions ({a.currency}): far past their feature's baseline, or looping",
        [Col("session", "left", key=True), Col("feature", "left", key=True),
         Col("day", "left", rank=3), Col("calls", rank=4), Col("tokens", rank=5),
         Col("cost", rank=2), Col("baseline", rank=6), Col("wasted"), Col("why", "left", rank=7)],
        wide=wide, key_figures=2,
    )  # fmt: skip
    for s in a.sessions[:50]:
        t.add_row(
            s.session_id, s.feature, s.day.isoformat(), f"{s.calls:,}", f"{s.tokens:,}",
            money(s.cost), money(s.baseline_cost), money(s.wasted), _why(s.reasons),
        )  # fmt: skip
    t.print(con)
    if len(a.sessions) > 50:
        con.print(f"... and {len(a.sessions) - 50:,} more (--format json or csv lists all).")
    w = FitTable(
        "Wasted spend per feature and day",
        [Col("feature", "left", key=True), Col("day", "left", rank=2), Col("sessions", rank=3),
         Col("cost", rank=4), Col("wasted")],
        wide=wide, key_figures=2,
    )  # fmt: skip
    for ws in a.wasted:
        w.add_row(
            ws.feature, ws.day.isoformat(), f"{ws.sessions:,}", money(ws.cost), money(ws.wasted)
        )
    w.print(con)
    con.print(f"Wasted in total: {money(a.wasted_total)} {render.safe(a.currency)}")
    r = FitTable(
        f"Spend-rate anomalies per {a.period}",
        [Col("feature", "left", key=True), Col("start", "left", rank=2), Col("spend", rank=3),
         Col("usual", rank=4), Col("robust z", rank=5), Col("excess")],
        wide=wide, key_figures=3,
    )  # fmt: skip
    for x in a.spend:
        r.add_row(
            x.feature, x.start.isoformat(sep=" ", timespec="minutes"), money(x.spend),
            money(x.median), f"{x.z:,.1f}", money(x.excess),
        )  # fmt: skip
    r.print(con)
    if not a.sessions and not a.spend:
        con.print("No runaway session and no spend-rate anomaly in this window.")
    con.print(f"[dim]Sessions: {render.safe(a.to_dict()['method']['sessions'])}.[/dim]")
    con.print(f"[dim]Spend rate: {render.safe(a.to_dict()['method']['spend'])}.[/dim]")


def _why(reasons: list[str]) -> str:
    """The metrics past their fence, by name (JSON and CSV carry the values)."""
    return ", ".join("repeat loop" if " repeated " in r else r.split(" ")[0] for r in reasons)
