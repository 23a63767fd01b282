"""What the engine reads from, as a type: a `Store`, or any Ibis backend holding
costper's tables (a test runs the report on PySpark)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import ibis.expr.types as ir
import pyarrow as pa


@runtime_checkable
class Source(Protocol):
    """A source offers its tables as Ibis expressions: `calls`, `outcomes`, `billing`."""

    def table(self, name: str) -> ir.Table: ...


def to_arrow(source: Source, expr: ir.Expr) -> pa.Table:
    """Run `expr` where `source` keeps its data: a Store on one committed snapshot,
    an Ibis backend on the backend its tables are bound to."""
    run = getattr(source, "to_arrow", None)
    table: pa.Table = run(expr) if run is not None else expr.to_pyarrow()
    return table


def rows(source: Source, expr: ir.Expr) -> list[dict[str, object]]:
    """`to_arrow` as a list of row dicts."""
    out: list[dict[str, object]] = to_arrow(source, expr).to_pylist()
    return out
