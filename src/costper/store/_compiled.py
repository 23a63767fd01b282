"""SQL that Ibis compiled once, kept in the store, so a command run again needs no
Ibis: importing Ibis and sqlglot and compiling a report took about half a second
of every `costper report` process, against a tenth of a second for the query.

A compiled query is kept in `meta` under a key the caller derives from
everything that decides its text (costper's query code, Ibis' and sqlglot's
versions, the config, the options); values that change from run to run (the
time before which a quiet session counts as a success, --since, --until, the
rollup's watermark) are written as sentinels and replaced when it runs. A
template is kept only if filling in the real values gives, character for
character, the SQL Ibis compiled for them (`template`), so the SQL run from the
store is the SQL the Ibis path runs. Only results are computed: nothing here
caches what a query returns.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc

from costper.errors import StoreError

Value = datetime | int
PREFIX = "compiled:"
KEEP = 64
"""Compiled queries kept per store, a few kilobytes each."""

MARK = 8_675_309_000_123
SENTINELS: dict[str, Value] = {
    "quiet_before": datetime(1901, 2, 3, 4, 5, 6, 7),
    "since": datetime(1902, 3, 4, 5, 6, 7, 8),
    "until": datetime(1903, 4, 5, 6, 7, 8, 9),
    "mark": MARK,
}
"""Stand-ins for the values of a run, compiled into a template and replaced when it runs."""


def sql_literal(value: Value) -> str:
    """`value` as Ibis 12 writes it in DuckDB SQL; every template is checked against
    Ibis' own text when it is made, so a change there makes templates unusable
    (the Ibis path runs), never wrong."""
    if isinstance(value, datetime):
        seconds = value.second + value.microsecond / 1e6
        return (
            f"MAKE_TIMESTAMP({value.year}, {value.month}, {value.day}, "
            f"{value.hour}, {value.minute}, {seconds!r})"
        )
    return str(int(value))


def fill(template: str, values: Mapping[str, Value]) -> str:
    """The template with each sentinel's text replaced by its value's."""
    for name, value in values.items():
        template = template.replace(sql_literal(SENTINELS[name]), sql_literal(value))
    return template


def template(sentinel_sql: str, actual_sql: str, values: Mapping[str, Value]) -> str | None:
    """`sentinel_sql` as a template if each sentinel is in it and filling in `values`
    gives exactly `actual_sql` (the same query compiled with the values); else None."""
    if any(sql_literal(SENTINELS[name]) not in sentinel_sql for name in values):
        return None
    return sentinel_sql if fill(sentinel_sql, values) == actual_sql else None


@dataclass(frozen=True)
class Rollup:
    """The session rollup's SQL: the whole build, its digest (what `meta` records
    the stored rollup as), and the catch-up from a watermark as a template."""

    full: str
    digest: str
    part: str

    def part_from(self, mark: int) -> str:
        return fill(self.part, {"mark": mark})


@dataclass(frozen=True)
class Query:
    """A read over the stored session rollup: its SQL template, which rollup it
    reads, and the Arrow schema Ibis casts its result to."""

    sql: str
    rollup: Rollup
    schema: pa.Schema

    def encode(self) -> str:
        return json.dumps(
            {
                "sql": self.sql,
                "rollup": {
                    "full": self.rollup.full,
                    "digest": self.rollup.digest,
                    "part": self.rollup.part,
                },
                "schema": base64.b64encode(self.schema.serialize().to_pybytes()).decode(),
            }  # fmt: skip
        )

    @classmethod
    def decode(cls, text: str) -> Query:
        d = json.loads(text)
        schema = pyarrow.ipc.read_schema(pa.py_buffer(base64.b64decode(d["schema"])))
        return cls(d["sql"], Rollup(**d["rollup"]), schema)


def load(cur: duckdb.DuckDBPyConnection, key: str) -> Query | None:
    row = cur.execute(f"SELECT value FROM meta WHERE key = '{_meta_key(key)}'").fetchone()
    return None if row is None else Query.decode(str(row[0]))


def save(cur: duckdb.DuckDBPyConnection, key: str, query: Query) -> None:
    """Keep `query` under `key` (inside the caller's transaction); once KEEP are kept,
    all are dropped first (each is remade by its next run)."""
    row = cur.execute(f"SELECT count(*) FROM meta WHERE starts_with(key, '{PREFIX}')").fetchone()
    if row and row[0] >= KEEP:
        cur.execute(f"DELETE FROM meta WHERE starts_with(key, '{PREFIX}')")
    text = query.encode().replace("'", "''")
    cur.execute(f"INSERT OR REPLACE INTO meta VALUES ('{_meta_key(key)}', '{text}')")


def _meta_key(key: str) -> str:
    return PREFIX + hex_digest(key)


def hex_digest(text: str) -> str:
    """`text`, checked to be a hex digest: values are written into the SQL here, not
    bound, since binding a Python value makes DuckDB import pandas (half a second)."""
    if not text or text.strip("0123456789abcdef"):
        raise StoreError(f"not a hex digest: {text!r}")
    return text


def run(
    cur: duckdb.DuckDBPyConnection, query: Query, values: Mapping[str, Value]
) -> list[dict[str, Any]]:
    """The query with `values` filled in, as rows: the values Ibis' path gives after
    casting DuckDB's result to the expression's schema (`ibis.formats.pyarrow.
    PyArrowData.convert_table`) and converting it to Python. Where DuckDB's own
    Python values are those (a 128-bit sum within 64 bits is the same int), they
    are taken directly: Arrow's cast would load its compute module, a tenth of a
    second."""
    rel = cur.sql(fill(query.sql, values))
    want = query.schema
    if rel.columns == want.names and all(
        _alike(str(got), f.type) for got, f in zip(rel.types, want, strict=True)
    ):
        names = rel.columns
        rows = rel.fetchall()
        ints = [i for i, f in enumerate(want) if pa.types.is_integer(f.type)]
        if all(_fits(r[i], want[i].type) for r in rows for i in ints):
            return [dict(zip(names, r, strict=True)) for r in rows]
        rel = cur.sql(fill(query.sql, values))
    table = rel.to_arrow_table()
    if table.schema != want:
        columns = []
        for f in want:
            col = table[f.name]
            columns.append(col if col.type == f.type else col.cast(f.type))
        table = pa.Table.from_arrays(columns, schema=want)
    out: list[dict[str, Any]] = table.to_pylist()
    return out


_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
             "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}  # fmt: skip
_SAME = {"DOUBLE": pa.float64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(),
         "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us")}  # fmt: skip


def _alike(duckdb_type: str, arrow_type: pa.DataType) -> bool:
    """Does a DuckDB column of this type come to Python as the Arrow column would?"""
    if duckdb_type in _INTEGERS:
        return bool(pa.types.is_integer(arrow_type))
    return bool(_SAME.get(duckdb_type) == arrow_type)


def _fits(value: object, arrow_type: pa.DataType) -> bool:
    """Within the integer type's range (else Arrow's cast fails, and so must this)."""
    if value is None:
        return True
    assert isinstance(value, int)
    bits = arrow_type.bit_width
    if pa.types.is_signed_integer(arrow_type):
        return bool(-(2 ** (bits - 1)) <= value < 2 ** (bits - 1))
    return bool(0 <= value < 2**bits)
