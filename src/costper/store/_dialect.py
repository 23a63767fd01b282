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
import ibis.expr.operations as ops
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

    def week(self, t: ir.TimestampValue) -> ir.DateValue:
        """The Monday of `t`'s week."""
        out: ir.DateValue = t.truncate("W").date()
        return out

    def seconds_between(
        self, later: ir.TimestampValue, earlier: ir.TimestampValue
    ) -> ir.IntegerValue:
        """Whole seconds from `earlier` to `later` (each floored to its second)."""
        out: ir.IntegerValue = later.epoch_seconds() - earlier.epoch_seconds()
        return out

    def first_count(self, col: ir.IntegerValue, by: ir.TimestampValue) -> ir.IntegerValue:
        """A non-null count at the earliest `by`."""
        return col.argmin(by)

    def last_count(self, col: ir.IntegerValue, by: ir.TimestampValue) -> ir.IntegerValue:
        """A non-null count at the latest `by`."""
        return col.argmax(by)

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


class KeyedDialect(Dialect):
    """Engines whose SQL has no ARG_MIN and no ordered aggregate (SQL Server, MySQL,
    Oracle: Ibis cannot compile `argmin` there). The value at the earliest time is
    the min of one text key per row, the time as fixed-width digits followed by the
    value, so a plain MIN/MAX picks it in the same single aggregation pass; no window
    and no join. Ties in time go to the smallest value (argmin picks any)."""

    name = "keyed"

    def first(self, col: ir.StringValue, by: ir.TimestampValue) -> ir.StringValue:
        flagged = ibis.cases((col.isnull(), "0"), else_="1" + col)
        m = (_time_key(by) + flagged).min(where=by.notnull())
        out: ir.StringValue = ibis.cases(
            (m.substr(_KEY_WIDTH, 1) == "1", m.substr(_KEY_WIDTH + 1)),
            else_=ibis.null("string"),
        )
        return out

    def latest(self, col: ir.BooleanValue, at: ir.TimestampValue) -> ir.BooleanValue:
        m = (_time_key(at) + col.ifelse("1", "0")).max(where=col.notnull() & at.notnull())
        out: ir.BooleanValue = m.substr(_KEY_WIDTH, 1) == "1"
        return out

    def week(self, t: ir.TimestampValue) -> ir.DateValue:
        # Days since a Monday, mod 7: MySQL cannot truncate to a week, Oracle has no
        # weekday index, SQL Server's depends on a session setting.
        d = t.date()
        since = d.delta(ibis.date("1970-01-05"), unit="day") % 7
        out: ir.DateValue = d - since.as_interval("D")
        return out

    def seconds_between(
        self, later: ir.TimestampValue, earlier: ir.TimestampValue
    ) -> ir.IntegerValue:
        # From calendar parts: Oracle has no epoch, MySQL and Oracle no timestamp delta.
        days = later.date().delta(earlier.date(), unit="day").cast("int64")
        parts = [(later.hour() - earlier.hour(), 3600), (later.minute() - earlier.minute(), 60)]
        out: ir.IntegerValue = days * 86400 + (later.second() - earlier.second()).cast("int64")
        for diff, unit in parts:
            out = out + diff.cast("int64") * unit
        return out

    def first_count(self, col: ir.IntegerValue, by: ir.TimestampValue) -> ir.IntegerValue:
        m = (_time_key(by) + col.cast("string")).min(where=by.notnull())
        return m.substr(_KEY_WIDTH).cast("int64")

    def last_count(self, col: ir.IntegerValue, by: ir.TimestampValue) -> ir.IntegerValue:
        m = (_time_key(by) + col.cast("string")).max(where=by.notnull())
        return m.substr(_KEY_WIDTH).cast("int64")


_KEY_WIDTH = 20


def _time_key(t: ir.TimestampValue) -> ir.StringValue:
    """A time as 20 digits (year to microsecond): text that sorts as the time does."""
    out: ir.StringValue = t.strftime("%Y%m%d%H%M%S%f")
    return out


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
KEYED = KeyedDialect()


def dialect_of(source: object) -> Dialect:
    """DuckDB's dialect for a Store or an Ibis DuckDB backend; the keyed one for a
    backend that cannot compile `argmin`; else portable Ibis."""
    backend = getattr(source, "ibis", source)
    if getattr(backend, "name", "") == "duckdb":
        return DUCKDB
    has_operation = getattr(backend, "has_operation", None)
    if has_operation is not None and not has_operation(ops.ArgMin):
        return KEYED
    return PORTABLE
