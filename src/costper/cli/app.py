"""The Typer application objects; command modules attach to them."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="costper",
    help="What one successful outcome of an LLM feature really costs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ingest_app = typer.Typer(help="Take in traces, outcomes and FOCUS bills.", no_args_is_help=True)
export_app = typer.Typer(help="Write stored data out in standard formats.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")


def _print_version(value: bool) -> None:
    if value:
        from costper import __version__

        typer.echo(f"costper {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """What one successful outcome of an LLM feature really costs."""
