"""The Spark side of `costper ingest traces --engine spark`: a job over trace files
that appends priced calls to a `pyspark://DIR` folder of Parquet tables.

The job is a plan of three steps; costper's own code runs inside two of them,
handed in by the caller (`telemetry.trace_partitions`), so this module knows
Spark and the table layout, not spans:

1. Read: tasks read the files (a split of files each) with costper's reader and
   cut each request into pieces, one per trace.
2. Map: pieces are shuffled by trace, so a trace split over files is whole in
   one partition, and each partition runs costper's ingest into an in-memory
   store. One real call recorded twice in two traces (an SDK span its
   framework's context missed) can land in two partitions: calls that could
   pair across traces are found with a join, and their traces mapped again
   together.
3. Merge: under the folder's write lock (the one `writes` through
   `engine_sinks` take), rows whose key (trace_id, span_id) is in `DIR/calls`
   already are not added, the rest are appended by Spark's writer as
   `DIR/calls/part-*.parquet` with `seq` = the stored max + 1. The same files
   twice add nothing.

Any error row from steps 1-2 refuses the job before anything is written, and
so does a new call in a trace an earlier job stored (it may need that trace's
root, or merge with a stored record: edits, which an append-only folder does
not take). So give a job whole traces: a day's rotated files, not half of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from costper.errors import InputError, StoreError
from costper.store._backend import register_tables, spark_session
from costper.store._engine_sinks import LOCK_FILE, ParquetSink, _locked
from costper.store._schema import CALLS, CALLS_KEY

ArrowMap = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]

BYTES_PER_SPLIT = 128 << 20
"""Files are read in splits of about this many (file) bytes, a task each, and never
fewer splits than Spark runs tasks at once: a Python task costs about a second
of set-up on a loaded local[2], so one task per small file would cost more
than reading it."""

PIECES_PER_PARTITION = 20_000
"""About this many trace pieces per map partition (each opens one in-memory store)."""

_SLACK_S = 0.001
"""Slack of the time test pairing calls across partitions: wider than the store's."""


@dataclass
class SparkJobResult:
    files: int
    spans: int
    calls: int
    new: int
    unpriced: dict[tuple[str | None, str | None], int]
    """New unpriced calls by (provider, model)."""


def run_ingest_job(
    url: str,
    paths: list[str],
    *,
    split: ArrowMap,
    files_schema: pa.Schema,
    pieces_schema: pa.Schema,
    mapper: ArrowMap,
    mapped_schema: pa.Schema,
) -> SparkJobResult:
    """Read, map and merge `paths` into the folder of `url` (pyspark://DIR), created
    if absent; InputError (nothing written) if a file is refused."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    session, folder = spark_session(url)
    if folder is None:
        raise StoreError(f"{url}: name the folder to write: pyspark://DIR")
    if not folder.parent.is_dir():
        raise StoreError(f"{url}: the folder {folder.parent} does not exist")
    folder.mkdir(exist_ok=True)

    def spark_schema(schema: pa.Schema) -> Any:
        return from_arrow_schema(schema, prefer_timestamp_ntz=True)

    rows = list(enumerate(paths))
    size = sum(os.path.getsize(p) for p in paths)
    parallel = session.sparkContext.defaultParallelism
    splits = max(1, min(len(rows), max(parallel, -(-size // BYTES_PER_SPLIT))))
    files = session.createDataFrame(
        session.sparkContext.parallelize(rows, splits), spark_schema(files_schema)
    )
    pieces = files.mapInArrow(split, spark_schema(pieces_schema)).persist()
    try:
        _refuse_on_error(pieces)
        totals = pieces.agg(F.count(F.lit(1)).alias("n"), F.sum("spans").alias("spans")).first()
        n_pieces, spans = int(totals["n"] or 0), int(totals["spans"] or 0)
        shuffle = int(session.conf.get("spark.sql.shuffle.partitions"))
        width = max(session.sparkContext.defaultParallelism, -(-n_pieces // PIECES_PER_PARTITION))
        partitions = max(1, min(shuffle, width))
        mapped_type = spark_schema(mapped_schema)
        first = pieces.repartition(partitions, "trace_id").mapInArrow(mapper, mapped_type)
        first = first.persist()
        calls = first
        try:
            _refuse_on_error(first)
            groups = _paired_traces(session, first)
            if groups is not None:
                again = (
                    pieces.join(F.broadcast(groups), "trace_id")
                    .repartition(partitions, "group")
                    .drop("group")
                    .mapInArrow(mapper, mapped_type)
                )
                calls = first.join(F.broadcast(groups), "trace_id", "left_anti").unionByName(again)
                calls = calls.persist()
                _refuse_on_error(calls)
            return _merge(session, url, folder, calls, len(paths), spans)
        finally:
            calls.unpersist()
            first.unpersist()
    finally:
        pieces.unpersist()


def _refuse_on_error(frame: Any) -> None:
    from pyspark.sql import functions as F

    failed = frame.filter(F.col("error").isNotNull())
    if "file_index" in frame.columns:  # the first bad file named, as the DuckDB path would
        failed = failed.orderBy("file_index")
    bad = failed.select("error").limit(1).collect()
    if bad:
        raise InputError(bad[0]["error"])


def _paired_traces(session: Any, calls: Any) -> Any:
    """(trace_id, group) of the traces whose calls may be one call's records in two
    traces (a wider test than the store's, so no pair is missed), or None. Ghost rows
    take part: a call merged away in one partition still pairs with another's."""
    from pyspark.sql import functions as F

    start = F.col("start_time").cast("timestamp").cast("double")
    c = calls.select(
        "trace_id", "parent_span_id", "input_tokens", "output_tokens", "failed", "scope",
        "response_id", "provider", start.alias("t0"),
        (start + F.coalesce(F.col("duration_ms"), F.lit(0.0)) / 1000).alias("t1"),
    )  # fmt: skip
    a, b = c.alias("a"), c.alias("b")
    usage = (
        F.col("a.input_tokens").eqNullSafe(F.col("b.input_tokens"))
        & F.col("a.output_tokens").eqNullSafe(F.col("b.output_tokens"))
        & (F.col("a.failed") == F.col("b.failed"))
        & F.col("b.parent_span_id").isNull()
        & (F.col("a.trace_id") != F.col("b.trace_id"))
        & ~F.col("a.scope").eqNullSafe(F.col("b.scope"))
        & (
            (F.col("a.t0") >= F.col("b.t0") - _SLACK_S)
            & (F.col("a.t1") <= F.col("b.t1") + _SLACK_S)
            | (F.col("b.t0") >= F.col("a.t0") - _SLACK_S)
            & (F.col("b.t1") <= F.col("a.t1") + _SLACK_S)
        )
    )
    same_response = (
        (F.col("a.response_id") == F.col("b.response_id"))
        & F.col("a.provider").eqNullSafe(F.col("b.provider"))
        & (F.col("a.trace_id") < F.col("b.trace_id"))
    )
    pairs = (
        a.join(b, usage | same_response)
        .select(F.col("a.trace_id").alias("x"), F.col("b.trace_id").alias("y"))
        .distinct()
        .collect()
    )
    if not pairs:
        return None
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    for x, y in pairs:
        rx, ry = root(x), root(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    members = {t for pair in pairs for t in pair}
    return session.createDataFrame(
        [(t, root(t)) for t in sorted(members)], "trace_id string, group string"
    )


def _merge(
    session: Any, url: str, folder: Path, calls: Any, files: int, spans: int
) -> SparkJobResult:
    """Append the calls not stored yet, under the folder's write lock (the one Python-side
    writes take, store/_engine_sinks.py), with `seq` = the stored max + 1."""
    from pyspark.sql import functions as F

    calls = calls.filter(~F.col("ghost")).drop("ghost", "error")
    total = calls.count()
    with _locked(folder / LOCK_FILE):
        target = ParquetSink(folder, None, url)._folder("calls")
        fresh, stored = calls, None
        next_seq = 1
        if any(p.suffix == ".parquet" and p.name[0] not in "._" for p in target.iterdir()):
            stored = session.read.parquet(str(target))
            top = stored.agg(F.max("seq")).first()[0]
            next_seq = int(top or 0) + 1
            fresh = calls.join(stored.select(*CALLS_KEY), list(CALLS_KEY), "left_anti")
        fresh = fresh.withColumn("seq", F.lit(next_seq).cast("long")).select(*CALLS.names)
        fresh = fresh.persist()
        try:
            new = fresh.count()
            if new and stored is not None:
                _refuse_split_traces(url, fresh, stored)
            unpriced = fresh.filter(F.col("cost_source") == "unpriced").groupBy("provider", "model")
            unpriced_rows = {(r[0], r[1]): int(r[2]) for r in unpriced.count().collect()}
            if new:
                fresh.write.mode("append").parquet(str(target))
        finally:
            fresh.unpersist()
    register_tables(session, folder)
    return SparkJobResult(files, spans, total, new, unpriced_rows)


def _refuse_split_traces(url: str, fresh: Any, stored: Any) -> None:
    """A new call in a trace stored by an earlier job may need that trace's root (its
    session) or merge with a stored record: edits of stored rows, which an append-only
    folder does not take, so the job is refused rather than stored half-linked."""
    ids = fresh.select("trace_id").distinct()
    both = ids.join(stored.select("trace_id").distinct(), "trace_id").limit(1).collect()
    if both:
        raise StoreError(
            f"{url}: trace {both[0]['trace_id']} has calls stored by an earlier job and new "
            "ones in this one; the job maps whole traces and the folder is append-only, so "
            "nothing was written (give one job all of a trace's files)"
        )
