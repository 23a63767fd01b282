"""What every read path takes: a `Source`. A `Store` (one DuckDB file) is one; any
Ibis backend holding costper's tables (Spark, PostgreSQL, a warehouse) becomes
one through `as_source`, so the report, compare, what-if, reconcile, session
detail, export and the dashboard run unchanged wherever the data are."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # a report whose query is compiled already loads neither
    import ibis.expr.types as ir
    import pyarrow as pa


@runtime_checkable
class Source(Protocol):
    """Tables as Ibis expressions, and the few things a reader asks of where they live.

    `path` names the source in messages (a file, or a URL without its password);
    `read_only` says whether writes (ingest, the billing join, the stored
    session rollup) are possible; `version()` moves whenever the data change,
    so results can be cached by it.
    """

    path: str

    @property
    def read_only(self) -> bool: ...

    def table(self, name: str) -> ir.Table: ...

    def to_arrow(self, expr: ir.Expr) -> pa.Table: ...

    def execute(self, expr: ir.Expr) -> Any: ...

    def count(self, name: str) -> int: ...

    def version(self) -> int: ...

    def close(self) -> None: ...


def as_source(obj: object) -> Source:
    """`obj` as a Source: a Store or a wrapped backend as is, a bare Ibis backend wrapped
    (the caller keeps owning its connection)."""
    if isinstance(obj, Source):
        return obj
    if hasattr(obj, "table") and hasattr(obj, "to_pyarrow"):
        from costper.store._backend import BackendSource

        return BackendSource(obj, owned=False)
    from costper.errors import StoreError

    raise StoreError(f"not a costper source: {type(obj).__name__} (a Store or an Ibis backend)")


def to_arrow(source: object, expr: ir.Expr) -> pa.Table:
    """Run `expr` where `source` keeps its data."""
    return as_source(source).to_arrow(expr)


def rows(source: object, expr: ir.Expr) -> list[dict[str, object]]:
    """`to_arrow` as a list of row dicts."""
    out: list[dict[str, object]] = to_arrow(source, expr).to_pylist()
    return out
