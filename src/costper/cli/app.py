"""The Typer application objects; command modules attach to them."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

app = typer.Typer(
    name="costper",
    help="What one successful outcome of an LLM feature really costs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


_METAVARS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": "BOOLEAN"}


def _conventional_metavar(self: TyperOption | TyperArgument, ctx: Any) -> str:
    """Help shows `--file TEXT`, as click and every Unix tool do, not Typer 0.29's `<str>`.

    Typer is pinned (pyproject), and a test reads every command's help for
    `<str>`-style types, so a Typer upgrade that changes this hook fails loudly.
    """
    if self.metavar is not None:
        return self.metavar
    if isinstance(self, TyperArgument):
        return ""  # its name is shown already: `paths...`
    label = _typer_display_type(self, ctx).strip("<>")
    repeated = label.startswith("list[")
    label = label.removeprefix("list[").removesuffix("]")
    shown = _METAVARS.get(label, label.upper())
    return f"{shown}..." if repeated else shown


_typer_display_type = TyperOption.display_type
TyperOption.display_type = _conventional_metavar  # type: ignore[method-assign,assignment]
TyperArgument.display_type = _conventional_metavar  # type: ignore[method-assign,assignment]
