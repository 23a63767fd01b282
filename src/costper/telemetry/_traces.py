"""OTLP trace export requests in: decoding, mapping to priced calls, durable ingest.

One decoder serves the HTTP receiver and the files (`trace_files`): protobuf,
JSON (whose trace and span ids are hex, which protobuf's JSON parser would
misread as base64) and gzip of either. A request is answered only after its
calls are committed; spans that cannot be calls are refused one by one
(OTLP partial success) while the rest are stored.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from costper._io import MAX_BODY_BYTES, inflate
from costper._json import loads, objects
from costper.billing._join import rejoin
from costper.config import Config
from costper.errors import InputError
from costper.pricing._prices import price_calls, provider_of_model
from costper.store._schema import CALLS
from costper.store._store import Store
from costper.telemetry._otlp_wire import parse_lean
from costper.telemetry._spans import SpanRows, rows_from_requests

_ID_FIELDS = (("traceId", 16), ("spanId", 8), ("parentSpanId", 8))


@dataclass
class CallsBatch:
    """Priced call rows of one request and the spans it refused (index, reason)."""

    table: pa.Table
    rejected: list[tuple[int, str]]
    spans: int = 0
    rows: SpanRows | None = None

    @property
    def unpriced(self) -> int:
        return unpriced_count(self.table)


@dataclass
class IngestResult:
    """What one request did to the store; durable when returned."""

    accepted: int
    rejected: int
    new_rows: int
    errors: list[str]
    calls: int = 0
    unpriced: int = 0


def unpriced_count(table: pa.Table) -> int:
    if table.num_rows == 0:
        return 0
    return int(pc.sum(pc.equal(table.column("cost_source"), "unpriced")).as_py() or 0)


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
    for r, rs in enumerate(objects(doc, "resourceSpans", "", "resource_spans")):
        where = f"resourceSpans[{r}]"
        for s, ss in enumerate(objects(rs, "scopeSpans", where, "scope_spans")):
            for i, span in enumerate(objects(ss, "spans", f"{where}.scopeSpans[{s}]")):
                _fix_span_ids(span, f"span {i}: ")
                for link in objects(span, "links", f"span {i}"):
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
        request: ExportTraceServiceRequest = json_format.ParseDict(
            doc, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
        return request
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as e:
        raise InputError(f"not an OTLP traces request: {e}") from None


def decode_request(
    body: bytes,
    content_type: str,
    content_encoding: str | None = None,
    limit: int = MAX_BODY_BYTES,
) -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP body (protobuf or JSON, optionally compressed, inflated to at
    most `limit` bytes); InputError says why not."""
    body = inflate(body, content_encoding, limit)
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return request_from_json(loads(body, "body"))
    if ctype in ("application/x-protobuf", "application/protobuf"):
        return _parse_proto(body)
    raise InputError(
        f"Content-Type: unsupported {content_type!r} (application/x-protobuf or application/json)",
        field="Content-Type",
        value=content_type,
    )


def decode_lean_request(
    body: bytes,
    content_type: str,
    content_encoding: str | None = None,
    limit: int = MAX_BODY_BYTES,
) -> Any:
    """Like `decode_request`, but protobuf is parsed lean (`otlp_wire`): the receiver's fast
    path. The result is for `calls_from_request`/`ingest_request`, not for general use."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in ("application/x-protobuf", "application/protobuf"):
        body = inflate(body, content_encoding, limit)
        try:
            return parse_lean(body)
        except DecodeError as e:
            raise InputError(f"body is not a valid OTLP protobuf request: {e}") from None
    return decode_request(body, content_type, content_encoding, limit)


def ingest_body(
    store: Store,
    config: Config,
    body: bytes,
    content_type: str,
    content_encoding: str | None = None,
) -> IngestResult:
    """Decode (lean) and ingest one OTLP/HTTP body; committed on return."""
    request = decode_lean_request(body, content_type, content_encoding, config.max_request_bytes)
    return ingest_request(store, config, request)


def _parse_proto(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as e:
        raise InputError(f"body is not a valid OTLP protobuf request: {e}") from None
    return request


_PRICED = ("estimated_cost", "estimate_source", "cost", "cost_source", "infra_cost")


def _trimmed(ids: pa.Array) -> pa.Array:
    """Session ids as outcome records read them: surrounding blanks dropped, blank is none."""
    trimmed = pc.utf8_trim_whitespace(ids)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


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
        "session_id": pc.coalesce(_trimmed(pa.array(cols["session_id"], pa.string())), trace),
        "turn_id": pc.coalesce(explicit_request, trace),
        "request_id": pc.coalesce(explicit_request, pa.array(cols["response_id"], pa.string())),
        "feature": pc.coalesce(pa.array(cols["feature"], pa.string()), service),
        "service_name": service,
        "provider": _providers(cols["provider"], cols["model"]),
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


def _providers(providers: list[Any], models: list[Any]) -> pa.Array:
    """Providers as the spans say, else the catalog's provider of the model."""
    if None not in providers:
        return pa.array(providers, pa.string())
    filled = [
        p if p is not None or m is None else provider_of_model(m)
        for p, m in zip(providers, models, strict=True)
    ]
    return pa.array(filled, pa.string())


def calls_from_request(request: Any, config: Config, *, source: str = "") -> CallsBatch:
    """Priced calls of one request; spans that cannot be calls are listed, not raised."""
    rows = rows_from_requests([request], attributes=config.attributes)
    prefix = f"{source}: " if source else ""
    rejected = [(i, prefix + reason) for i, reason in rows.rejected]
    return CallsBatch(calls_table(rows, config), rejected, rows.spans, rows)


def settle(store: Store, config: Config, batch: CallsBatch) -> int:
    """After `batch` is stored: late tags and duplicates across requests (`linking`).
    Returns the calls it removed (wrappers and merged duplicates)."""
    from costper.telemetry._linking import link_calls

    if batch.rows is None:
        return 0
    return link_calls(store, config, batch.rows, batch.table).dropped


def ingest_request(store: Store, config: Config, request: Any) -> IngestResult:
    """Map, price and store one request's good spans (partial success); committed on return,
    with the billing join re-run when a bill is stored."""
    batch = calls_from_request(request, config)
    with store.transaction():
        new = store.insert("calls", batch.table) if batch.table.num_rows else 0
        new -= settle(store, config, batch)
    rejoin(store, new, config)
    return IngestResult(
        accepted=batch.spans - len(batch.rejected),
        rejected=len(batch.rejected),
        new_rows=new,
        errors=[reason for _, reason in batch.rejected],
        calls=batch.table.num_rows,
        unpriced=batch.unpriced,
    )
