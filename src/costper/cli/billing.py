"""`costper ingest billing`, `costper reconcile`, `costper export focus`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from costper.cli import render
from costper.cli.app import app, export_app, ingest_app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FormatOption,
    WideOption,
    check_format,
    config,
    parse_time,
    source_for,
    store_for,
)
from costper.errors import InputError

if TYPE_CHECKING:  # billing loads Ibis and Arrow: only when a command runs
    from costper.billing._reconcile import Reconciliation


@ingest_app.command("billing")
def billing(
    paths: Annotated[
        list[str],
        typer.Argument(help="FOCUS 1.0-1.3 exports: CSV, CSV.gz, Parquet or JSON lines."),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="When these files were exported (date-time); decides which snapshot of a "
            "restated bill is newer. Default: RecencyLastUpdated if present, else file mtime.",
        ),
    ] = None,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> int:
    """FOCUS cost-and-usage exports; then re-run the cost join so calls carry the bill.

    Each file is a snapshot of the billing periods x accounts it covers: a newer one
    replaces their stored lines, an older one is ignored, disjoint ones add.
    """
    from costper.billing._ingest import ingest_billing

    cfg = config(db, config_file)
    with store_for(cfg) as store:
        r = ingest_billing(store, paths, cfg, as_of=parse_time(as_of, "--as-of"))
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    j = r.join
    print(
        f"{r.files} file(s), FOCUS {', '.join(r.versions)}: {r.lines} lines "
        f"({r.new_lines} new, {r.lines - r.new_lines} already stored"
        + (f", {r.replaced_lines} older line(s) replaced" if r.replaced_lines else "")
        + "); "
        f"{r.model_lines} bill a model, {r.infra_lines} self-hosted hardware"
    )
    for st in r.restatements:
        if st.action in ("replaced", "ignored"):
            print(st.describe())
    print(
        f"cost join: {j.billed_calls} calls now carry billed cost "
        f"({render.money(j.allocated)} of {render.money(j.spread_cost)} {j.currency} spread); "
        f"unattributed spend {render.money(j.unattributed)} {j.currency} on "
        f"{j.unattributed_lines} line(s)"
    )
    return 0


def _print_reconciliation(rec: Reconciliation, *, wide: bool = False) -> None:
    from costper.cli.fit import Col, FitTable

    con = render.console()
    ranks = {"calls": 5, "estimated": 1, "billed": 4, "effective": 2, "ratio": 3,
             "allocated": 7, "unattributed": 6, "no line": 8, "unpriced": 9}  # fmt: skip
    cols = [Col(k, "left", key=True) for k in rec.by] + [Col(c, rank=r) for c, r in ranks.items()]
    t = FitTable(
        f"Telemetry estimate against the bill (FOCUS), in {rec.currency}",
        cols,
        wide=wide,
        key_figures=3,
    )

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            f"{r['calls']:,}",
            render.money(r["estimated"]),
            render.money(r["billed"]),
            render.money(r["effective"]),
            "—" if r["ratio"] is None else f"{r['ratio']:.2f}×",
            render.money(r["allocated"]),
            render.money(r["unattributed"]),
            f"{r['calls_without_line']:,}",
            f"{r['unpriced_calls']:,}",
        ]

    for r in rec.rows:
        t.add_row(*[str(v) if v is not None else "—" for v in r["key"].values()], *cells(r))
    tot = rec.totals
    t.add_row(*(["total"] + [""] * (len(rec.by) - 1)), *cells(tot), style="bold")
    t.print(con)
    ratio = "" if tot["ratio"] is None else f" ({tot['ratio']:.2f}×)"
    cur = rec.currency
    con.print(
        f"Amounts in {cur}. Where both exist, telemetry estimated {render.money(tot['matched_estimated'])} and the "
        f"bill says {render.money(tot['matched_effective'])}{ratio}. All model and self-hosted "
        f"lines: {render.money(tot['effective'])} effective, {render.money(tot['billed'])} billed, "
        f"against {render.money(tot['estimated'])} estimated. Unattributed spend "
        f"{render.money(tot['unattributed'])}; {tot['calls_without_line']:,} call(s) without a "
        f"bill line keep their estimate ({render.money(tot['unbilled_estimate'])}). Not on "
        f"calls: tax {render.money(tot['tax'])}, other services "
        f"{render.money(tot['other_spend']['effective'])} effective."
    )
    for kind, u in tot.get("unattributed_by_usage", {}).items():
        con.print(
            f"Not on calls: {render.money(u['effective'])} on {u['lines']} {kind} line(s) "
            f"(no call of that kind; {kind} spend is not spread onto inference calls)."
        )


@app.command("reconcile")
def reconcile(
    by: Annotated[str, typer.Option("--by", help="Keys: provider, model, day, week, month.")] = (
        "provider,model,day"
    ),
    since: Annotated[
        str | None, typer.Option("--since", help="From (date, date-time or 7d).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before (date or date-time).")
    ] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
    wide: WideOption = False,
) -> int:
    """Telemetry's estimate against FOCUS billed and effective cost; unmatched spend both ways.

    Re-runs the cost join first, so calls ingested after their bill get their share.
    """
    from costper.billing._reconcile import reconcile as build_reconciliation

    check_format(fmt)
    keys = [k for k in by.split(",") if k.strip()]
    cfg = config(db, config_file)
    with source_for(cfg) as store:
        rec = build_reconciliation(
            store, cfg, keys, since=parse_time(since, "--since"), until=parse_time(until, "--until")
        )
    if fmt == "json":
        render.write_json(rec.to_dict())
    elif fmt == "csv":
        render.write_csv(rec.flat_rows())
    else:
        _print_reconciliation(rec, wide=wide)
    return 0


@export_app.command("focus")
def focus(
    out: Annotated[
        str | None,
        typer.Option(
            "--out", "-o", help="File to write (.csv, .csv.gz, .parquet); stdout if absent."
        ),
    ] = None,
    per_call: Annotated[
        bool, typer.Option("--per-call", help="One row per call, not per day.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="csv or parquet (default: from --out's suffix)."),
    ] = None,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> int:
    """Stored LLM usage as FOCUS 1.3 rows with x_FeatureTag, x_ModelVersion, x_PromptVersion."""
    from costper.billing._export import export_focus

    kind = fmt or ("parquet" if out and Path(out).suffix == ".parquet" else "csv")
    if kind not in ("csv", "parquet"):
        raise InputError(
            f"--format: expected csv or parquet, got {kind!r}", field="format", value=kind
        )
    if kind == "parquet" and out is None:
        raise InputError("--format parquet needs --out FILE", field="out")
    cfg = config(db, config_file)
    with source_for(cfg, read_only=True) as store:
        n = export_focus(
            store, cfg, out if out is not None else sys.stdout, per_call=per_call, fmt=kind
        )
    if out is not None:
        print(f"{n} FOCUS 1.3 row(s) written to {out}", file=sys.stderr)
    return 0
