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
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from costper import _spreadsheet
from costper.billing._columns import DATETIME
from costper.config import Config
from costper.engine._sessions import session_table
from costper.pricing._aliases import canonical_model
from costper.store._dialect import as_int
from costper.store._source import Source, as_source

FOCUS_VERSION = "1.3"
ACCOUNT = "costper"


def usage_rows(
    store: Source, config: Config, *, per_call: bool = False, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per provider, model, feature, prompt version and day (or per call), with session counts."""
    store = as_source(store)
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
        q = q.order_by(["day", "trace_id", "span_id"])
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
        q = q.order_by(["day", "provider", "model", "feature", "prompt_version"])
    rows: list[dict[str, Any]] = store.to_arrow(q).to_pylist()
    return rows


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _month(d: datetime) -> tuple[datetime, datetime]:
    start = d.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


ALLOCATION_METHOD = "costper-pro-rata-estimate"
DECIMAL = pa.decimal128(38, 12)
DECIMALS = (
    "BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "ConsumedQuantity",
    "PricingQuantity", "x_Cost", "x_EstimatedCost", "x_AllocatedCost", "x_InfraCost",
)  # fmt: skip


def focus_row(r: dict[str, Any], per_call: bool) -> dict[str, Any]:
    """One FOCUS 1.3 row that a FinOps tool can load beside the real bill.

    The provider's invoice already holds the money: so every FOCUS cost column
    is 0 here (summing this export with the bill counts LLM spend once), the
    issuer is costper, not the provider, and the money travels in `x_Cost`
    (what reports use), `x_EstimatedCost` (telemetry's estimate) and
    `x_AllocatedCost` (the bill's share, placed by the cost join). Rows that
    carry billed cost are split cost allocations of the provider's lines and
    say so in the 1.3 allocation columns, to the feature.
    """
    day = datetime(r["day"].year, r["day"].month, r["day"].day)
    month_start, month_end = _month(day)
    provider = r["provider"] or "unknown"
    model = r["model"] or "unknown"
    feature = r["feature"] or "unknown"
    total = float(r["cost"]) + float(r["infra_cost"])
    allocated = float(r["allocated"])
    tokens = int(r["input_tokens"]) + int(r["output_tokens"])
    tags = {"feature": feature, "prompt_version": r["prompt_version"]}
    is_allocation = allocated != 0
    what = "Allocation of billed" if is_allocation else "Estimated (telemetry, not invoiced)"
    row: dict[str, Any] = {
        "AllocatedMethodDetails": json.dumps(
            {
                "Elements": [
                    {
                        "UsageUnit": "Tokens",
                        "UsageQuantity": tokens,
                        "x_Basis": "calls' telemetry estimates in the line's charge period",
                    }
                ]
            }
        )
        if is_allocation
        else None,  # fmt: skip
        "AllocatedMethodId": ALLOCATION_METHOD if is_allocation else None,
        "AllocatedResourceId": f"feature/{feature}" if is_allocation else None,
        "AllocatedResourceName": feature if is_allocation else None,
        "AllocatedTags": json.dumps(tags) if is_allocation else None,
        "BilledCost": 0.0,
        "BillingAccountId": ACCOUNT,
        "BillingAccountName": "costper telemetry",
        "BillingCurrency": "USD",
        "BillingPeriodStart": _iso(month_start),
        "BillingPeriodEnd": _iso(month_end),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"{what} LLM usage: {model} for {feature}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": _iso(day),
        "ChargePeriodEnd": _iso(day + timedelta(days=1)),
        "ConsumedQuantity": float(tokens),
        "ConsumedUnit": "Tokens",
        "ContractedCost": 0.0,
        "EffectiveCost": 0.0,
        "HostProviderName": provider,
        "InvoiceIssuerName": "costper",
        "ListCost": 0.0,
        "PricingQuantity": float(tokens),
        "PricingUnit": "Tokens",
        "ProviderName": provider,
        "PublisherName": provider,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "LLM inference",
        "ServiceProviderName": provider,
        "ServiceSubcategory": "Generative AI",
        "SkuId": f"{provider}/{model}",
        "SkuMeter": "Tokens",
        "SkuPriceDetails": json.dumps(
            {"x_ModelId": canonical_model(model) or model, "x_ModelVersion": model}
        ),
        "Tags": json.dumps(tags),
        "x_Cost": total,
        "x_EstimatedCost": float(r["estimated"]),
        "x_AllocatedCost": allocated,
        "x_FeatureTag": feature,
        "x_ModelVersion": model,
        "x_PromptVersion": r["prompt_version"],
        "x_SessionCount": int(r["sessions"]),
        "x_SuccessCount": int(r["successes"]),
        "x_Calls": int(r["calls"]),
        "x_FailedCalls": int(r["failed_calls"]),
        "x_UnpricedCalls": int(r["unpriced_calls"]),
        "x_InputTokens": int(r["input_tokens"]),
        "x_OutputTokens": int(r["output_tokens"]),
        "x_CacheReadTokens": int(r["cache_read_tokens"]),
        "x_InfraCost": float(r["infra_cost"]),
        "x_CostSource": r["cost_source"],
    }
    if per_call:
        row.update(x_TraceId=r["trace_id"], x_SpanId=r["span_id"], x_SessionId=r["session_id"])
    return row


def focus_table(
    store: Source, config: Config, *, per_call: bool = False, now: datetime | None = None
) -> pa.Table:
    rows = [focus_row(r, per_call) for r in usage_rows(store, config, per_call=per_call, now=now)]
    names = list(focus_row(_EMPTY, per_call))
    schema = pa.schema(
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
    if not rows:
        return schema.empty_table()
    cols = {n: [row[n] for row in rows] for n in names}
    arrays = [
        pc.cast(pa.array(cols[f.name], pa.float64()), f.type)
        if f.type == DECIMAL
        else pa.array(cols[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


_EMPTY: dict[str, Any] = {
    "day": datetime(2000, 1, 1), "provider": None, "model": None, "feature": None,
    "prompt_version": None, "cost": 0.0, "infra_cost": 0.0, "input_tokens": 0, "output_tokens": 0,
    "cache_read_tokens": 0, "sessions": 0, "successes": 0, "calls": 0, "failed_calls": 0,
    "unpriced_calls": 0, "cost_source": None, "trace_id": None, "span_id": None, "session_id": None,
    "estimated": 0.0, "allocated": 0.0,
}  # fmt: skip


def _decimal_text(col: pa.ChunkedArray) -> pa.Array:
    """Decimals as plain text with a point ('0.0', '2.041666666667'): Arrow would write
    0 at scale 12 as '0E-12'."""
    out: list[str | None] = []
    for v in col.to_pylist():
        if v is None:
            out.append(None)
            continue
        t = format(v, "f")
        t = t.rstrip("0") if "." in t else t + "."
        out.append(t + "0" if t.endswith(".") else t)
    return pa.array(out, pa.string())


def export_focus(
    store: Source,
    config: Config,
    out: str | Path | IO[str],
    *,
    per_call: bool = False,
    fmt: str = "csv",
    now: datetime | None = None,
) -> int:
    """Write the rows as CSV (gzip for .gz) or Parquet; return how many."""
    table = focus_table(store, config, per_call=per_call, now=now)
    if fmt == "parquet":
        for name in DATETIME:
            i = table.column_names.index(name)
            ts = pc.cast(table.column(name), pa.timestamp("us", tz="UTC"))
            table = table.set_column(i, name, ts)
        pq.write_table(table, str(out))
        return int(table.num_rows)
    for i, f in enumerate(table.schema):
        if f.type == DECIMAL:
            table = table.set_column(i, f.name, _decimal_text(table.column(i)))
    opts = pacsv.WriteOptions(quoting_style="needed")
    table = _spreadsheet.table(table)
    if isinstance(out, (str, Path)):
        if str(out).endswith(".gz"):
            with gzip.open(out, "wb") as fh:
                pacsv.write_csv(table, fh, write_options=opts)
        else:
            pacsv.write_csv(table, str(out), write_options=opts)
    else:
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, write_options=opts)
        out.write(buf.getvalue().to_pybytes().decode())
        out.flush()
    return int(table.num_rows)
