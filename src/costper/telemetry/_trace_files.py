"""Trace files in: the OpenTelemetry Collector's layouts, gzip, stdin; streamed.

Files are read as the Collector's file exporter writes them (JSON one request
per line, protobuf as 4-byte big-endian length-prefixed messages) or as one
request per file, gzip of either, `-` for stdin. Requests are mapped as they
are read and stored in batches, so Python holds one batch of calls, not the
file. A file is one transaction: a corrupt line rejects the file with its
line number and writes nothing. (So DuckDB keeps the file's uncommitted rows
until the commit: about 2 KB per call in the benchmark.)
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from costper._io import open_input
from costper.billing._join import JoinResult, rejoin
from costper.config import Config
from costper.errors import InputError
from costper.store._store import Store
from costper.telemetry._linking import link_calls
from costper.telemetry._otlp_wire import parse_lean
from costper.telemetry._spans import SpanMapper, paused_cycle_collection
from costper.telemetry._traces import calls_table, request_from_json, unpriced_count

Progress = Callable[[int, int | None], None]
"""Called with (bytes read, total bytes or None for stdin) as a file is read."""


@dataclass
class TraceFilesSummary:
    files: int = 0
    spans: int = 0
    calls: int = 0
    new: int = 0
    unpriced: int = 0
    unpriced_models: set[str] = field(default_factory=set)
    per_file: list[tuple[str, int, int]] = field(default_factory=list)
    rejoined: JoinResult | None = None
    """The billing join re-run for the new calls, when a bill is stored."""

    @property
    def duplicates(self) -> int:
        return self.calls - self.new


def _unpriced_models(table: pa.Table) -> set[str]:
    rows = table.filter(pc.equal(table.column("cost_source"), "unpriced"))
    pairs = zip(rows.column("provider").to_pylist(), rows.column("model").to_pylist(), strict=True)
    return {f"{p or '?'}/{m or '?'}" for p, m in set(pairs)}


def read_requests(path: str, progress: Progress | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line or record number, request) from a trace file; InputError names the line.

    Protobuf files give lean requests (`otlp_wire`), JSON files generated ones;
    `rows_from_requests` takes either.
    """
    opened = open_input(path)
    stream, name = opened.stream, opened.name
    try:
        try:
            head = stream.peek(8)[:8].lstrip()
        except (OSError, EOFError) as e:
            raise InputError(f"not readable gzip: {e}", file=name) from None
        records = _json_records if head[:1] in (b"{", b"[") or not head else _proto_records
        try:
            for number, request in records(stream, name):
                yield number, request
                if progress:
                    progress(opened.consumed, opened.size)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"cannot read (corrupt gzip?): {e}", file=name) from None
    finally:
        opened.close()


def _json_records(stream: io.BufferedReader, name: str) -> Iterator[tuple[int, Any]]:
    lines = iter(stream)
    number = 0
    first = True
    for line in lines:
        number += 1
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError) as e:
            if first:
                yield from _whole_json(line + b"".join(lines), number, name)
                return
            if not isinstance(e, json.JSONDecodeError):
                raise InputError(f"not valid JSON: {e}", file=name, line=number) from None
            raise InputError(
                f"not valid JSON: {e.msg} (column {e.colno})", file=name, line=number
            ) from None
        first = False
        yield number, _request(doc, name, number)


def _whole_json(
    text: bytes, first_line: int, name: str
) -> Iterator[tuple[int, ExportTraceServiceRequest]]:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        line = first_line + getattr(e, "lineno", 1) - 1
        raise InputError(f"not valid JSON: {getattr(e, 'msg', e)}", file=name, line=line) from None
    docs = doc if isinstance(doc, list) else [doc]
    for d in docs:
        yield first_line, _request(d, name, first_line)


def _request(doc: Any, name: str, line: int) -> ExportTraceServiceRequest:
    try:
        return request_from_json(doc)
    except InputError as e:
        raise InputError(str(e), file=name, line=line, field=e.field, value=e.value) from None


def _proto_records(stream: io.BufferedReader, name: str) -> Iterator[tuple[int, Any]]:
    """Lean requests: one per file, or the Collector's 4-byte length-prefixed sequence."""
    first_byte = stream.peek(1)[:1]
    if first_byte != b"\x00":
        body = stream.read()
        try:
            request = parse_lean(body)
        except DecodeError as e:
            raise InputError(f"not an OTLP protobuf request or JSON: {e}", file=name) from None
        yield 1, request
        return
    number = 0
    while True:
        size = stream.read(4)
        if not size:
            return
        number += 1
        if len(size) < 4:
            raise InputError("truncated length prefix", file=name, line=number)
        n = int.from_bytes(size, "big")
        body = stream.read(n)
        if len(body) < n:
            raise InputError(f"truncated message: {len(body)} of {n} bytes", file=name, line=number)
        try:
            yield number, parse_lean(body)
        except DecodeError as e:
            raise InputError(f"not an OTLP protobuf request: {e}", file=name, line=number) from None


def ingest_trace_files(
    store: Store,
    config: Config,
    paths: Iterable[str],
    *,
    progress: Progress | None = None,
    batch_calls: int = 20_000,
) -> TraceFilesSummary:
    """Ingest trace files, each in one transaction: all of a file or nothing of it."""
    summary = TraceFilesSummary()
    for path in paths:
        name = "<stdin>" if path == "-" else path
        file = ingest_requests(store, config, name, read_requests(path, progress), batch_calls)
        summary.files += 1
        summary.spans += file.spans
        summary.calls += file.calls
        summary.new += file.new
        summary.unpriced += file.unpriced
        summary.unpriced_models |= file.unpriced_models
        summary.per_file.append((name, file.calls, file.new))
        summary.rejoined = rejoin(store, file.new, config) or summary.rejoined
    return summary


def ingest_requests(
    store: Store,
    config: Config,
    name: str,
    requests: Iterable[tuple[int, Any]],
    batch_calls: int = 20_000,
    mapped: list[pa.Table] | None = None,
) -> _FileIngest:
    """One file's (line, request) pairs in one transaction, mapped and stored a batch at a
    time; the Spark job (`trace_partitions`) runs the same on each partition's share.
    `mapped`, if given, receives each batch's calls as mapped, before linking."""
    with store.transaction(), paused_cycle_collection():
        file = _FileIngest(store, config, name, mapped)
        for number, request in requests:
            file.add(number, request)
            if file.pending >= batch_calls:
                file.flush()
        file.flush()
    return file


class _FileIngest:
    """One file's requests, mapped as read and stored a batch of calls at a time.

    Tags on a root span reach the calls below it when both are in one batch.
    """

    def __init__(
        self, store: Store, config: Config, name: str, mapped: list[pa.Table] | None = None
    ) -> None:
        self.store, self.config, self.name, self.mapped = store, config, name, mapped
        self.mapper = SpanMapper(config.attributes)
        self.spans = self.calls = self.new = self.unpriced = 0
        self.unpriced_models: set[str] = set()

    @property
    def pending(self) -> int:
        return len(self.mapper.rows)

    def add(self, number: int, request: Any) -> None:
        self.mapper.add(request, number)

    def flush(self) -> None:
        rows = self.mapper.finish()
        self.mapper = SpanMapper(self.config.attributes)
        if rows.rejected:
            index, reason = rows.rejected[0]
            raise InputError(reason, file=self.name, line=rows.line_of(index))
        self.spans += rows.spans
        if not len(rows):
            link_calls(self.store, self.config, rows, calls_table(rows, self.config))
            return
        table = calls_table(rows, self.config)
        self.calls += table.num_rows
        unpriced = unpriced_count(table)
        if unpriced:
            self.unpriced += unpriced
            self.unpriced_models |= _unpriced_models(table)
        if self.mapped is not None:
            self.mapped.append(table)
        self.new += self.store.insert("calls", table)
        self.new -= link_calls(self.store, self.config, rows, table).dropped
