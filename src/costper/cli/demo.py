"""`costper demo`: synthetic article-calibrated data, then the report."""

from __future__ import annotations

from typing import Annotated

import typer

from costper.cli.app import app
from costper.cli.options import ConfigOption, DbOption, config, store_for
from costper.cli.render import print_report
from costper.errors import InputError


@app.command("demo")
def demo_cmd(
    sessions: Annotated[int, typer.Option(help="How many sessions to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 1,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Write a synthetic data set calibrated to the article, then print the report."""
    from rich.progress import Progress

    from costper._demo import generate
    from costper.engine._report import report

    if sessions < 1:
        raise InputError(
            f"--sessions: must be at least 1, got {sessions}", field="sessions", value=sessions
        )
    cfg = config(db, config_file)
    with store_for(cfg) as store:
        if sessions > 30_000:
            with Progress(transient=True) as bar:
                task = bar.add_task("generating sessions", total=sessions)
                new = generate(store, sessions, seed, progress=lambda n: bar.advance(task, n))
        else:
            new = generate(store, sessions, seed)
        print(
            f"demo: wrote {new['calls']:,} calls and {new['outcomes']:,} outcome records "
            f"for {sessions:,} sessions into {cfg.db}"
        )
        rep = report(store, ["feature", "model"], config=cfg)
    print_report(rep, "Cost per success by feature and model")
    print(
        "Next: costper report --by turns --feature assistant | costper compare --by model "
        "--baseline gpt-4o-mini --feature support-chat | costper anomalies | costper diagnose "
        "| costper serve"
    )
