"""The store's tables: one definition, used for DDL, Arrow batches and checks.

Money in the store is DOUBLE: sums over millions of calls stay exact to far
below a cent, and the statistics need floats anyway. The calculator, which
must reproduce figures to the cent, uses Decimal.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 6

CALLS = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("session_id", pa.string()),
        ("turn_id", pa.string()),
        ("request_id", pa.string()),
        ("feature", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("operation", pa.string()),
        ("service_name", pa.string()),
        ("start_time", pa.timestamp("us")),
        ("duration_ms", pa.float64()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("failed", pa.bool_()),
        ("error_type", pa.string()),
        ("estimated_cost", pa.float64()),
        ("estimate_source", pa.string()),
        ("cost", pa.float64()),
        ("cost_source", pa.string()),
        ("infra_cost", pa.float64()),
        ("seq", pa.int64()),
        ("tenant", pa.string()),
        ("scope", pa.string()),
        ("response_id", pa.string()),
        ("service_tier", pa.string()),
    ]
)
"""One row per inference span (one per real call: duplicates of a call written by
several instrumentation layers are merged at ingest).

`input_tokens` include cached input (as OTel GenAI and genai-prices count
them); `output_tokens` include reasoning. `estimated_cost` is what telemetry
says (reported, config or catalog; null when unpriced) and `estimate_source`
says which; `cost`/`cost_source` are what reports use: the estimate, or the
bill once `costper ingest billing` has joined it (`billed`). `infra_cost` is
self-hosted hardware allocated to the call. Times are UTC without zone.
`seq` is the store's data version that wrote the row (set by the store), so
the session rollup can catch up on just the calls added since it was built.
`tenant` is the customer (end user or account) the call was made for;
`scope` the instrumentation library that wrote the span (its OTel scope name),
which tells two layers' records of one call from two calls; `response_id` the
provider's id of the response, one call's surest mark. These were added
in schema version 3, so they come last.
"""

CALLS_KEY = ("trace_id", "span_id")
CALLS_NOT_NULL = (
    "trace_id",
    "span_id",
    "session_id",
    "turn_id",
    "feature",
    "start_time",
    "failed",
    "cost_source",
)

SPAN_TAGS = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("is_call", pa.bool_()),
        ("session_id", pa.string()),
        ("feature", pa.string()),
        ("prompt_version", pa.string()),
        ("turn_id", pa.string()),
        ("tenant", pa.string()),
    ]
)
"""The spans of traces that arrived in pieces: each span's parent and the tags it
sets itself (not inherited). A call's tags come from its nearest tagged ancestor,
which may arrive in a later request; these rows let that request re-resolve the
trace's calls. A trace that arrives whole keeps only its tagged root and the tagged
ancestors of its calls here, so a call arriving later below them still inherits."""

SPAN_TAGS_KEY = ("trace_id", "span_id")
SPAN_TAGS_NOT_NULL = ("trace_id", "span_id")

OUTCOMES = pa.schema(
    [
        ("record_id", pa.string()),
        ("session_id", pa.string()),
        ("at", pa.timestamp("us")),
        ("success", pa.bool_()),
        ("escalated", pa.bool_()),
        ("reviewed", pa.bool_()),
        ("signal", pa.string()),
        ("source", pa.string()),
    ]
)
"""One row per outcome record; `record_id` is a hash of its content, so the
same record ingested twice is stored once."""

OUTCOMES_KEY = ("record_id",)
OUTCOMES_NOT_NULL = ("record_id", "session_id", "at")

BILLING = pa.schema(
    [
        ("row_hash", pa.string()),
        ("source_file", pa.string()),
        ("row_number", pa.int64()),
        ("focus_version", pa.string()),
        ("allocation", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("token_kind", pa.string()),
        ("request_id", pa.string()),
        ("BillingAccountId", pa.string()),
        ("ServiceProviderName", pa.string()),
        ("HostProviderName", pa.string()),
        ("InvoiceIssuerName", pa.string()),
        ("ServiceName", pa.string()),
        ("ServiceCategory", pa.string()),
        ("ServiceSubcategory", pa.string()),
        ("ChargeCategory", pa.string()),
        ("ChargeClass", pa.string()),
        ("ChargeDescription", pa.string()),
        ("ChargePeriodStart", pa.timestamp("us")),
        ("ChargePeriodEnd", pa.timestamp("us")),
        ("BillingPeriodStart", pa.timestamp("us")),
        ("BillingPeriodEnd", pa.timestamp("us")),
        ("BillingCurrency", pa.string()),
        ("BilledCost", pa.float64()),
        ("EffectiveCost", pa.float64()),
        ("ListCost", pa.float64()),
        ("ContractedCost", pa.float64()),
        ("ConsumedQuantity", pa.float64()),
        ("ConsumedUnit", pa.string()),
        ("PricingQuantity", pa.float64()),
        ("PricingUnit", pa.string()),
        ("CommitmentDiscountStatus", pa.string()),
        ("ResourceId", pa.string()),
        ("ResourceName", pa.string()),
        ("SkuId", pa.string()),
        ("SkuMeter", pa.string()),
        ("SkuPriceDetails", pa.string()),
        ("SubAccountId", pa.string()),
        ("RegionId", pa.string()),
        ("Tags", pa.string()),
        ("raw", pa.string()),
        ("usage_kind", pa.string()),
    ]
)
"""One row per FOCUS line, AI or not. Typed columns are the ones costper uses,
under their FOCUS 1.3 names (`ServiceProviderName` holds 1.0-1.2's
`ProviderName`); `raw` keeps, as JSON text, the file's columns that have no
typed column here (extras such as `Id` or `x_` columns, FOCUS columns costper
does not use), so nothing of the export is lost. `provider`/`model`/`token_kind`/`request_id` are costper's reading of
the line, filled at ingest: `allocation` is 'model' for a line that bills a
model's usage, 'infra' for self-hosted hardware of an `[[infra]]` resource,
null for everything else. `usage_kind` says what usage a model line bills
(inference, batch, fine_tuning, evals, storage...): only inference goes onto
calls unless calls of that kind exist. `row_hash` is the row's content hash (with an
ordinal for identical rows within one file), so a bill ingested twice counts
once."""

BILLING_KEY = ("row_hash",)
BILLING_NOT_NULL = ("row_hash",)

SNAPSHOTS = pa.schema(
    [
        ("InvoiceIssuerName", pa.string()),
        ("BillingAccountId", pa.string()),
        ("BillingPeriodStart", pa.timestamp("us")),
        ("as_of", pa.timestamp("us")),
        ("as_of_source", pa.string()),
        ("source_file", pa.string()),
        ("lines", pa.int64()),
    ]
)
"""Which snapshot of each bill scope (issuer x billing account x billing period)
the `billing` table holds. Cloud exports re-deliver the month-to-date file
with revised rows; a newer snapshot of a scope replaces its lines, an older
one is ignored (see billing/_ingest.py)."""

SNAPSHOTS_KEY = ("InvoiceIssuerName", "BillingAccountId", "BillingPeriodStart")
SNAPSHOTS_NOT_NULL = ("as_of",)

UNINDEXED = frozenset({"billing", "span_tags"})
"""Tables whose key is kept unique by their writers rather than by a primary-key
index: bill ingest inserts only lines whose content key is not stored yet (an anti
join over the same billing periods), and maintaining the index cost twice the rest
of a million-line insert; `span_tags` rows go in by `Store.insert`, which leaves out
keys already stored by an anti join (none when the caller knows the batch's traces
have no rows yet), and their index cost a third of what ingest spends on them
(one row per tagged root of every trace)."""

TABLES = {
    "calls": (CALLS, CALLS_KEY, CALLS_NOT_NULL),
    "outcomes": (OUTCOMES, OUTCOMES_KEY, OUTCOMES_NOT_NULL),
    "span_tags": (SPAN_TAGS, SPAN_TAGS_KEY, SPAN_TAGS_NOT_NULL),
    "billing": (BILLING, BILLING_KEY, BILLING_NOT_NULL),
    "bill_snapshots": (SNAPSHOTS, SNAPSHOTS_KEY, SNAPSHOTS_NOT_NULL),
}
