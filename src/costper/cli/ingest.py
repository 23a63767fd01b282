"""`costper ingest traces` and `costper ingest outcomes` (billing lives in cli/billing.py).

Each file is all or nothing. A bad file is named on stderr with its line and
the others still go in; the exit code is 2 if any file was refused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from costper.cli.app import ingest_app
from costper.cli.options import ConfigOption, DbOption, config, store_for
from costper.config import Config
from costper.errors import CostperError, InputError, one_of

Paths = Annotated[list[str], typer.Argument(help="Files to read; '-' for stdin.")]
_BAR_FROM_BYTES = 8 * 1024 * 1024


@contextmanager
def _progress(path: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A bar on stderr for big files read from a terminal session; nothing otherwise."""
    size = os.path.getsize(path) if path != "-" and os.path.isfile(path) else 0
    if size < _BAR_FROM_BYTES or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(os.path.basename(path), total=size)
        yield lambda done, total: bar.update(task, completed=done)


def _refused(path: str, e: CostperError) -> None:
    msg = str(e)
    name = "<stdin>" if path == "-" else path
    print(f"costper: error: {msg if msg.startswith(name) else f'{name}: {msg}'}", file=sys.stderr)


EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this process writes to --db, file by file) or spark (a Spark job "
        "over files, folders or globs into --db pyspark://DIR, all or nothing).",
    ),
]


@ingest_app.command("traces")
def traces(
    paths: Paths,
    db: DbOption = None,
    config_file: ConfigOption = None,
    engine: EngineOption = "local",
) -> int:
    """OTLP JSON (one request per file or per line), OTLP protobuf, gzip of either."""
    from costper.telemetry._trace_files import TraceFilesSummary, ingest_trace_files

    cfg = config(db, config_file)
    if one_of("engine", engine, ("local", "spark")) == "spark":
        return _spark_traces(paths, cfg)
    total = TraceFilesSummary()
    refused = 0
    with store_for(cfg) as store:
        for path in paths:
            try:
                with _progress(path) as progress:
                    s = ingest_trace_files(store, cfg, [path], progress=progress)
            except CostperError as e:
                _refused(path, e)
                refused += 1
                continue
            total.files += s.files
            total.spans += s.spans
            total.calls += s.calls
            total.new += s.new
            total.unpriced += s.unpriced
            total.unpriced_models |= s.unpriced_models
            total.rejoined = s.rejoined or total.rejoined
    if total.rejoined:
        print(
            f"bill re-joined: {total.rejoined.billed_calls:,} call(s) now priced from the "
            "stored FOCUS lines"
        )
    print(
        f"{total.files} file(s): {total.spans} spans read, {total.calls} calls "
        f"({total.new} new, {total.duplicates} already stored), {refused} file(s) rejected, "
        f"{total.unpriced} unpriced"
    )
    _warn_unpriced(total.unpriced, total.unpriced_models)
    return 2 if refused else 0


def _warn_unpriced(unpriced: int, models: set[str]) -> None:
    if unpriced:
        named = ", ".join(sorted(models)[:10])
        print(
            f"warning: {unpriced} call(s) have no price ({named}); add them under "
            "[prices] in costper.toml or they stay out of the money",
            file=sys.stderr,
        )


def _spark_traces(paths: list[str], cfg: Config) -> int:
    from costper.store._backend import backend_name
    from costper.telemetry._trace_partitions import ingest_trace_files_spark

    if backend_name(cfg.db) not in ("pyspark", "spark"):
        raise InputError(
            f"--engine spark writes Parquet tables: --db pyspark://DIR, got {cfg.db!r}",
            field="db",
            value=cfg.db,
        )
    s = ingest_trace_files_spark(cfg.db, cfg, paths)
    print(
        f"{s.files} file(s): {s.spans} spans read, {s.calls} calls ({s.new} new, "
        f"{s.duplicates} already stored), {s.unpriced} unpriced (Spark job)"
    )
    _warn_unpriced(s.unpriced, s.unpriced_models)
    return 0


@ingest_app.command("outcomes")
def outcomes(paths: Paths, db: DbOption = None, config_file: ConfigOption = None) -> int:
    """CSV or JSONL outcome records (session_id, at, success, escalated, reviewed, signal...)."""
    from costper.telemetry._outcome_records import ingest_outcome_files

    cfg = config(db, config_file)
    files = records = new = refused = 0
    with store_for(cfg) as store:
        for path in paths:
            try:
                s = ingest_outcome_files(store, [path])
            except CostperError as e:
                _refused(path, e)
                refused += 1
                continue
            files += s.files
            records += s.records
            new += s.new
    print(
        f"{files} file(s): {records} outcome records ({new} new, {records - new} already "
        f"stored), {refused} file(s) rejected"
    )
    return 2 if refused else 0
