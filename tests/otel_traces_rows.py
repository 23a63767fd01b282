"""OTLP export requests as the Collector's ClickHouse exporter writes them to `otel_traces`.

Independent of costper: one row per span, ids as lower-case hex ('' for none),
every attribute value as pcommon's `Value.AsString` writes it (ints in decimal,
booleans `true`/`false`, doubles in shortest form, arrays and maps as JSON),
`StatusCode` as the exporter's `STATUS_CODE_*` names, `Duration` in ns, events
and links as the parallel arrays of ClickHouse `Nested` columns.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_STR_MAP = pa.map_(pa.string(), pa.string())
SCHEMA = pa.schema(
    [
        ("Timestamp", pa.timestamp("ns")),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("ParentSpanId", pa.string()),
        ("TraceState", pa.string()),
        ("SpanName", pa.string()),
        ("SpanKind", pa.string()),
        ("ServiceName", pa.string()),
        ("ResourceAttributes", _STR_MAP),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("SpanAttributes", _STR_MAP),
        ("Duration", pa.uint64()),
        ("StatusCode", pa.string()),
        ("StatusMessage", pa.string()),
        ("Events.Timestamp", pa.list_(pa.timestamp("ns"))),
        ("Events.Name", pa.list_(pa.string())),
        ("Events.Attributes", pa.list_(_STR_MAP)),
        ("Links.TraceId", pa.list_(pa.string())),
        ("Links.SpanId", pa.list_(pa.string())),
        ("Links.TraceState", pa.list_(pa.string())),
        ("Links.Attributes", pa.list_(_STR_MAP)),
    ]
)

DUCKDB_DDL = """CREATE TABLE otel_traces (
    "Timestamp" TIMESTAMP_NS, "TraceId" VARCHAR, "SpanId" VARCHAR, "ParentSpanId" VARCHAR,
    "TraceState" VARCHAR, "SpanName" VARCHAR, "SpanKind" VARCHAR, "ServiceName" VARCHAR,
    "ResourceAttributes" MAP(VARCHAR, VARCHAR), "ScopeName" VARCHAR, "ScopeVersion" VARCHAR,
    "SpanAttributes" MAP(VARCHAR, VARCHAR), "Duration" UBIGINT, "StatusCode" VARCHAR,
    "StatusMessage" VARCHAR, "Events.Timestamp" TIMESTAMP_NS[], "Events.Name" VARCHAR[],
    "Events.Attributes" MAP(VARCHAR, VARCHAR)[], "Links.TraceId" VARCHAR[],
    "Links.SpanId" VARCHAR[], "Links.TraceState" VARCHAR[],
    "Links.Attributes" MAP(VARCHAR, VARCHAR)[]
)"""
"""The exporter's table in DuckDB: the same column names and types (MAP for Map,
arrays for the Nested columns, TIMESTAMP_NS for DateTime64(9))."""

CLICKHOUSE_DDL = """CREATE TABLE otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity=8192, ttl_only_drop_parts = 1"""
"""The exporter's own DDL (`internal/sql_templates/traces_table.sql`, its default engine
and no TTL)."""


def _go_float(x: float) -> str:
    """Go's strconv.FormatFloat(x, 'f', -1, 64): shortest, never an exponent."""
    text = repr(x)
    if "e" in text or "E" in text:
        text = format(x, "f").rstrip("0").rstrip(".")
    return text[:-2] if text.endswith(".0") else text


def _plain(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_plain(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def as_string(v: Any) -> str:
    """pcommon `Value.AsString` of an OTLP AnyValue."""
    kind = v.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return str(v.string_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return _go_float(v.double_value)
    if kind == "bytes_value":
        import base64

        return base64.b64encode(v.bytes_value).decode()
    return json.dumps(_plain(v), separators=(",", ":"))


def _map(attributes: Any) -> list[tuple[str, str]]:
    return [(kv.key, as_string(kv.value)) for kv in attributes]


_STATUS = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}
_KIND = {
    0: "SPAN_KIND_UNSPECIFIED",
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER",
    5: "SPAN_KIND_CONSUMER",
}


def rows(requests: list[ExportTraceServiceRequest]) -> list[dict[str, Any]]:
    out = []
    for request in requests:
        for rs in request.resource_spans:
            res = _map(rs.resource.attributes)
            service = dict(res).get("service.name", "")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(
                        {
                            "Timestamp": s.start_time_unix_nano,
                            "TraceId": s.trace_id.hex(),
                            "SpanId": s.span_id.hex(),
                            "ParentSpanId": s.parent_span_id.hex(),
                            "TraceState": s.trace_state,
                            "SpanName": s.name,
                            "SpanKind": _KIND[s.kind],
                            "ServiceName": service,
                            "ResourceAttributes": res,
                            "ScopeName": ss.scope.name,
                            "ScopeVersion": ss.scope.version,
                            "SpanAttributes": _map(s.attributes),
                            "Duration": s.end_time_unix_nano - s.start_time_unix_nano,
                            "StatusCode": _STATUS[s.status.code],
                            "StatusMessage": s.status.message,
                            "Events.Timestamp": [e.time_unix_nano for e in s.events],
                            "Events.Name": [e.name for e in s.events],
                            "Events.Attributes": [_map(e.attributes) for e in s.events],
                            "Links.TraceId": [ln.trace_id.hex() for ln in s.links],
                            "Links.SpanId": [ln.span_id.hex() for ln in s.links],
                            "Links.TraceState": [ln.trace_state for ln in s.links],
                            "Links.Attributes": [_map(ln.attributes) for ln in s.links],
                        }
                    )
    return out


def table(requests: list[ExportTraceServiceRequest]) -> pa.Table:
    return pa.Table.from_pylist(rows(requests), schema=SCHEMA)
