"""`costper compare`: variants against a baseline, with intervals and verdicts."""

from __future__ import annotations

from typing import Annotated

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
    wide: WideOption = False,
) -> None:
    """Variants against a baseline: ratio of cost per success, interval, verdict."""
    from rich.text import Text

    from costper.cli.fit import Col, FitTable
    from costper.engine._compare import compare as compare_variants
    from costper.engine._vocabulary import check_keys

    check_format(fmt)
    cfg = config(db, config_file)
    check_keys([by])
    s, u = time_range(since, until)
    with source_for(cfg) as store:
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
    t = FitTable(
        title,
        [
            Col(by, "left", key=True),
            Col("labeled", rank=6),
            Col("success", rank=5),
            Col("per success", rank=3),
            Col("difference", rank=4),
            Col("ratio", rank=2),
            Col("p", rank=7),
            Col("verdict", "left", rank=1),
            Col("needs", rank=8),
        ],
        wide=wide,
        key_figures=4,
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
            render.ratio(d.ratio) if d else "—",
            render.p_value(d.p_value) if d else "—",
            Text(verdict, style=color),
            f"+{g.sessions_needed:,}" if g.sessions_needed else "—",
            style=None if g.sample_ok else "dim",
        )
    con = render.console()
    t.print(con)
    for g in [cmp.baseline, *(v.group for v in cmp.variants)]:
        if g.warnings:
            con.print(
                f"[dim]{render.safe(f'{by}={g.key[cmp.by]}')}: not enough to decide on: "
                f"{render.safe('; '.join(w['message'] for w in g.warnings))}[/dim]"
            )
