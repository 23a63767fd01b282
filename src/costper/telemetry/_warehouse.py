"""Spans already in a warehouse become `calls` there: costper's mapping as one Ibis query.

The OpenTelemetry Collector's ClickHouse exporter (and the same shape kept in
DuckDB, Spark or a warehouse) stores one row per span: `Timestamp`,
`TraceId`, `SpanId`, `ParentSpanId`, `SpanName`, `ServiceName`,
`ResourceAttributes` and `SpanAttributes` (string to string maps: the
exporter writes every value as text), `ScopeName`, `Duration` (ns),
`StatusCode`, `Events.Name`/`Events.Attributes`. Copying billions of spans out
to map them in Python is the wrong way round, so the rules of ingest
(`spans`, `span_attributes`) are compiled for the engine instead, reading
the same attribute key lists (`attribute_keys`) in the same precedence:

* Only inference spans are calls (the same operation, OpenInference,
  OpenLLMetry, Langfuse and Vercel rules, `costper.call.kind=eval` included).
* Innermost wins: an inference span with an inference span below it (within
  `depth` levels) is a wrapper of the same request and is dropped.
* Tags (session, feature, prompt version, request id, tenant): the call's own,
  else per tag the nearest non-call ancestor's (ingest's rule: a wrapping call
  passes none down); a chain broken by a span never stored, or deeper than
  `depth`, takes what is still missing from the trace's root spans.
* The DESIGN defaults: session and turn are the trace, feature the service.
* Priced by a price table `costper prices export` wrote (`pricing.price_table`):
  tokens x the rates of the call's (provider, model, service tier); a model
  the table lacks is unpriced (null cost, counted as such), never zero.

Where it differs from ingest, by design: JSON object attributes (`metadata`,
Langfuse's usage and cost details) are not expanded; a malformed token count
or cost reads as absent instead of rejecting the span; duplicate records of
one call by two instrumentation layers are not merged (ingest's `linking`);
prices are the table's (one date) rather than each call's day; chains deeper
than `depth` fall back to the root's tags where ingest walks 64 levels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ibis
import ibis.expr.types as ir

from costper.config import Config
from costper.errors import InputError, StoreError
from costper.pricing._price_table import price_table, price_view, read_price_table
from costper.pricing._prices import STANDARD_TIERS
from costper.store._schema import CALLS
from costper.telemetry._warehouse_spans import normalised_provider, read_spans
from costper.telemetry._warehouse_tree import innermost_calls

__all__ = ["DEPTH", "TRACES", "TRACES_COLUMNS", "calls_view", "mapped_calls", "traces_calls"]

TRACES = ibis.schema(
    {
        "Timestamp": "timestamp(9)",
        "TraceId": "string",
        "SpanId": "string",
        "ParentSpanId": "string",
        "TraceState": "string",
        "SpanName": "string",
        "SpanKind": "string",
        "ServiceName": "string",
        "ResourceAttributes": "map<string, string>",
        "ScopeName": "string",
        "ScopeVersion": "string",
        "SpanAttributes": "map<string, string>",
        "Duration": "uint64",
        "StatusCode": "string",
        "StatusMessage": "string",
        "Events.Timestamp": "array<timestamp(9)>",
        "Events.Name": "array<string>",
        "Events.Attributes": "array<map<string, string>>",
        "Links.TraceId": "array<string>",
        "Links.SpanId": "array<string>",
        "Links.TraceState": "array<string>",
        "Links.Attributes": "array<map<string, string>>",
    }
)
"""The Collector ClickHouse exporter's `otel_traces` columns (its `Nested` Events and
Links are the dotted array columns ClickHouse exposes)."""
TRACES_COLUMNS = ("TraceId", "SpanId", "ParentSpanId", "SpanAttributes", "Timestamp")
"""The columns a traces table must have; the others are read when present."""

DEPTH = 16
"""Ancestor levels walked (one self-join each) for wrappers and inherited tags."""


def mapped_calls(
    traces: ir.Table,
    *,
    depth: int = DEPTH,
    attributes: Mapping[str, tuple[str, ...]] | None = None,
) -> ir.Table:
    """The calls of an `otel_traces`-shaped table, unpriced (provider null when the spans
    name none: the price table's `priced_provider` fills it)."""
    missing = [c for c in TRACES_COLUMNS if c not in traces.columns]
    if missing:
        raise StoreError(
            f"traces table: no column {missing[0]!r} (expected the Collector ClickHouse "
            f"exporter's otel_traces columns: {', '.join(TRACES_COLUMNS)}, ...)"
        )
    calls = innermost_calls(traces, read_spans(traces, attributes or {}), depth)
    raw_session = calls.session_id.strip().nullif("")
    calls = calls.mutate(
        session_id=ibis.coalesce(raw_session, calls.trace_id),
        request_id=ibis.coalesce(calls.turn_id, calls.response_id),
        turn_id=ibis.coalesce(calls.turn_id, calls.trace_id),
        feature=ibis.coalesce(calls.feature, calls.service_name),
        provider=normalised_provider(calls.raw_provider),
    )
    return calls.drop("raw_provider")


def traces_calls(
    traces: ir.Table,
    prices: ir.Table,
    *,
    depth: int = DEPTH,
    attributes: Mapping[str, tuple[str, ...]] | None = None,
) -> ir.Table:
    """`calls` (costper's schema, priced) from an `otel_traces`-shaped table, in its engine.

    `prices` is a `PRICE_TABLE` (`costper prices export`, read back on the same
    backend or as a memtable); `attributes` are the config's `[attributes]` keys,
    read before the built-in ones as ingest reads them.
    """
    return _conformed(price_view(mapped_calls(traces, depth=depth, attributes=attributes), prices))


def _conformed(priced: ir.Table) -> ir.Table:
    """Priced calls as costper's `calls` schema, column for column (`seq` null)."""
    cols = []
    for name, dtype in ibis.Schema.from_pyarrow(CALLS).items():
        if name in priced.columns:
            cols.append(priced[name].cast(dtype).name(name))
        else:
            cols.append(ibis.null(dtype).name(name))
    return priced.select(*cols)


def call_refs(calls: ir.Table) -> ir.Table:
    """The distinct (provider, model, service tier) of mapped calls: what to price."""
    tier = calls.service_tier
    standard = tier.isnull() | tier.isin(sorted(STANDARD_TIERS))
    return calls.select(
        provider=calls.provider, model=calls.model, tier=standard.ifelse(ibis.null("string"), tier)
    ).distinct()


def calls_view(
    traces: str, prices: str | None = None, depth: str | None = None
) -> Callable[[Any], ir.Table]:
    """`calls` of a backend as the mapped spans of its table `traces` (URL `traces=`),
    priced by the price table file `prices` or, without one, by costper's lookup
    run once over the models the spans name (the catalog; a config's `[prices]`
    reach the engine through `costper prices export`)."""
    try:
        levels = DEPTH if depth is None else int(depth)
    except ValueError:
        levels = 0
    if not 1 <= levels <= 64:
        raise InputError(f"depth: expected 1 to 64 ancestor levels, got {depth!r}", field="depth")
    table = read_price_table(prices) if prices else None

    def view(backend: Any) -> ir.Table:
        if traces not in set(backend.list_tables()):
            raise StoreError(f"traces={traces}: no such table in this database")
        spans = backend.table(traces)
        mapped = mapped_calls(spans, depth=levels)
        rates = table
        if rates is None:
            refs = backend.to_pyarrow(call_refs(mapped)).to_pylist()
            rates = price_table(((r["provider"], r["model"], r["tier"]) for r in refs), Config())
        return _conformed(price_view(mapped, ibis.memtable(rates)))

    return view


def source_refs(source: Any, url: str) -> list[tuple[str | None, str, str | None]]:
    """What `costper prices export --db` prices beyond the catalog: the (provider, model,
    tier) of a source's calls as stored, or of the spans of its `traces=` table as
    the view names them (provider null where the spans name none)."""
    traces = dict(parse_qsl(urlsplit(url).query)).get("traces")
    if traces is not None:
        backend = source.ibis
        if traces not in set(backend.list_tables()):
            raise StoreError(f"traces={traces}: no such table in this database")
        refs = call_refs(mapped_calls(backend.table(traces)))
    else:
        refs = call_refs(source.table("calls"))
    return [(r["provider"], r["model"], r["tier"]) for r in source.to_arrow(refs).to_pylist()]
