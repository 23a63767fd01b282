"""The Typer application objects; command modules attach to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer
from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import TyperArgument, TyperOption, _TyperParameter

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


@dataclass(frozen=True)
class _Given(RuntimeParam):
    """A str or bool parameter whose value already is one: kept as given, which is what
    Typer's Pydantic adapter returns for it (`typer._adapters`: `str(value)` and
    the bool as is), without importing Pydantic (0.06 s of every command). Any
    other value goes to Typer's own coercion."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if type(value) is self.annotation:
            return value
        return build_runtime_param(param.type_descriptor)._coerce_value(value, param, ctx)


def _runtime_param(self: _TyperParameter) -> RuntimeParam:
    d = self.type_descriptor
    plain = d.annotation in (str, bool) and d.parameter_info.parser is None
    if self._runtime_param is None and plain and d.file_annotation is None:
        self._runtime_param = _Given(d.parameter_info, d.annotation)
    return _typer_runtime_param(self)


_typer_runtime_param = _TyperParameter.get_runtime_param
_TyperParameter.get_runtime_param = _runtime_param  # type: ignore[method-assign]
