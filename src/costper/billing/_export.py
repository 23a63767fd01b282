"""Stored LLM usage as FOCUS 1.3 rows, with the AI dimensions FinOps tools lack.

A FOCUS reader sees cost by service and SKU; it does not see which product
feature, model version or prompt version spent it, nor how many sessions
succeeded for it. Those travel as `x_` columns (`x_FeatureTag`,
`x_ModelVersion`, `x_PromptVersion`, `x_SessionCount`, `x_SuccessCount`, ...)
on rows conformant to FOCUS 1.3 for every column written (checked rule by
rule in tests/test_focus_conformance.py). The rows are meant to be loaded
beside the providers' own bills, so they never pose as an invoice: FOCUS
cost columns are 0 and the issuer is costper; the money is in `x_Cost`
(what reports use: the bill where the cost join placed it, else the
estimate, plus self-hosted infrastructure), `x_EstimatedCost` and
`x_AllocatedCost`, and rows holding billed cost are split cost allocations
(AllocatedMethodId, AllocatedResourceId/Name = the feature, AllocatedTags).
Calls with no price count in `x_UnpricedCalls` rather than vanish into a zero.

The rows are one Ibis expression, so the engine that holds the calls computes
them and writes the file (DuckDB's and Spark's own writers, PostgreSQL's
COPY): a warehouse's export never passes through Python rows. JSON columns
are written by the expression too: text is escaped as JSON requires (quotes,
backslashes, control characters), other characters are kept as UTF-8.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from costper._spreadsheet import FORMULA_START
from costper.billing._join import canon_expr
from costper.config import Config
from costper.engine._sessions import session_table
from costper.store._dialect import as_int, real
from costper.store._engine_files import write_file
from costper.store._source import Source, as_source

FOCUS_VERSION = "1.3"
ACCOUNT = "costper"


def usage(
    store: Source, config: Config, *, per_call: bool = False, now: datetime | None = None
) -> ir.Table:
    """Per provider, model, feature, prompt version and day (or per call), with session counts."""
    c = store.table("calls")
    s = session_table(store, config, now=now, keys=[]).select("session_id", "success")
    j = c.left_join(s, "session_id")
    ok = j.success.fill_null(False)
    cost = j.cost.fill_null(0.0)
    allocated = ibis.cases((j.cost_source == "billed", cost), else_=0.0) + j.infra_cost.fill_null(
        0.0
    )
    if per_call:
        q = j.select(
            "trace_id", "span_id", "session_id", "provider", "model", "feature", "prompt_version",
            day=j.start_time.date(), calls=ibis.literal(1, type="int64"), failed_calls=as_int(j.failed),
            unpriced_calls=as_int(j.cost.isnull()), input_tokens=j.input_tokens.fill_null(0),
            output_tokens=j.output_tokens.fill_null(0),
            cache_read_tokens=j.cache_read_tokens.fill_null(0), cost=cost,
            estimated=j.estimated_cost.fill_null(0.0), allocated=allocated,
            infra_cost=j.infra_cost.fill_null(0.0), cost_source=j.cost_source,
            sessions=ibis.literal(1, type="int64"), successes=as_int(ok),
        )  # fmt: skip
        order = ["day", "trace_id", "span_id"]
    else:
        q = j.group_by(
            ["provider", "model", "feature", "prompt_version", j.start_time.date().name("day")]
        ).aggregate(
            calls=j.count(),
            failed_calls=as_int(j.failed).sum(),
            unpriced_calls=as_int(j.cost.isnull()).sum(),
            input_tokens=j.input_tokens.fill_null(0).sum(),
            output_tokens=j.output_tokens.fill_null(0).sum(),
            cache_read_tokens=j.cache_read_tokens.fill_null(0).sum(),
            cost=cost.sum(),
            estimated=j.estimated_cost.fill_null(0.0).sum(),
            allocated=allocated.sum(),
            infra_cost=j.infra_cost.fill_null(0.0).sum(),
            sources=j.cost_source.nunique(),
            cost_source=j.cost_source.max(),
            sessions=j.session_id.nunique(),
            successes=j.session_id.nunique(where=ok),
        )
        q = q.mutate(cost_source=ibis.cases((q.sources > 1, "mixed"), else_=q.cost_source)).drop(
            "sources"
        )
        order = ["day", "provider", "model", "feature", "prompt_version"]
    return q.order_by(order)


ALLOCATION_METHOD = "costper-pro-rata-estimate"
DECIMAL = pa.decimal128(38, 12)
DECIMALS = (
    "BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "ConsumedQuantity",
    "PricingQuantity", "x_Cost", "x_EstimatedCost", "x_AllocatedCost", "x_InfraCost",
)  # fmt: skip
BASIS = "calls' telemetry estimates in the line's charge period"


def _json_text(v: ir.StringValue) -> ir.StringValue:
    """`v` as a JSON string (with its quotes), or `null`."""
    esc = v.replace("\\", "\\\\").replace('"', '\\"')
    for ch, code in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        esc = esc.replace(ch, code)
    out: ir.StringValue = ibis.cases((v.isnull(), "null"), else_='"' + esc + '"')
    return out


def _iso(d: ir.Value) -> ir.StringValue:
    """A date as FOCUS date-time text at midnight UTC."""
    out: ir.StringValue = d.strftime("%Y-%m-%d") + "T00:00:00Z"
    return out


def _whole(v: ir.IntegerValue) -> ir.Value:
    """A count as BIGINT on every engine: DuckDB sums integers as 128-bit, which Ibis
    calls int64 (so its cast to int64 would be dropped) and Parquet stores as DOUBLE."""
    return v.cast("decimal(38, 0)").cast("int64")


def _decimal(v: ir.FloatingValue) -> ir.Value:
    return v.cast("decimal(38, 12)")


def focus_rows(
    store: Source,
    config: Config,
    *,
    per_call: bool = False,
    now: datetime | None = None,
    text: bool = True,
) -> ir.Table:
    """The FOCUS 1.3 rows as an expression, one per usage row, which a FinOps tool can
    load beside the real bill.

    The provider's invoice already holds the money: so every FOCUS cost column
    is 0 here (summing this export with the bill counts LLM spend once), the
    issuer is costper, not the provider, and the money travels in `x_Cost`
    (what reports use), `x_EstimatedCost` (telemetry's estimate) and
    `x_AllocatedCost` (the bill's share, placed by the cost join). Rows that
    carry billed cost are split cost allocations of the provider's lines and
    say so in the 1.3 allocation columns, to the feature. `text`: date-times
    as ISO text with Z (CSV); else as UTC timestamps (Parquet).
    """
    u = usage(store, config, per_call=per_call, now=now)
    provider = u.provider.fill_null("unknown")
    model = u.model.fill_null("unknown")
    feature = u.feature.fill_null("unknown")
    tokens = u.input_tokens + u.output_tokens
    allocated = u.allocated
    is_alloc = allocated != real(0.0)
    tags = (
        '{"feature": '
        + _json_text(feature)
        + ', "prompt_version": '
        + _json_text(u.prompt_version)
        + "}"
    )
    details = (
        '{"Elements": [{"UsageUnit": "Tokens", "UsageQuantity": '
        + tokens.cast("string")
        + ', "x_Basis": '
        + _json_text(ibis.literal(BASIS))
        + "}]}"
    )
    canon = canon_expr(model.strip()).nullif("")
    sku_details = (
        '{"x_ModelId": '
        + _json_text(ibis.coalesce(canon, model))
        + ', "x_ModelVersion": '
        + _json_text(model)
        + "}"
    )
    what = ibis.cases(
        (is_alloc, "Allocation of billed"), else_="Estimated (telemetry, not invoiced)"
    )
    month = u.day.truncate("M")
    times = {
        "BillingPeriodStart": month,
        "BillingPeriodEnd": month + ibis.interval(months=1),
        "ChargePeriodStart": u.day,
        "ChargePeriodEnd": u.day + ibis.interval(days=1),
    }
    when = {
        k: _iso(v) if text else _iso(v).cast(ibis.dtype("timestamp('UTC')"))
        for k, v in times.items()
    }
    null = ibis.null("string")
    zero = _decimal(real(0.0))
    qty = _decimal(tokens.cast("float64"))
    cols: dict[str, ir.Value] = {
        "AllocatedMethodDetails": ibis.cases((is_alloc, details), else_=null),
        "AllocatedMethodId": ibis.cases((is_alloc, ALLOCATION_METHOD), else_=null),
        "AllocatedResourceId": ibis.cases((is_alloc, "feature/" + feature), else_=null),
        "AllocatedResourceName": ibis.cases((is_alloc, feature), else_=null),
        "AllocatedTags": ibis.cases((is_alloc, tags), else_=null),
        "BilledCost": zero,
        "BillingAccountId": ibis.literal(ACCOUNT),
        "BillingAccountName": ibis.literal("costper telemetry"),
        "BillingCurrency": ibis.literal("USD"),
        "BillingPeriodStart": when["BillingPeriodStart"],
        "BillingPeriodEnd": when["BillingPeriodEnd"],
        "ChargeCategory": ibis.literal("Usage"),
        "ChargeClass": null,
        "ChargeDescription": what + " LLM usage: " + model + " for " + feature,
        "ChargeFrequency": ibis.literal("Usage-Based"),
        "ChargePeriodStart": when["ChargePeriodStart"],
        "ChargePeriodEnd": when["ChargePeriodEnd"],
        "ConsumedQuantity": qty,
        "ConsumedUnit": ibis.literal("Tokens"),
        "ContractedCost": zero,
        "EffectiveCost": zero,
        "HostProviderName": provider,
        "InvoiceIssuerName": ibis.literal("costper"),
        "ListCost": zero,
        "PricingQuantity": qty,
        "PricingUnit": ibis.literal("Tokens"),
        "ProviderName": provider,
        "PublisherName": provider,
        "ServiceCategory": ibis.literal("AI and Machine Learning"),
        "ServiceName": ibis.literal("LLM inference"),
        "ServiceProviderName": provider,
        "ServiceSubcategory": ibis.literal("Generative AI"),
        "SkuId": provider + "/" + model,
        "SkuMeter": ibis.literal("Tokens"),
        "SkuPriceDetails": sku_details,
        "Tags": tags,
        "x_Cost": _decimal(u.cost + u.infra_cost),
        "x_EstimatedCost": _decimal(u.estimated),
        "x_AllocatedCost": _decimal(allocated),
        "x_FeatureTag": feature,
        "x_ModelVersion": model,
        "x_PromptVersion": u.prompt_version,
        "x_SessionCount": _whole(u.sessions),
        "x_SuccessCount": _whole(u.successes),
        "x_Calls": _whole(u.calls),
        "x_FailedCalls": _whole(u.failed_calls),
        "x_UnpricedCalls": _whole(u.unpriced_calls),
        "x_InputTokens": _whole(u.input_tokens),
        "x_OutputTokens": _whole(u.output_tokens),
        "x_CacheReadTokens": _whole(u.cache_read_tokens),
        "x_InfraCost": _decimal(u.infra_cost),
        "x_CostSource": u.cost_source,
    }
    if per_call:
        cols.update(x_TraceId=u.trace_id, x_SpanId=u.span_id, x_SessionId=u.session_id)
    return u.select(**{k: v.name(k) for k, v in cols.items()})


def _spreadsheet_safe(t: ir.Table) -> ir.Table:
    """Text cells a spreadsheet would run as a formula get a leading apostrophe
    (`costper._spreadsheet`), computed by the engine."""
    risky = tuple(FORMULA_START)
    cols = {}
    for name, dtype in t.schema().items():
        col = t[name]
        if dtype.is_string():
            starts = col.substr(0, 1).isin(risky)
            col = ibis.cases((starts.fill_null(False), "'" + col), else_=col)
        cols[name] = col.name(name)
    return t.select(**cols)


def _csv_numbers(t: ir.Table) -> ir.Table:
    """Decimals as plain text with a point and no trailing zeros ('0.0', '2.041666666667'),
    alike on every engine."""
    cols = {}
    for name in t.columns:
        col = t[name]
        if name in DECIMALS:
            digits = col.cast("string").re_replace("0+$", "")
            col = ibis.cases((digits.endswith("."), digits + "0"), else_=digits)
        cols[name] = col.name(name)
    return t.select(**cols)


def focus_table(
    store: Source, config: Config, *, per_call: bool = False, now: datetime | None = None
) -> pa.Table:
    """The rows as Arrow (decimals as decimal128(38, 12), date-times as ISO text)."""
    store = as_source(store)
    t = store.to_arrow(focus_rows(store, config, per_call=per_call, now=now))
    return t.cast(_schema(t.column_names))


def _schema(names: list[str]) -> pa.Schema:
    return pa.schema(
        [
            (
                n,
                DECIMAL if n in DECIMALS
                else pa.int64() if n.startswith("x_") and n[2:].endswith(("Count", "Calls", "Tokens"))
                else pa.string(),
            )
            for n in names
        ]
    )  # fmt: skip


def export_focus(
    store: Source,
    config: Config,
    out: str | Path | IO[str],
    *,
    per_call: bool = False,
    fmt: str = "csv",
    now: datetime | None = None,
) -> int:
    """Have the engine write the rows as CSV (gzip for .gz) or Parquet; return how many."""
    source = as_source(store)
    if fmt == "parquet":
        rows = focus_rows(source, config, per_call=per_call, now=now, text=False)
    else:
        rows = _csv_numbers(
            _spreadsheet_safe(focus_rows(source, config, per_call=per_call, now=now))
        )
    if isinstance(out, (str, Path)):
        return write_file(source, rows, Path(out), fmt)
    with tempfile.TemporaryDirectory(prefix="costper-export-") as tmp:
        path = Path(tmp) / "focus.csv"
        n = write_file(source, rows, path, fmt)
        with path.open(encoding="utf-8", newline="") as fh:
            shutil.copyfileobj(fh, out)
    out.flush()
    return n
