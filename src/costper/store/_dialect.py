"""What an engine does faster than portable Ibis, offered to the engine by the store.

The session rollup reads the first feature of each session, the latest value
of each outcome field and token sums. Portable Ibis writes the first two as an
ordered FIRST(... ORDER BY ...), which sorts every group; DuckDB's own
arg_min/arg_max do not, and are several times faster on millions of sessions.
DuckDB also widens integer sums to 128 bits, and a stored 128-bit column scans
a hundred times slower than a 64-bit one in every later report. Those tricks
live here, beside the only module that speaks to DuckDB, so `engine` stays
engine-neutral Ibis.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir


@ibis.udf.agg.builtin(name="arg_min")  # type: ignore[untyped-decorator]
def _arg_min_str(arg: str, key: dt.datetime) -> str: ...  # type: ignore[empty-body]


@ibis.udf.agg.builtin(name="arg_max")  # type: ignore[untyped-decorator]
def _arg_max_bool(arg: bool, key: dt.datetime) -> bool: ...  # type: ignore[empty-body]


class Dialect:
    """Portable Ibis: runs on any backend."""

    name = "portable"

    def first(self, col: ir.StringValue, by: ir.TimestampValue) -> ir.StringValue:
        """The value at the earliest `by`."""
        return col.argmin(by)

    def latest(self, col: ir.BooleanValue, at: ir.TimestampValue) -> ir.BooleanValue:
        """The latest non-null value."""
        return col.argmax(at, where=col.notnull())

    def token_sum(self, col: ir.IntegerValue) -> ir.IntegerValue:
        """A sum of token counts, nulls as 0."""
        return col.fill_null(0).sum()


class DuckDBDialect(Dialect):
    name = "duckdb"

    def first(self, col: ir.StringValue, by: ir.TimestampValue) -> ir.StringValue:
        return _arg_min_str(col, by)

    def latest(self, col: ir.BooleanValue, at: ir.TimestampValue) -> ir.BooleanValue:
        return _arg_max_bool(col, at, where=col.notnull())

    def token_sum(self, col: ir.IntegerValue) -> ir.IntegerValue:
        # Token counts are never negative (ingest rejects them), so unsigned 64 bits.
        return col.fill_null(0).sum().cast("uint64")


def as_int(flag: ir.BooleanValue) -> ir.IntegerValue:
    """1 where `flag` is true, else 0 (null too): summed, a count. Portable, where a
    boolean cast to BIGINT is not (PostgreSQL refuses the cast Ibis writes)."""
    one, zero = ibis.literal(1, type="int64"), ibis.literal(0, type="int64")
    out: ir.IntegerValue = flag.ifelse(one, zero)
    return out


def real(value: float) -> ir.FloatingValue:
    """A float constant every engine reads as DOUBLE. Ibis writes `15.0` bare, which
    PostgreSQL reads as NUMERIC: a CASE of such constants, and its sums, come back
    as Decimal. A cast from the exact decimal text is typed everywhere."""
    out: ir.FloatingValue = ibis.literal(repr(float(value))).cast("float64")
    return out


PORTABLE = Dialect()
DUCKDB = DuckDBDialect()


def dialect_of(source: object) -> Dialect:
    """DuckDB's dialect for a Store or an Ibis DuckDB backend, else portable Ibis."""
    backend = getattr(source, "ibis", source)
    return DUCKDB if getattr(backend, "name", "") == "duckdb" else PORTABLE
