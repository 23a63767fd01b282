"""What every command shares: options (--db, --config, --since ...), flag names, opening the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from costper import _time
from costper.config import Config, load_config
from costper.errors import StoreError, one_of

if TYPE_CHECKING:  # the store pulls in Ibis, DuckDB and Arrow: loaded when a command runs
    from costper.store._source import Source
    from costper.store._store import Store

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: a DuckDB file (default ./costper.duckdb, or $COSTPER_DB), or an Ibis URL "
        "to read from (postgres://..., pyspark:///DIR, ...).",
    ),
]
ConfigOption = Annotated[
    str | None,
    typer.Option("--config", help="Config file (TOML); default ./costper.toml if present."),
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Sessions starting at or after (date, date-time, 7d)."),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Sessions starting before (date, date-time).")
]
FeatureOption = Annotated[str | None, typer.Option("--feature", help="Only this feature.")]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]

WideOption = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Show every column; by default columns that do not fit the terminal "
        "are left out (and named).",
    ),
]


def flag(name: str) -> str:
    """How a core parameter is named to a CLI user: `retry_rate` -> `--retry-rate`."""
    return "--" + name.replace("_", "-")


def config(db: str | None, config_file: str | None) -> Config:
    return load_config(config_file, db=db)


@contextmanager
def store_for(cfg: Config, *, read_only: bool = False, must_exist: bool = False) -> Iterator[Store]:
    """Open the configured store. Reports use `must_exist` rather than read-only,
    so they can bring the session rollup up to date while refusing to create
    an empty store by a typo in --db."""
    if must_exist and "://" not in cfg.db and not Path(cfg.db).exists():
        raise StoreError(
            f"{cfg.db}: no store here yet; run `costper demo` or `costper ingest` first"
        )
    from costper.store._store import open_store

    store = open_store(cfg.db, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def source_for(cfg: Config, *, read_only: bool = False) -> Iterator[Source]:
    """What read commands open: the DuckDB store (which must exist; writable unless
    `read_only`, so the session rollup can catch up) or, by URL, any Ibis backend
    holding costper's tables, read-only."""
    from costper.store._store import open_source

    source = open_source(cfg.db, must_exist=True, read_only=read_only)
    try:
        yield source
    finally:
        source.close()


def opt(help_text: str, *names: str) -> Any:
    """A typer option without a shown default (the help says it)."""
    return typer.Option(*names, help=help_text, show_default=False)


FORMATS = ("table", "json", "csv")


def parse_time(text: str | None, option: str) -> datetime | None:
    return None if text is None else _time.parse_time(text, option)


def time_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The --since/--until pair every reporting command takes."""
    return _time.time_range(since, until)


def check_format(fmt: str) -> str:
    return one_of("format", fmt, FORMATS)
