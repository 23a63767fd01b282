"""`costper prices export`: costper's price lookup as a table, for engines that price calls."""

from __future__ import annotations

from typing import Annotated

import typer

from costper.cli.app import app
from costper.cli.options import ConfigOption, DbOption, config, parse_time, source_for

prices_app = typer.Typer(help="costper's model prices, for other engines.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


@prices_app.command("export")
def export(
    path: Annotated[str, typer.Argument(help="Where to write: .parquet, else CSV.")],
    db: DbOption = None,
    config_file: ConfigOption = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Prices in force at (date, date-time); default now."),
    ] = None,
) -> None:
    """Per-token rates of every catalog model and the config's [prices]; with --db, also
    of each (provider, model, service tier) its calls name, as they spell them (a
    `?traces=` URL: its spans'). Read back by `--db '...?traces=otel_traces&prices=FILE'`
    or joined by any engine; a model missing from it is unpriced, never free."""
    from costper.pricing._price_table import catalog_refs, price_table, write_price_table
    from costper.telemetry._warehouse import source_refs

    cfg = config(db, config_file)
    refs = catalog_refs()
    if db is not None:
        with source_for(cfg, read_only=True) as source:
            refs += source_refs(source, cfg.db)
    table = price_table(refs, cfg, parse_time(at, "--at"))
    write_price_table(table, path)
    print(f"{path}: {table.num_rows} prices (USD per token)")
