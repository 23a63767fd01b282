"""Trace files mapped in parallel: what a Spark job runs on its executors.

`costper ingest traces --engine spark` reads each file in a task of its own and
cuts every request into one piece per trace (`split_files`); the engine then
brings each trace's pieces together, whatever files they came from, and hands a
partition of whole traces to `map_partition`. That runs the very ingest the
DuckDB store runs (`trace_files.ingest_requests`: mapping, linking, duplicate
merge, pricing) into an in-memory store, file by file in file and line order,
and returns the partition's calls. So the job and `costper ingest traces` share
one mapping; the engine only moves bytes. Errors travel as rows (`error`), so
the driver can refuse the job with costper's one-line message before it writes.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from costper.config import Config
from costper.errors import CostperError, InputError
from costper.store._schema import CALLS
from costper.store._store import Store
from costper.telemetry._otlp_wire import parse_lean
from costper.telemetry._trace_files import TraceFilesSummary, ingest_requests, read_requests

FILES = pa.schema([("file_index", pa.int32()), ("path", pa.string())])
"""The job's input rows: the files, numbered in the order given."""

PIECES = pa.schema(
    [
        ("file_index", pa.int32()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("part", pa.int32()),
        ("trace_id", pa.string()),
        ("request", pa.binary()),
        ("spans", pa.int64()),
        ("error", pa.string()),
    ]
)
"""One row per (request, trace) of a file: the request's spans of that trace as OTLP
protobuf, with the resource and scope they were sent under."""

MAPPED = pa.schema([*CALLS, pa.field("ghost", pa.bool_()), pa.field("error", pa.string())])
"""`calls` rows, or one row whose `error` says why a partition was refused. Ghosts are
records the partition's linking merged into another call (or dropped as wrappers), as
mapped: the engine pairs calls across partitions with them, so a call merged here is
still seen there, then drops them."""

_BATCH_ROWS = 2048


def split_request(request: Any) -> dict[bytes, Any]:
    """A request's spans by trace, each trace's as a request of the same class (generated
    or lean) keeping every span's resource and scope."""
    out: dict[bytes, Any] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            by_trace: dict[bytes, list[Any]] = {}
            for span in ss.spans:
                by_trace.setdefault(bytes(span.trace_id), []).append(span)
            for trace, spans in by_trace.items():
                piece = out.get(trace)
                if piece is None:
                    piece = out[trace] = type(request)()
                resource_spans = piece.resource_spans.add()
                resource_spans.resource.CopyFrom(rs.resource)
                scope_spans = resource_spans.scope_spans.add()
                scope_spans.scope.CopyFrom(ss.scope)
                scope_spans.spans.extend(spans)
    return out


def split_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`FILES` rows in, `PIECES` rows out: each file read by costper's reader."""
    for batch in batches:
        for index, path in zip(
            batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
        ):
            yield from _split_file(index, path)


def _split_file(index: int, path: str) -> Iterator[pa.RecordBatch]:
    cols: dict[str, list[Any]] = {name: [] for name in PIECES.names}
    try:
        for number, request in read_requests(path):
            for part, (trace, piece) in enumerate(split_request(request).items()):
                cols["line"].append(number)
                cols["part"].append(part)
                cols["trace_id"].append(trace.hex())
                cols["request"].append(piece.SerializeToString())
                cols["spans"].append(
                    sum(len(ss.spans) for rs in piece.resource_spans for ss in rs.scope_spans)
                )
            if len(cols["line"]) >= _BATCH_ROWS:
                yield _pieces(index, path, cols)
                cols = {name: [] for name in PIECES.names}
    except CostperError as e:
        cols = {name: [] for name in PIECES.names}
        cols["error"] = [str(e)]
        for name in ("line", "part", "trace_id", "request", "spans"):
            cols[name] = [None]
    if cols["line"]:
        yield _pieces(index, path, cols)


def _pieces(index: int, path: str, cols: dict[str, list[Any]]) -> pa.RecordBatch:
    n = len(cols["line"])
    cols["file_index"] = [index] * n
    cols["file"] = [path] * n
    if not cols["error"]:
        cols["error"] = [None] * n
    return pa.RecordBatch.from_pydict(cols, schema=PIECES)


def map_partition(config: Config) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A function from a partition's `PIECES` (whole traces) to its `MAPPED` calls."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Columns by name: a join upstream may have moved them.
        listed = [pa.Table.from_batches([b]).select(PIECES.names) for b in batches]
        pieces = pa.concat_tables(listed).cast(PIECES) if listed else PIECES.empty_table()
        if pieces.num_rows:
            yield from _mapped(pieces, config).to_batches(max_chunksize=8192)

    return run


def _mapped(pieces: pa.Table, config: Config) -> pa.Table:
    pieces = pieces.sort_by(
        [("file_index", "ascending"), ("line", "ascending"), ("part", "ascending")]
    )
    files = pieces.column("file_index").to_numpy()
    bounds = [0, *(i for i in range(1, len(files)) if files[i] != files[i - 1]), len(files)]
    store = Store.open(":memory:")
    mapped: list[pa.Table] = []
    try:
        for start, end in zip(bounds, bounds[1:], strict=False):
            part = pieces.slice(start, end - start)
            name = part.column("file")[0].as_py()
            numbered = zip(
                part.column("line").to_pylist(), part.column("request").to_pylist(), strict=True
            )
            requests = ((n, parse_lean(b)) for n, b in numbered)
            ingest_requests(store, config, name, requests, mapped=mapped)
        calls = store.to_arrow(store.table("calls")).select(CALLS.names).cast(CALLS)
    except CostperError as e:
        return pa.Table.from_pylist([{"error": str(e)}], schema=MAPPED)
    finally:
        store.close()
    out = [_flagged(calls, ghost=False)]
    if mapped:
        before = pa.concat_tables([_as_calls(t) for t in mapped])
        keys = ["trace_id", "span_id"]
        gone = before.join(calls.select(keys), keys, join_type="left anti")
        out.append(_flagged(_as_calls(gone), ghost=True))
    return pa.concat_tables(out)


def _as_calls(table: pa.Table) -> pa.Table:
    cols = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in CALLS
    ]
    return pa.Table.from_arrays(cols, schema=CALLS)


def _flagged(calls: pa.Table, *, ghost: bool) -> pa.Table:
    n = calls.num_rows
    calls = calls.append_column("ghost", pa.array([ghost] * n, pa.bool_()))
    return calls.append_column("error", pa.nulls(n, pa.string()))


def trace_paths(args: Iterable[str]) -> list[str]:
    """The files named: each argument a file, a folder (its files, recursively, but
    not hidden or `_`-prefixed ones such as Spark's `_SUCCESS`) or a glob; in name
    order within an argument, so the Collector's rotated backups
    (`traces-2026-01-02T03-04-05.678.json`) come before the live `traces.json`."""
    out: list[str] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = [
                str(p)
                for p in path.rglob("*")
                if p.is_file() and not any(part[:1] in "._" for part in p.relative_to(path).parts)
            ]
        elif path.is_file():
            found = [arg]
        else:
            found = [p for p in glob.glob(arg, recursive=True) if Path(p).is_file()]
        if not found:
            raise InputError("no such file or folder (or nothing matches)", file=arg)
        out.extend(sorted(found))
    return out


def ingest_trace_files_spark(url: str, config: Config, paths: Iterable[str]) -> TraceFilesSummary:
    """`costper ingest traces --engine spark`: the files mapped by a Spark job into the
    Parquet tables of `url` (pyspark://DIR); all or nothing."""
    from costper.store._spark_ingest import run_ingest_job

    files = trace_paths(paths)
    result = run_ingest_job(
        url,
        files,
        split=split_files,
        files_schema=FILES,
        pieces_schema=PIECES,
        mapper=map_partition(config),
        mapped_schema=MAPPED,
    )
    summary = TraceFilesSummary(
        files=result.files, spans=result.spans, calls=result.calls, new=result.new
    )
    summary.unpriced = sum(result.unpriced.values())
    summary.unpriced_models = {f"{p or '?'}/{m or '?'}" for p, m in result.unpriced}
    return summary
