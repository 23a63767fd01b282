"""The billing join's result kept on an engine: the `call_costs` table.

On DuckDB the join writes its costs into `calls` itself (one UPDATE in the
store's transaction). A warehouse's `calls` is the user's table, often
written by another job, so costper does not rewrite it there: the join's
result goes to a table of its own, `call_costs` (one row per billed call:
trace_id, span_id, cost, cost_source, infra_cost), computed by the engine
from the tables it holds, and every read of `calls` through costper takes
cost and cost_source from it. A call it does not name reads as it would
after DuckDB's join: back to its estimate if it carried a bill before,
unchanged otherwise.

The table is replaced whole, so a reader sees the old result or the new one,
never half: PostgreSQL builds it under another name and swaps it in one
transaction; a Spark folder (`pyspark://DIR`) gets the Parquet files in a new
folder, and `DIR/call_costs` is a symbolic link moved onto it in one rename.
The folder before last is removed, so a reader still on the previous one
finishes its query.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from costper.errors import StoreError
from costper.store._dialect import real

NAME = "call_costs"
CALL_COSTS = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("cost", pa.float64()),
        ("cost_source", pa.string()),
        ("infra_cost", pa.float64()),
    ]
)
WRITERS = ("postgres", "pyspark")
"""Engines the join can write its result to (the others are reconciled as stored)."""
_GENERATIONS = ".call_costs-"


def spark_folder(source: Any) -> Path | None:
    """The folder of a `pyspark://DIR` source, None without one."""
    folder: Path | None = getattr(source, "_folder", None)
    return folder


def writable(source: Any) -> bool:
    """Can the join's result be written to this backend source?"""
    name = getattr(source, "name", "")
    if name == "pyspark":
        return spark_folder(source) is not None
    return name in WRITERS


def with_call_costs(source: Any, calls: ir.Table) -> ir.Table:
    """`calls` as the billing join last placed the bill, where the engine holds a
    `call_costs` table; unchanged where it holds none."""
    backend = source.ibis
    if source.name == "pyspark":
        folder = spark_folder(source)
        link = folder / NAME if folder is not None else None
        if link is None or not link.exists():
            return calls
        backend._session.read.parquet(str(link.resolve())).createOrReplaceTempView(NAME)
    elif NAME not in set(backend.list_tables()):
        return calls
    cc = backend.table(NAME)
    cc = cc.select(
        cc_trace=cc.trace_id,
        cc_span=cc.span_id,
        cc_cost=cc.cost.cast("float64"),
        cc_source=cc.cost_source.cast("string"),
        cc_infra=cc.infra_cost.cast("float64"),
    )
    j = calls.left_join(cc, [calls.trace_id == cc.cc_trace, calls.span_id == cc.cc_span])
    hit = j.cc_trace.notnull()
    reset = (j.cost_source == "billed") | (j.infra_cost.fill_null(real(0.0)) != real(0.0))
    replaced = {
        "cost": ibis.cases((hit, j.cc_cost), (reset, j.estimated_cost), else_=j.cost),
        "cost_source": ibis.cases(
            (hit, j.cc_source), (reset, j.estimate_source), else_=j.cost_source
        ),
        "infra_cost": ibis.cases((hit, j.cc_infra), (reset, real(0.0)), else_=j.infra_cost),
    }
    return j.select(*[replaced[c].name(c) if c in replaced else j[c] for c in calls.columns])


def marker(source: Any) -> str | None:
    """Which `call_costs` the engine holds (None: none), read without a query over it,
    so a data version can say when the join rewrote it."""
    if source.name == "pyspark":
        folder = spark_folder(source)
        link = folder / NAME if folder is not None else None
        return os.readlink(link) if link is not None and link.is_symlink() else None
    if source.name == "postgres":
        with source.ibis.begin() as cur:
            cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (NAME,))
            row = cur.fetchone()
        return None if row is None or row[0] is None else str(row[0])
    return None


def replace(source: Any, costs: ir.Table) -> None:
    """Make the engine compute `costs` (the join's per-call result) and keep it as
    `call_costs`, replacing the previous one atomically."""
    costs = costs.select(
        "trace_id",
        "span_id",
        cost=costs.cost.cast("float64"),
        cost_source=costs.cost_source.cast("string"),
        infra_cost=costs.infra_cost.cast("float64"),
    )
    generation = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    if source.name == "postgres":
        _replace_postgres(source.ibis, costs, generation)
    elif source.name == "pyspark" and (folder := spark_folder(source)) is not None:
        _replace_spark(source.ibis, costs, folder, generation)
    else:
        raise source.refuse("the billing join's call_costs")


def _replace_postgres(backend: Any, costs: ir.Table, generation: str) -> None:
    query = str(backend.compile(costs))
    fresh = f"{NAME}_{generation.replace('-', '_').lower()}"
    with backend.begin() as cur:
        # Built under another name first: the query reads the current call_costs.
        cur.execute(f'CREATE TABLE "{fresh}" AS {query}')
        cur.execute(f'DROP TABLE IF EXISTS "{NAME}"')
        cur.execute(f'ALTER TABLE "{fresh}" RENAME TO "{NAME}"')
        cur.execute(f"COMMENT ON TABLE \"{NAME}\" IS '{generation}'")


def _replace_spark(backend: Any, costs: ir.Table, folder: Path, generation: str) -> None:
    link = folder / NAME
    if link.exists() and not link.is_symlink():
        raise StoreError(
            f"{link}: a folder costper did not write; move it away so the billing join "
            "can keep its call_costs there"
        )
    target = folder / f"{_GENERATIONS}{generation}"
    backend.to_parquet(costs, str(target))
    staged = folder / f".{NAME}.link-{generation}"
    staged.symlink_to(target.name)
    previous = os.readlink(link) if link.is_symlink() else None
    os.replace(staged, link)
    keep = {target.name, previous}
    for old in folder.glob(f"{_GENERATIONS}*"):
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
