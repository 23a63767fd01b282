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
from costper.pricing._aliases import FRAMEWORKS, PROVIDER_ALIASES
from costper.pricing._price_table import price_table, price_view, read_price_table
from costper.pricing._prices import STANDARD_TIERS
from costper.store._schema import CALLS
from costper.telemetry._attribute_keys import (
    CALL_KIND,
    CALL_VALID,
    ERROR_TYPE,
    LANGFUSE_LEVEL,
    LANGFUSE_TYPE,
    OI_KIND,
    OPERATION,
    SERVICE_NAME,
    TRACELOOP_KIND,
    TRACELOOP_REQUEST_TYPE,
    VERCEL_OPERATION,
)
from costper.telemetry._span_attributes import (
    CACHE_READ,
    CACHE_WRITE,
    COST,
    EVAL_KINDS,
    FIELDS,
    INFERENCE_OPERATIONS,
    INPUT,
    LANGFUSE_TYPES,
    MAX_TOKENS,
    MODEL,
    OI_KINDS,
    OUTPUT,
    PROVIDER,
    REASONING,
    RESPONSE,
    TAG_COLUMNS,
    TIER,
    TOTAL,
    TRACELOOP_REQUEST_TYPES,
    UNCACHED_INPUT_SCOPES,
    VERCEL_CALLS,
    tag_groups,
)

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

_STATUS_ERROR = ("STATUS_CODE_ERROR", "ERROR")
"""The exporter's status text: older releases the proto names, newer `Error`."""


class _Attributes:
    """One span's attributes as the engine reads them: the span's, else the resource's
    (ingest's `{**resource, **span}`); blank is absent (ClickHouse maps answer '')."""

    def __init__(self, t: ir.Table) -> None:
        self.span = t.SpanAttributes
        self.resource = t.ResourceAttributes if "ResourceAttributes" in t.columns else None

    def __call__(self, key: str) -> ir.StringValue:
        own = _blank_null(_get(self.span, key))
        if self.resource is None:
            return own
        return ibis.coalesce(own, _blank_null(_get(self.resource, key)))

    def first(self, keys: tuple[str, ...]) -> ir.StringValue:
        return ibis.coalesce(*[self(k) for k in keys])


def _get(attributes: ir.Value, key: str) -> ir.Value:
    """A map's value, or a JSON object's string field (BigQuery has no maps: the same
    columns there are JSON objects of the exporter's string values)."""
    if attributes.type().is_json():
        return attributes[key].str
    return attributes.get(key)


def _blank_null(v: ir.Value) -> ir.StringValue:
    s = v.cast("string")
    return s.nullif("")


def _unquote(v: ir.StringValue) -> ir.StringValue:
    """Langfuse's JSON-encoded tag values (`"support"` with the quotes) read as ingest's
    `unquote` reads them (escapes inside are left as written)."""
    quoted = v.startswith('"') & v.endswith('"') & (v.length() > 1)
    return quoted.ifelse(v.substr(1, v.length() - 2), v)


def _count(v: ir.StringValue) -> ir.IntegerValue:
    n = v.strip().try_cast("int64")
    return ((n >= 0) & (n <= MAX_TOKENS)).ifelse(n, ibis.null("int64"))


def _lookup(v: ir.StringValue, table: Mapping[str, str]) -> ir.StringValue:
    """`table.get(v)` as a CASE (None when absent)."""
    return v.cases(*table.items(), else_=ibis.null("string"))


_COUNTS = {
    "inp": INPUT,
    "out": OUTPUT,
    "cr": CACHE_READ,
    "cw": CACHE_WRITE,
    "rs": REASONING,
    "total": TOTAL,
}
"""Token count columns and their `span_attributes.FIELDS` index."""
_SINGLE = {
    "vercel": VERCEL_OPERATION,
    "op": OPERATION,
    "kind": OI_KIND,
    "lf_type": LANGFUSE_TYPE,
    "rt": TRACELOOP_REQUEST_TYPE,
    "tl_kind": TRACELOOP_KIND,
    "call_kind": CALL_KIND,
    "err": ERROR_TYPE,
    "valid": CALL_VALID,
    "level": LANGFUSE_LEVEL,
    "res_service": SERVICE_NAME,
}


def _raw(t: ir.Table, tag_keys: Mapping[str, tuple[str, ...]]) -> ir.Table:
    """Stage one: each field's winning attribute as text, one map lookup per key. Later
    stages refer to these columns by name, so the SQL stays linear in the keys."""
    a = _Attributes(t)
    scope = _blank_null(t.ScopeName) if "ScopeName" in t.columns else a("otel.scope.name")
    service = _blank_null(t.ServiceName) if "ServiceName" in t.columns else ibis.null("string")
    status = t.StatusCode.upper() if "StatusCode" in t.columns else ibis.null("string")
    duration = t.Duration.cast("float64") / 1e6 if "Duration" in t.columns else ibis.null("float64")
    return t.select(
        trace_id=t.TraceId.lower(),
        span_id=t.SpanId.lower(),
        parent_span_id=_blank_null(t.ParentSpanId).lower(),
        start_time=t.Timestamp.cast("timestamp(6)"),
        duration_ms=duration,
        status=status,
        exception=_exception_type(t),
        scope=scope,
        service=service,
        **{f"tag_{name}": a.first(keys) for name, keys in tag_keys.items()},
        response=a.first(FIELDS[RESPONSE]),
        raw_provider=a.first(FIELDS[PROVIDER]),
        raw_model=a.first(FIELDS[MODEL]),
        raw_tier=a.first(FIELDS[TIER]),
        raw_cost=a.first(FIELDS[COST]),
        **{f"raw_{name}": a.first(FIELDS[i]) for name, i in _COUNTS.items()},
        **{f"a_{name}": a(key) for name, key in _SINGLE.items()},
    )


def _operation(r: ir.Table) -> ir.StringValue:
    """`span_attributes.inference_operation`: the call's operation, null for no call."""
    vercel, op, kind = r.a_vercel, r.a_op.lower(), r.a_kind.upper()
    lf_type, rt = r.a_lf_type.lower(), r.a_rt.lower()
    usage = r.raw_inp.notnull() | r.raw_out.notnull()
    none = ibis.null("string")
    found = ibis.cases(
        (vercel.notnull(), _lookup(vercel, VERCEL_CALLS)),
        (r.a_tl_kind.notnull(), none),
        (kind.notnull() & ~kind.isin(list(OI_KINDS)), none),
        (lf_type.notnull() & ~lf_type.isin(list(LANGFUSE_TYPES)), none),
        (op.notnull(), _lookup(op, INFERENCE_OPERATIONS)),
        (kind.notnull(), _lookup(kind, OI_KINDS)),
        (rt.notnull(), _lookup(rt, TRACELOOP_REQUEST_TYPES)),
        (lf_type.notnull(), _lookup(lf_type, LANGFUSE_TYPES)),
        (r.raw_model.notnull() & usage, ibis.literal("chat")),
        else_=none,
    )
    evals = r.a_call_kind.lower().isin(sorted(EVAL_KINDS)).fill_null(False)
    return evals.ifelse(found.cases((none, none), else_="evals"), found)


def _provider(raw: ir.StringValue) -> ir.StringValue:
    """`aliases.normalise_provider`: a framework's name is none, aliases canonical."""
    p = raw.strip().lower()
    known = p.cases(*PROVIDER_ALIASES.items(), else_=p)
    return p.isin(sorted(FRAMEWORKS)).ifelse(ibis.null("string"), known.nullif(""))


def _failure(r: ir.Table) -> dict[str, ir.Value]:
    """`span_attributes.failure`: status ERROR, `error.type`, `costper.call.valid=false`;
    the type from `error.type`, else the exception event's, else `_OTHER`."""
    raw, pattern = r.a_err.strip(), r"^<class '([^']+)'>$"
    err = raw.re_search(pattern).ifelse(raw.re_extract(pattern, 1), raw).nullif("")
    status_error = r.status.isin(_STATUS_ERROR).fill_null(False) | (
        r.a_level.upper() == "ERROR"
    ).fill_null(False)
    invalid = (r.a_valid.strip().lower() == "false").fill_null(False)
    error_type = ibis.cases(
        (err.notnull(), err),
        (status_error, ibis.coalesce(r.exception, ibis.literal("_OTHER"))),
        (invalid, ibis.literal("invalid_output")),
        else_=ibis.null("string"),
    )
    return {"failed": err.notnull() | status_error | invalid, "error_type": error_type}


def _exception_type(t: ir.Table) -> ir.StringValue:
    if "Events.Name" not in t.columns or "Events.Attributes" not in t.columns:
        return ibis.null("string")
    # No indexing: Ibis compiles a computed index off by one on ClickHouse, and Spark (ANSI)
    # raises on the first element of an empty array. Of several exception events, the
    # least type, where ingest takes the first event's.
    events = t["Events.Name"].zip(t["Events.Attributes"])
    exceptions = events.filter(lambda e: e.f1 == "exception")
    return _blank_null(exceptions.map(lambda e: e.f2.get("exception.type")).mins())


def _spans(t: ir.Table, attributes: Mapping[str, tuple[str, ...]]) -> ir.Table:
    """Every span with what ingest would read of it (calls' fields null on other spans):
    staged selects, each reading the previous one's columns."""
    tag_keys = dict(zip(TAG_COLUMNS, tag_groups(attributes), strict=True))
    r = _raw(t, tag_keys)
    cost = r.raw_cost.strip().try_cast("float64")
    r = r.select(
        "trace_id", "span_id", "parent_span_id", "start_time", "duration_ms", "scope",
        "raw_provider",
        operation=_operation(r),
        **{name: _unquote(r[f"tag_{name}"]) for name in tag_keys},
        response_id=_unquote(r.response),
        model=_unquote(r.raw_model),
        service_name=ibis.coalesce(r.service, r.a_res_service, ibis.literal("unknown_service")),
        **{name: _count(r[f"raw_{name}"]) for name in _COUNTS},
        **_failure(r),
        reported_cost=cost,
        service_tier=r.raw_tier.strip().lower(),
    )  # fmt: skip
    r = r.mutate(reported_cost=(r.reported_cost >= 0).ifelse(r.reported_cost, None))
    # `span_attributes.tokens`: totals fill a missing side, then cache and reasoning
    # counts reported beside input and output (not inside them) are added back.
    zero = ibis.literal(0, "int64")
    r = r.mutate(
        inp=ibis.cases(
            (r.inp.isnull() & r.out.notnull() & r.total.notnull(),
             ibis.greatest(r.total - r.out, zero)),
            (r.inp.isnull() & r.out.isnull(), r.total),
            else_=r.inp,
        ),
        out=(r.out.isnull() & r.inp.notnull() & r.total.notnull()).ifelse(
            ibis.greatest(r.total - r.inp, zero), r.out
        ),
        cached=r.cr.fill_null(0) + r.cw.fill_null(0),
    )  # fmt: skip
    uncached = (
        r.inp.notnull()
        & (r.cached > 0)
        & (
            (r.cached > r.inp)
            | (r.out.notnull() & (r.total == r.inp + r.out + r.cached)).fill_null(False)
            | r.scope.isin(sorted(UNCACHED_INPUT_SCOPES)).fill_null(False)
        )
    )
    return r.select(
        *[c for c in r.columns if c not in ("inp", "out", "cr", "cw", "rs", "total", "cached")],
        input_tokens=uncached.ifelse(r.inp + r.cached, r.inp),
        output_tokens=(r.out.notnull() & r.rs.notnull() & (r.rs > r.out)).ifelse(
            r.out + r.rs, r.out
        ),
        cache_read_tokens=r.cr,
        cache_write_tokens=r.cw,
        reasoning_tokens=r.rs,
    )


def _ancestry(traces: ir.Table, spans: ir.Table, depth: int) -> ir.Table:
    """Calls without wrappers, each tag inherited: ingest's `spans.inherit` as joins.

    The parent chain is walked on the bare ids (`depth` cheap self-joins), giving
    each span its ancestors by level; the mapped spans are joined to that once,
    so an engine that inlines subqueries (ClickHouse) expands the attribute
    reading a few times, not once per level. A chain is broken where a parent is
    named but not stored, or still goes on at `depth`: such calls take what they
    miss from the trace's root spans.
    """
    edges = traces.select(  # nullable, so an unmatched left join reads null on ClickHouse too
        tid=_blank_null(traces.TraceId).lower(),
        sid=_blank_null(traces.SpanId).lower(),
        pid=_blank_null(traces.ParentSpanId).lower(),
    )
    walk = edges.select("tid", "sid", up_0=edges.pid)
    for k in range(1, depth + 1):
        e = edges.select(**{f"tid_{k}": edges.tid, f"id_{k}": edges.sid, f"up_{k}": edges.pid})
        walk = walk.left_join(
            e, (walk.tid == e[f"tid_{k}"]) & (walk[f"up_{k - 1}"] == e[f"id_{k}"])
        ).drop(f"tid_{k}")
    broken = walk[f"up_{depth}"].notnull()
    for k in range(1, depth + 1):
        broken = broken | (walk[f"up_{k - 1}"].notnull() & walk[f"id_{k}"].isnull())
    walk = walk.mutate(broken=broken)
    ids = [f"id_{k}" for k in range(1, depth + 1)]
    up = walk.select("tid", "sid", *ids).pivot_longer(
        ids,
        names_to="level",
        names_pattern=r"id_(\d+)",
        names_transform=int,
        values_to="anc",
    )
    up = up.filter(up.anc.notnull())
    chains = walk.select("tid", "sid", "broken")
    nodes = spans.select(
        "trace_id", "span_id", "parent_span_id", *TAG_COLUMNS, is_call=spans.operation.notnull()
    )
    calls = spans.filter(spans.operation.notnull())
    call_ids = calls.select(c_tid=calls.trace_id, c_sid=calls.span_id)
    above = up.join(call_ids, (up.tid == call_ids.c_tid) & (up.sid == call_ids.c_sid))
    above = above.join(nodes, (above.tid == nodes.trace_id) & (above.anc == nodes.span_id))
    wrappers = above.filter(above.is_call).select(w_tid=above.tid, w_sid=above.anc).distinct()
    tagged = above.filter(~above.is_call)
    inherited = tagged.group_by(i_tid=tagged.tid, i_sid=tagged.sid).aggregate(
        **{
            f"up_{tag}": tagged[tag].argmin(tagged.level, where=tagged[tag].notnull())
            for tag in TAG_COLUMNS
        }
    )
    roots = nodes.filter(nodes.parent_span_id.isnull() & ~nodes.is_call)
    root_tags = roots.group_by(r_tid="trace_id").aggregate(
        **{f"root_{tag}": roots[tag].min() for tag in TAG_COLUMNS}
    )
    calls = calls.anti_join(
        wrappers, (calls.trace_id == wrappers.w_tid) & (calls.span_id == wrappers.w_sid)
    )
    j = calls.left_join(
        inherited, (calls.trace_id == inherited.i_tid) & (calls.span_id == inherited.i_sid)
    ).drop("i_tid", "i_sid")
    j = j.left_join(chains, (j.trace_id == chains.tid) & (j.span_id == chains.sid))
    j = j.drop("tid", "sid")
    j = j.left_join(root_tags, j.trace_id == root_tags.r_tid).drop("r_tid")
    fallback = j.broken.fill_null(False)
    tags = {
        tag: ibis.coalesce(
            j[tag], j[f"up_{tag}"], fallback.ifelse(j[f"root_{tag}"], ibis.null("string"))
        )
        for tag in TAG_COLUMNS
    }
    return j.select(*[c for c in calls.columns if c not in TAG_COLUMNS], **tags)


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
    calls = _ancestry(traces, _spans(traces, attributes or {}), depth)
    raw_session = calls.session_id.strip().nullif("")
    calls = calls.mutate(
        session_id=ibis.coalesce(raw_session, calls.trace_id),
        request_id=ibis.coalesce(calls.turn_id, calls.response_id),
        turn_id=ibis.coalesce(calls.turn_id, calls.trace_id),
        feature=ibis.coalesce(calls.feature, calls.service_name),
        provider=_provider(calls.raw_provider),
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
