"""`costper report` and `costper compare`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.text import Text

from costper import _time
from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FeatureOption,
    FormatOption,
    SinceOption,
    UntilOption,
    config,
    store_for,
)
from costper.cli.remote import ServerOption, get_json, server_for
from costper.engine._compare import compare as compare_variants
from costper.engine._intervals import Interval
from costper.engine._report import Report
from costper.engine._report import report as build_report
from costper.engine._sessions import check_keys
from costper.errors import InputError

FORMATS = ("table", "json", "csv")


def parse_time(text: str | None, option: str) -> datetime | None:
    return None if text is None else _time.parse_time(text, option)


def time_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The --since/--until pair every reporting command takes."""
    return _time.time_range(since, until)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(
            f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}",
            field="format",
            value=fmt,
        )
    return fmt


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<1e-15" if p < 1e-15 else f"{p:.3g}"


def _ratio(iv: Interval) -> str:
    if iv.value is None:
        return "—"
    hi = "∞" if iv.high is None else f"{iv.high:.2f}"
    lo = "—" if iv.low is None else f"{iv.low:.2f}"
    return f"{iv.value:.2f}× ({lo}–{hi})"


def print_report(rep: Report, title: str = "Cost per success") -> None:
    con = render.console()
    keys = rep.by
    t = render.table(
        f"{title} (confidence {rep.confidence:.0%}; intervals in brackets)",
        [(k, "left") for k in keys]
        + [
            ("sessions", "right"),
            ("pending", "right"),
            ("success", "right"),
            ("escalated", "right"),
            ("per 1M tok", "right"),
            ("per intent", "right"),
            ("per success", "right"),
        ],
    )
    b = render.table(
        "Where the money goes (labeled sessions)",
        [(k, "left") for k in keys]
        + [
            (p, "right")
            for p in ("llm", "retries", "escalation", "review", "overhead", "infra", "total")
        ],
    )
    thin = []
    for g in rep.groups:
        key = [str(g.key[k]) if g.key[k] is not None else "—" for k in keys]
        style = None if g.sample_ok else "dim"
        mark = "" if g.sample_ok else " *"
        t.add_row(
            *key,
            f"{g.labeled_sessions:,}{mark}",
            f"{g.pending_sessions:,}",
            render.interval(g.success_rate, render.pct),
            render.interval(g.escalation_rate, render.pct),
            render.money(g.cost_per_1m_tokens),
            render.interval(g.cost_per_intent),
            render.interval(g.cost_per_success),
            style=style,
        )
        b.add_row(
            *key,
            *(
                render.money(g.cost[p])
                for p in ("llm", "retries", "escalation", "review", "overhead", "infra", "total")
            ),
            style=style,
        )
        if not g.sample_ok:
            thin.append(g)
    con.print(t)
    con.print(b)
    if thin:
        con.print(f"[dim]* not enough to decide on ({len(thin)} group(s)):[/dim]")
        for g in thin[:10]:
            con.print(
                f"[dim]  {_label(g.key)}: {render.safe('; '.join(w['message'] for w in g.warnings))}[/dim]"
            )
    for g in [g for g in rep.groups if g.sessions_needed or g.sessions_needed_note][:5]:
        if g.sessions_needed:
            con.print(
                f"[dim]{_label(g.key)}: about {g.sessions_needed:,} more sessions for cost per "
                "success within ±10% on both sides.[/dim]"
            )
        else:
            con.print(f"[dim]{_label(g.key)}: {g.sessions_needed_note}.[/dim]")
    pend = [g.pending for g in rep.groups if g.pending and g.pending.get("calls")]
    if pend:
        calls = sum(p["calls"] for p in pend)
        tokens = sum(p["tokens"]["total"] for p in pend)
        spend = sum(p["cost"]["llm"] for p in pend)
        sessions = sum(p["sessions"] for p in pend)
        con.print(
            f"Pending (no outcome yet, left out of the ratios and the sums above): "
            f"{sessions:,} session(s), {calls:,} call(s), {tokens:,} tokens, "
            f"{render.money(spend)} spent on tokens."
        )
    unpriced = sum(g.unpriced_calls for g in rep.groups)
    if unpriced:
        con.print(
            f"[bold red]{unpriced:,} call(s) have no price: their cost is missing from these figures "
            f"(add a [prices] entry or ingest the bill).[/bold red]"
        )


def _label(key: dict[str, object]) -> str:
    return render.safe(", ".join(f"{k}={v}" for k, v in key.items()) or "all")


def emit(rep: Report, fmt: str) -> None:
    if fmt == "json":
        render.write_json(rep.to_dict())
    elif fmt == "csv":
        render.write_csv(rep.rows())
    else:
        print_report(rep)


@app.command("report")
def report_cmd(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Group keys, comma-separated: feature, model, provider, "
            "prompt_version, day, week, month, turns.",
        ),
    ] = "feature",
    since: SinceOption = None,
    until: UntilOption = None,
    feature: FeatureOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
    server: ServerOption = None,
) -> None:
    """The metrics table: cost per token beside cost per success, with intervals.

    While `costper serve` holds the store, the report is read through it."""
    check_format(fmt)
    cfg = config(db, config_file)
    keys = check_keys([k for k in by.split(",") if k.strip()])
    s, u = time_range(since, until)
    url = server_for(cfg, server)
    if url is not None:
        params = {"by": ",".join(keys), "since": since, "until": until, "feature": feature}
        rep = Report.from_dict(get_json(url, "/api/report", params, cfg))
    else:
        with store_for(cfg, must_exist=True) as store:
            rep = build_report(store, keys, since=s, until=u, feature=feature, config=cfg)
    emit(rep, fmt)


@app.command("compare")
def compare_cmd(
    by: Annotated[
        str, typer.Option("--by", help="The key whose values are the variants (e.g. model).")
    ],
    baseline: Annotated[str, typer.Option(help="The variant to compare against.")],
    feature: FeatureOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
    pool_features: Annotated[
        bool,
        typer.Option(
            "--pool-features",
            help="Compare across features pooled (refused by default: a model serving only a "
            "cheap feature would look cheaper).",
        ),
    ] = False,
) -> None:
    """Variants against a baseline: ratio of cost per success, interval, verdict."""
    check_format(fmt)
    cfg = config(db, config_file)
    check_keys([by])
    s, u = time_range(since, until)
    with store_for(cfg, must_exist=True) as store:
        cmp = compare_variants(
            store, by, baseline, feature=feature, since=s, until=u, config=cfg,
            pool_features=pool_features,
        )  # fmt: skip
    if fmt == "json":
        render.write_json(cmp.to_dict())
        return
    rows = []
    for v in [None, *cmp.variants]:
        g = cmp.baseline if v is None else v.group
        d = v.vs_baseline if v else None
        rows.append(
            {
                by: g.key[cmp.by],
                "labeled_sessions": g.labeled_sessions,
                "success_rate": g.success_rate.value,
                "cost_per_success": g.cost_per_success.value,
                "cps_low": g.cost_per_success.low,
                "cps_high": g.cost_per_success.high,
                "difference": d.difference.value if d else None,
                "diff_low": d.difference.low if d else None,
                "diff_high": d.difference.high if d else None,
                "ratio": d.ratio.value if d else None,
                "ratio_low": d.ratio.low if d else None,
                "ratio_high": d.ratio.high if d else None,
                "p_value": d.p_value if d else None,
                "verdict": d.verdict if d else "baseline",
                "sessions_needed": g.sessions_needed,
                "warnings": "; ".join(w["code"] for w in g.warnings),
            }
        )
    if fmt == "csv":
        render.write_csv(rows)
        return
    title = f"Against {by}={baseline}" + (f" in {cmp.feature}" if cmp.feature else "")
    t = render.table(
        title,
        [
            (by, "left"),
            ("sessions", "right"),
            ("success", "right"),
            ("per success", "right"),
            ("difference", "right"),
            ("ratio", "right"),
            ("p", "right"),
            ("verdict", "left"),
            ("needs", "right"),
        ],
    )
    for r, v in zip(rows, [None, *cmp.variants], strict=True):
        g = cmp.baseline if v is None else v.group
        d = v.vs_baseline if v else None
        verdict = r["verdict"]
        color = {"cheaper": "green", "dearer": "red"}.get(verdict, "")
        t.add_row(
            str(r[by]),
            f"{g.labeled_sessions:,}",
            render.pct(g.success_rate.value),
            render.interval(g.cost_per_success),
            render.interval(d.difference) if d else "—",
            _ratio(d.ratio) if d else "—",
            _p(d.p_value) if d else "—",
            Text(verdict, style=color),
            f"+{g.sessions_needed:,}" if g.sessions_needed else "—",
            style=None if g.sample_ok else "dim",
        )
    con = render.console()
    con.print(t)
    for g in [cmp.baseline, *(v.group for v in cmp.variants)]:
        if g.warnings:
            con.print(
                f"[dim]{render.safe(f'{by}={g.key[cmp.by]}')}: not enough to decide on: "
                f"{render.safe('; '.join(w['message'] for w in g.warnings))}[/dim]"
            )
