"""A warehouse's spans read as ingest reads them, as Ibis expressions (`warehouse`).

Each field of `span_attributes` (the same key lists and precedence, the same
operation, token and failure rules) compiled for the engine: staged selects
whose later stages name the earlier ones' columns, so the SQL stays linear in
the keys.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from costper.pricing._aliases import FRAMEWORKS, PROVIDER_ALIASES
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

__all__ = ["blank_null", "normalised_provider", "read_spans"]

_STATUS_ERROR = ("STATUS_CODE_ERROR", "ERROR")
"""The exporter's status text: older releases the proto names, newer `Error`."""


class _Attributes:
    """One span's attributes as the engine reads them: the span's, else the resource's
    (ingest's `{**resource, **span}`); blank is absent (ClickHouse maps answer '')."""

    def __init__(self, t: ir.Table) -> None:
        self.span = t.SpanAttributes
        self.resource = t.ResourceAttributes if "ResourceAttributes" in t.columns else None

    def __call__(self, key: str) -> ir.StringValue:
        own = blank_null(_get(self.span, key))
        if self.resource is None:
            return own
        return ibis.coalesce(own, blank_null(_get(self.resource, key)))

    def first(self, keys: tuple[str, ...]) -> ir.StringValue:
        return ibis.coalesce(*[self(k) for k in keys])


def _get(attributes: ir.Value, key: str) -> ir.Value:
    """A map's value, or a JSON object's string field (BigQuery has no maps: the same
    columns there are JSON objects of the exporter's string values)."""
    if attributes.type().is_json():
        return attributes[key].str
    return attributes.get(key)


def blank_null(v: ir.Value) -> ir.StringValue:
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
    scope = blank_null(t.ScopeName) if "ScopeName" in t.columns else a("otel.scope.name")
    service = blank_null(t.ServiceName) if "ServiceName" in t.columns else ibis.null("string")
    status = t.StatusCode.upper() if "StatusCode" in t.columns else ibis.null("string")
    duration = t.Duration.cast("float64") / 1e6 if "Duration" in t.columns else ibis.null("float64")
    return t.select(
        trace_id=t.TraceId.lower(),
        span_id=t.SpanId.lower(),
        parent_span_id=blank_null(t.ParentSpanId).lower(),
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


def normalised_provider(raw: ir.StringValue) -> ir.StringValue:
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
    return blank_null(exceptions.map(lambda e: e.f2.get("exception.type")).mins())


def read_spans(t: ir.Table, attributes: Mapping[str, tuple[str, ...]]) -> ir.Table:
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
