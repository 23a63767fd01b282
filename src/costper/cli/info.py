"""`costper info`, `prune` and `init`: what the store holds, letting old data go, a config to start from."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from costper._time import parse_time
from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FormatOption,
    config,
    source_for,
    store_for,
)
from costper.errors import InputError


@app.command("info")
def info_cmd(
    db: DbOption = None, config_file: ConfigOption = None, fmt: FormatOption = "table"
) -> None:
    """Store path, schema version, row counts, the time range of calls and bill currencies."""
    from costper.store import store_info

    cfg = config(db, config_file)
    with source_for(cfg) as store:
        info = store_info(store)
    if fmt == "json":
        render.write_json(asdict(info))
        return
    if fmt != "table":
        raise InputError(
            f"--format: expected table or json, got {fmt!r}", field="format", value=fmt
        )
    t = render.table(f"costper store {info.path}", [("what", "left"), ("value", "left")])
    t.add_row("schema version", str(info.schema_version))
    t.add_row("data version", f"{info.data_version:,}")
    for name, n in info.rows.items():
        t.add_row(f"{name} rows", f"{n:,}")
    t.add_row("sessions", f"{info.sessions:,}")
    span = (
        "–"
        if info.calls_from is None
        else f"{info.calls_from:%Y-%m-%d %H:%M} – {info.calls_until:%Y-%m-%d %H:%M} UTC"
    )
    t.add_row("calls from – until", span)
    t.add_row("bill currencies", ", ".join(info.billing_currencies) or "–")
    render.console().print(t)


@app.command("prune")
def prune_cmd(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Delete sessions whose last call is before this (date, date-time or 90d).",
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it; without it, only say what would go.")
    ] = False,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete old sessions (calls and outcomes) and bill lines whose charge period ended."""
    cutoff = parse_time(before, "before")
    cfg = config(db, config_file)
    with store_for(cfg, must_exist=True) as store:
        deleted = store.prune(cutoff, dry_run=not yes)
    said = ", ".join(f"{n:,} {table} rows" for table, n in deleted.items())
    print(f"prune: deleted {said}" if yes else f"prune: would delete {said}; add --yes to do it")


@app.command("init")
def init_cmd(
    path: Annotated[str, typer.Argument(help="Where to write it.")] = "costper.toml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented costper.toml with every key at its default."""
    from importlib.resources import files

    target = Path(path)
    if target.exists() and not force:
        raise InputError(
            f"{path}: exists already; pass --force to overwrite it", field="path", value=path
        )
    target.write_text(files("costper").joinpath("_init_template.toml").read_text())
    print(f"init: wrote {path}; uncomment what you change")
