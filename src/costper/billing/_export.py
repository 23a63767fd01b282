"""Stored LLM usage as FOCUS 1.3 rows, with the AI dimensions FinOps tools lack.

A FOCUS reader sees cost by service and SKU; it does not see which product
feature, model version or prompt version spent it, nor how many sessions
succeeded for it. Those travel as `x_` columns (`x_FeatureTag`,
`x_ModelVersion`, `x_PromptVersion`, `x_SessionCount`, `x_SuccessCount`, ...)
on rows that pass costper's own FOCUS checks. Cost is what reports use: the
bill where the cost join placed it, else the estimate, plus self-hosted
infrastructure; calls with no price count in `x_UnpricedCalls` rather than
vanish into a zero.
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
from costper.store._store import Store

FOCUS_VERSION = "1.3"
ACCOUNT = "costper"


def usage_rows(
    store: Store, config: Config, *, per_call: bool = False, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per provider, model, feature, prompt version and day (or per call), with session counts."""
    c = store.table("calls")
    s = session_table(store, config, now=now, keys=[]).select("session_id", "success")
    j = c.left_join(s, "session_id")
    ok = j.success.fill_null(False)
    cost = j.cost.fill_null(0.0)
    if per_call:
        q = j.select(
            "trace_id", "span_id", "session_id", "provider", "model", "feature", "prompt_version",
            day=j.start_time.date(), calls=ibis.literal(1), failed_calls=j.failed.cast("int64"),
            unpriced_calls=j.cost.isnull().cast("int64"), input_tokens=j.input_tokens.fill_null(0),
            output_tokens=j.output_tokens.fill_null(0),
            cache_read_tokens=j.cache_read_tokens.fill_null(0), cost=cost,
            infra_cost=j.infra_cost.fill_null(0.0), cost_source=j.cost_source,
            sessions=ibis.literal(1), successes=ok.cast("int64"),
        )  # fmt: skip
        q = q.order_by(["day", "trace_id", "span_id"])
    else:
        q = j.group_by(
            ["provider", "model", "feature", "prompt_version", j.start_time.date().name("day")]
        ).aggregate(
            calls=j.count(),
            failed_calls=j.failed.cast("int64").sum(),
            unpriced_calls=j.cost.isnull().cast("int64").sum(),
            input_tokens=j.input_tokens.fill_null(0).sum(),
            output_tokens=j.output_tokens.fill_null(0).sum(),
            cache_read_tokens=j.cache_read_tokens.fill_null(0).sum(),
            cost=cost.sum(),
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


def focus_row(r: dict[str, Any], per_call: bool) -> dict[str, Any]:
    day = datetime(r["day"].year, r["day"].month, r["day"].day)
    month_start, month_end = _month(day)
    provider = r["provider"] or "unknown"
    model = r["model"] or "unknown"
    feature = r["feature"] or "unknown"
    total = float(r["cost"]) + float(r["infra_cost"])
    tokens = int(r["input_tokens"]) + int(r["output_tokens"])
    row: dict[str, Any] = {
        "BilledCost": total,
        "BillingAccountId": ACCOUNT,
        "BillingAccountName": "costper telemetry",
        "BillingCurrency": "USD",
        "BillingPeriodStart": _iso(month_start),
        "BillingPeriodEnd": _iso(month_end),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"LLM inference: {model} for {feature}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": _iso(day),
        "ChargePeriodEnd": _iso(day + timedelta(days=1)),
        "ConsumedQuantity": float(tokens),
        "ConsumedUnit": "Tokens",
        "ContractedCost": total,
        "EffectiveCost": total,
        "HostProviderName": provider,
        "InvoiceIssuerName": provider,
        "ListCost": total,
        "PricingQuantity": float(tokens),
        "PricingUnit": "Tokens",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "LLM inference",
        "ServiceProviderName": provider,
        "ServiceSubcategory": "Generative AI",
        "SkuId": f"{provider}/{model}",
        "SkuMeter": "Tokens",
        "SkuPriceDetails": json.dumps(
            {"ModelId": canonical_model(model) or model, "ModelVersion": model}
        ),
        "Tags": json.dumps({"feature": feature, "prompt_version": r["prompt_version"]}),
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
    store: Store, config: Config, *, per_call: bool = False, now: datetime | None = None
) -> pa.Table:
    rows = [focus_row(r, per_call) for r in usage_rows(store, config, per_call=per_call, now=now)]
    if not rows:
        return pa.table({k: pa.array([], pa.string()) for k in focus_row(_EMPTY, per_call)})
    return pa.Table.from_pylist(rows)


_EMPTY: dict[str, Any] = {
    "day": datetime(2000, 1, 1), "provider": None, "model": None, "feature": None,
    "prompt_version": None, "cost": 0.0, "infra_cost": 0.0, "input_tokens": 0, "output_tokens": 0,
    "cache_read_tokens": 0, "sessions": 0, "successes": 0, "calls": 0, "failed_calls": 0,
    "unpriced_calls": 0, "cost_source": None, "trace_id": None, "span_id": None, "session_id": None,
}  # fmt: skip


def export_focus(
    store: Store,
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
