"""`costper report`: the metrics table, read from the store or through `costper serve`."""

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
from costper.cli.remote import ServerOption, get_json, server_for


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
    wide: WideOption = False,
) -> None:
    """The metrics table: cost per token beside cost per success, with intervals.

    While `costper serve` holds the store, the report is read through it."""
    from costper.engine._report import report as build_report
    from costper.engine._report_model import Report
    from costper.engine._vocabulary import check_keys

    check_format(fmt)
    cfg = config(db, config_file)
    keys = check_keys([k for k in by.split(",") if k.strip()])
    s, u = time_range(since, until)
    url = server_for(cfg, server)
    if url is not None:
        params = {"by": ",".join(keys), "since": since, "until": until, "feature": feature}
        rep = Report.from_dict(get_json(url, "/api/report", params, cfg))
    else:
        with source_for(cfg) as store:
            rep = build_report(store, keys, since=s, until=u, feature=feature, config=cfg)
    render.emit(rep, fmt, wide=wide)
