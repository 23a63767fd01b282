"""OTLP trace export requests in: decoding, files, and durable ingest.

One decoder serves the HTTP receiver and the files: protobuf, JSON (whose
trace and span ids are hex, which protobuf's JSON parser would misread as
base64) and gzip of either. Files are read as the OpenTelemetry Collector's
file exporter writes them (JSON one request per line, protobuf as 4-byte
big-endian length-prefixed messages) or as one request per file, and are
streamed: memory holds one batch of calls, not the file. A file is one
transaction, so a corrupt line rejects the file with its line number and
writes nothing.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from costper.config import Config
from costper.errors import InputError
from costper.otlp_wire import parse_lean
from costper.pricing import price_calls
from costper.schema import CALLS
from costper.spans import SpanRows, rows_from_requests
from costper.store import Store

Progress = Callable[[int, int | None], None]
"""Called with (bytes read, total bytes or None for stdin) as a file is read."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ID_FIELDS = (("traceId", 16), ("spanId", 8), ("parentSpanId", 8))


@dataclass
class CallsBatch:
    """Priced call rows of one request and the spans it refused (index, reason)."""

    table: pa.Table
    rejected: list[tuple[int, str]]
    spans: int = 0

    @property
    def unpriced(self) -> int:
        return _unpriced(self.table)


@dataclass
class IngestResult:
    """What one request did to the store; durable when returned."""

    accepted: int
    rejected: int
    new_rows: int
    errors: list[str]
    calls: int = 0
    unpriced: int = 0


@dataclass
class TraceFilesSummary:
    files: int = 0
    spans: int = 0
    calls: int = 0
    new: int = 0
    unpriced: int = 0
    unpriced_models: set[str] = field(default_factory=set)
    per_file: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.calls - self.new


def _unpriced(table: pa.Table) -> int:
    if table.num_rows == 0:
        return 0
    return int(pc.sum(pc.equal(table.column("cost_source"), "unpriced")).as_py() or 0)


def _unpriced_models(table: pa.Table) -> set[str]:
    rows = table.filter(pc.equal(table.column("cost_source"), "unpriced"))
    pairs = zip(rows.column("provider").to_pylist(), rows.column("model").to_pylist(), strict=True)
    return {f"{p or '?'}/{m or '?'}" for p, m in set(pairs)}


def _hex_to_b64(value: Any, name: str, size: int, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(
            f"{where}{name}: expected a hex string, got {value!r}", field=name, value=value
        )
    if value == "":
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InputError(
            f"{where}{name}: not hex: {value[:40]!r}", field=name, value=value
        ) from None
    if len(raw) != size:
        raise InputError(
            f"{where}{name}: expected {size * 2} hex digits, got {value[:40]!r}",
            field=name,
            value=value,
        )
    return base64.b64encode(raw).decode()


def _fix_ids(doc: dict[str, Any]) -> None:
    """OTLP JSON ids are hex; protobuf's JSON mapping expects base64 for bytes."""
    for rs in doc.get("resourceSpans") or doc.get("resource_spans") or ():
        for ss in rs.get("scopeSpans") or rs.get("scope_spans") or ():
            for i, span in enumerate(ss.get("spans") or ()):
                _fix_span_ids(span, f"span {i}: ")
                for link in span.get("links") or ():
                    _fix_span_ids(link, f"span {i} link: ")


def _fix_span_ids(obj: dict[str, Any], where: str) -> None:
    for name, size in _ID_FIELDS:
        for key in (name, _snake(name)):
            if key in obj:
                obj[key] = _hex_to_b64(obj[key], name, size, where)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def request_from_json(doc: Any) -> ExportTraceServiceRequest:
    """An OTLP/JSON document (dict) as a request; unknown fields are ignored."""
    if not isinstance(doc, dict):
        raise InputError(f"expected a JSON object with resourceSpans, got {type(doc).__name__}")
    if "resourceSpans" not in doc and "resource_spans" not in doc:
        other = [k for k in ("resourceLogs", "resourceMetrics") if k in doc]
        if other:
            raise InputError(f"not a traces export request: it has {other[0]}", field=other[0])
    _fix_ids(doc)
    try:
        return json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as e:
        raise InputError(f"not an OTLP traces request: {e}") from None


def _inflate(body: bytes, content_encoding: str | None) -> bytes:
    enc = (content_encoding or "").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc != "gzip":
        raise InputError(
            f"Content-Encoding: unsupported {content_encoding!r} (gzip or none)",
            field="Content-Encoding",
            value=content_encoding,
        )
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"Content-Encoding gzip: body is not valid gzip ({e})") from None


def decode_request(
    body: bytes, content_type: str, content_encoding: str | None = None
) -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP body (protobuf or JSON, optionally gzip); InputError says why not."""
    body = _inflate(body, content_encoding)
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"body is not valid JSON: {e}") from None
        return request_from_json(doc)
    if ctype in ("application/x-protobuf", "application/protobuf"):
        return _parse_proto(body)
    raise InputError(
        f"Content-Type: unsupported {content_type!r} (application/x-protobuf or application/json)",
        field="Content-Type",
        value=content_type,
    )


def decode_lean_request(body: bytes, content_type: str, content_encoding: str | None = None) -> Any:
    """Like `decode_request`, but protobuf is parsed lean (`otlp_wire`): the receiver's fast
    path. The result is for `calls_from_request`/`ingest_request`, not for general use."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in ("application/x-protobuf", "application/protobuf"):
        body = _inflate(body, content_encoding)
        try:
            return parse_lean(body)
        except DecodeError as e:
            raise InputError(f"body is not a valid OTLP protobuf request: {e}") from None
    return decode_request(body, content_type, content_encoding)


def ingest_body(
    store: Store,
    config: Config,
    body: bytes,
    content_type: str,
    content_encoding: str | None = None,
) -> IngestResult:
    """Decode (lean) and ingest one OTLP/HTTP body; committed on return."""
    return ingest_request(store, config, decode_lean_request(body, content_type, content_encoding))


def _parse_proto(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as e:
        raise InputError(f"body is not a valid OTLP protobuf request: {e}") from None
    return request


_PRICED = ("estimated_cost", "estimate_source", "cost", "cost_source", "infra_cost")


def calls_table(rows: SpanRows, config: Config) -> pa.Table:
    """Column lists to a priced Arrow table of `calls` columns, with the DESIGN defaults.

    Columns the store fills itself (any not mapped from spans) are left out.
    """
    cols = rows.columns
    trace = pa.array(cols["trace_id"], pa.string())
    service = pa.array(cols["service_name"], pa.string())
    explicit_request = pa.array(cols["turn_id"], pa.string())
    derived = {
        "trace_id": trace,
        "session_id": pc.coalesce(pa.array(cols["session_id"], pa.string()), trace),
        "turn_id": pc.coalesce(explicit_request, trace),
        "request_id": pc.coalesce(explicit_request, pa.array(cols["response_id"], pa.string())),
        "feature": pc.coalesce(pa.array(cols["feature"], pa.string()), service),
        "service_name": service,
    }
    data: dict[str, Any] = {}
    for f in CALLS:
        if f.name in derived:
            data[f.name] = derived[f.name]
        elif f.name in cols:
            data[f.name] = pa.array(cols[f.name], f.type)
    data["reported_cost"] = pa.array(cols["reported_cost"], pa.float64())
    table = price_calls(pa.table(data), config)
    names = [f.name for f in CALLS if f.name in data or f.name in _PRICED]
    return table.select(names).cast(pa.schema([CALLS.field(n) for n in names]))


def calls_from_request(request: Any, config: Config, *, source: str = "") -> CallsBatch:
    """Priced calls of one request; spans that cannot be calls are listed, not raised."""
    rows = rows_from_requests([request])
    prefix = f"{source}: " if source else ""
    rejected = [(i, prefix + reason) for i, reason in rows.rejected]
    return CallsBatch(calls_table(rows, config), rejected, rows.spans)


def ingest_request(store: Store, config: Config, request: Any) -> IngestResult:
    """Map, price and store one request's good spans (partial success); committed on return."""
    batch = calls_from_request(request, config)
    new = store.insert("calls", batch.table) if batch.table.num_rows else 0
    return IngestResult(
        accepted=batch.spans - len(batch.rejected),
        rejected=len(batch.rejected),
        new_rows=new,
        errors=[reason for _, reason in batch.rejected],
        calls=batch.table.num_rows,
        unpriced=batch.unpriced,
    )


class _Counting(io.RawIOBase):
    """Counts bytes pulled from the raw file, for the progress bar (gzip reads ahead)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.raw.readinto(b)  # type: ignore[attr-defined]
        self.count += n or 0
        return n or 0


def _open(path: str) -> tuple[IO[bytes], _Counting, int | None, Callable[[], None]]:
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        total = None
        close = lambda: None  # noqa: E731
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", file=path) from None
        total = Path(path).stat().st_size
        close = raw.close
    counting = _Counting(raw)
    stream: IO[bytes] = io.BufferedReader(counting, 1 << 20)
    if stream.peek(2)[:2] == _GZIP_MAGIC:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=stream), 1 << 20)  # type: ignore[arg-type]
    return stream, counting, total, close


def read_requests(path: str, progress: Progress | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line or record number, request) from a trace file; InputError names the line.

    Protobuf files give lean requests (`otlp_wire`), JSON files generated ones;
    `rows_from_requests` takes either.
    """
    stream, counting, total, close = _open(path)
    name = "<stdin>" if path == "-" else path
    try:
        try:
            head = stream.peek(8)[:8].lstrip()
        except (OSError, EOFError) as e:
            raise InputError(f"not readable gzip: {e}", file=name) from None
        if head.startswith(_ZSTD_MAGIC):
            raise InputError("zstd-compressed; decompress it first (zstd -d)", file=name)
        records = _json_records if head[:1] in (b"{", b"[") or not head else _proto_records
        try:
            for number, request in records(stream, name):
                yield number, request
                if progress:
                    progress(counting.count, total)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"cannot read (corrupt gzip?): {e}", file=name) from None
    finally:
        close()


def _json_records(stream: IO[bytes], name: str) -> Iterator[tuple[int, Any]]:
    lines = iter(stream)
    number = 0
    first = True
    for line in lines:
        number += 1
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            if first:
                yield from _whole_json(line + b"".join(lines), number, name)
                return
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
    except ValueError as e:
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


def _proto_records(stream: IO[bytes], name: str) -> Iterator[tuple[int, Any]]:
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
    batch_calls: int = 50_000,
) -> TraceFilesSummary:
    """Ingest trace files, each in one transaction: all of a file or nothing of it."""
    summary = TraceFilesSummary()
    for path in paths:
        name = "<stdin>" if path == "-" else path
        with store.transaction():
            file = _FileIngest(store, config, name)
            for number, request in read_requests(path, progress):
                file.add(number, request)
                if file.pending >= batch_calls:
                    file.flush()
            file.flush()
        summary.files += 1
        summary.spans += file.spans
        summary.calls += file.calls
        summary.new += file.new
        summary.unpriced += file.unpriced
        summary.unpriced_models |= file.unpriced_models
        summary.per_file.append((name, file.calls, file.new))
    return summary


class _FileIngest:
    """Requests of one file mapped in groups, so a session tag on a root span exported
    in a later request than its calls still reaches them within the group."""

    def __init__(self, store: Store, config: Config, name: str) -> None:
        self.store, self.config, self.name = store, config, name
        self.group: list[Any] = []
        self.lines: list[int] = []
        self.pending = self.spans = self.calls = self.new = self.unpriced = 0
        self.unpriced_models: set[str] = set()

    def add(self, number: int, request: Any) -> None:
        self.group.append(request)
        self.lines.append(number)
        self.pending += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

    def flush(self) -> None:
        if not self.group:
            return
        rows = rows_from_requests(self.group, starts=self.lines)
        if rows.rejected:
            index, reason = rows.rejected[0]
            raise InputError(reason, file=self.name, line=rows.line_of(index))
        table = calls_table(rows, self.config)
        self.spans += rows.spans
        self.calls += table.num_rows
        unpriced = _unpriced(table)
        if unpriced:
            self.unpriced += unpriced
            self.unpriced_models |= _unpriced_models(table)
        if table.num_rows:
            self.new += self.store.insert("calls", table)
        self.group, self.lines, self.pending = [], [], 0
