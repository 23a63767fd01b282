"""Price every call: reported on the span, else config, else the genai-prices catalog.

A price depends on (provider, model, day) only, so each distinct combination
is looked up once and the per-token rates are then multiplied over the whole
batch with NumPy; a million calls of three models cost three catalog lookups.
Models whose catalog price changes with the time of day (off-peak discounts)
are looked up per half hour instead, which is the grain of those rules.

Token kinds follow genai-prices: input tokens include cache reads and writes,
output tokens include reasoning, and a kind without its own rate is paid at
the plain input or output rate. Tiered prices (long-context surcharges) apply
to the whole call when its input crosses the threshold, as the catalog says.

A call served by another tier (`service_tier`: OpenAI's flex, priority,
scale; `batch` for batch APIs) is priced by the catalog's variant for that
tier (genai-prices' `service_tier` and `processing=batch` prices); a tier the
catalog has no variant for, or a configured `[prices]` entry (the user's own
price), prices as standard. Standard tiers (`default`, `auto`) are standard.

A call with no usage recorded (and not failed) or with a model no source
prices is `unpriced`: its cost stays null and reports count it, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from costper.config import Config, Price
from costper.pricing._aliases import (
    CATALOG_PROVIDERS,
    catalog_provider,
    normalise_provider,
    ref_key,
)

_TIER_SEP = "\x1f"
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
_BUCKET_US = 1_800_000_000
_BUCKETS_PER_DAY = 48


@dataclass(frozen=True)
class Rate:
    """USD per token, with the catalog's cliff tiers as (input tokens above, USD per token)."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class UnitPrices:
    """Rates of one (provider, model, time); None for a kind paid at the plain rate."""

    source: str
    input: Rate
    output: Rate
    cache_read: Rate | None = None
    cache_write: Rate | None = None
    reasoning: Rate | None = None


def config_prices(price: Price) -> UnitPrices:
    def per_token(v: float | None) -> Rate | None:
        return None if v is None else Rate(v / 1e6)

    return UnitPrices(
        "config",
        Rate(price.input / 1e6),
        Rate(price.output / 1e6),
        per_token(price.cache_read),
        per_token(price.cache_write),
        per_token(price.reasoning),
    )


def _catalog_rate(v: Any) -> Rate | None:
    if v is None:
        return None
    if isinstance(v, Decimal | int | float):
        return Rate(float(v) / 1e6)
    base = getattr(v, "base", None)
    if base is None:
        return None
    tiers = tuple(sorted((int(t.start), float(t.price) / 1e6) for t in v.tiers))
    return Rate(float(base) / 1e6, tiers)


@lru_cache(maxsize=4096)
def catalog_entry(provider: str | None, model: str) -> tuple[Any, Any] | None:
    """genai-prices' (provider, model info) for a canonical provider and a model name."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    pid = catalog_provider(provider)
    try:
        found: tuple[Any, Any] = snapshot.find_provider_model(model, None, pid, None)
    except LookupError:
        return None
    return found


@lru_cache(maxsize=4096)
def provider_of_model(model: str) -> str | None:
    """The provider the catalog knows `model` from, as a canonical provider: for spans
    that name a model but no provider (Langfuse) or a framework instead (Strands)."""
    entry = catalog_entry(None, model)
    if entry is None:
        return None
    pid = str(getattr(entry[0], "id", "") or "")
    back = {v: k for k, v in CATALOG_PROVIDERS.items() if not k.startswith("az.")}
    return back.get(pid) or normalise_provider(pid)


def _catalog_model(provider: str | None, model: str) -> Any:
    entry = catalog_entry(provider, model)
    return None if entry is None else entry[1]


def _varies_by_time_of_day(info: Any) -> bool:
    from genai_prices.types import TimeOfDateConstraint

    prices = info.prices
    return isinstance(prices, list) and any(
        isinstance(cp.constraint, TimeOfDateConstraint) for cp in prices
    )


STANDARD_TIERS = frozenset({"", "default", "auto", "standard", "on_demand"})


def tier_context(tier: str | None) -> dict[str, str] | None:
    """genai-prices' price context for a stored service tier (None: standard)."""
    if tier is None or tier in STANDARD_TIERS:
        return None
    if tier == "batch":
        return {"processing": "batch"}
    return {"service_tier": tier}


@lru_cache(maxsize=65536)
def catalog_prices(
    provider: str | None, model: str, bucket: int, tier: str | None = None
) -> UnitPrices | None:
    """genai-prices rates at the start of half-hour `bucket` (µs since epoch / 30 min),
    for the service tier `tier` (None: standard)."""
    info = _catalog_model(provider, model)
    if info is None:
        return None
    at = datetime.fromtimestamp(bucket * _BUCKET_US / 1e6, tz=UTC)
    mp = info.get_prices(at, tier_context(tier))
    inp = _catalog_rate(getattr(mp, "input_mtok", None))
    out = _catalog_rate(getattr(mp, "output_mtok", None))
    if inp is None and out is None:
        return None
    return UnitPrices(
        "catalog",
        inp or Rate(0.0),
        out or Rate(0.0),
        _catalog_rate(getattr(mp, "cache_read_mtok", None)),
        _catalog_rate(getattr(mp, "cache_write_mtok", None)),
        _catalog_rate(getattr(mp, "output_reasoning_mtok", None)),
    )


def _config_lookup(config: Config) -> dict[str, UnitPrices]:
    return {ref_key(ref): config_prices(p) for ref, p in config.prices.items()}


def _tokens(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    col = table.column(f"{name}_tokens")
    values = pc.fill_null(col, 0).to_numpy().astype(np.float64)
    return values, pc.is_valid(col).to_numpy(zero_copy_only=False)


def _rates(
    prices: list[UnitPrices | None], kind: str, inv: np.ndarray, input_tokens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row rate of a token kind and whether the kind has its own rate."""
    rates = [None if p is None else getattr(p, kind) for p in prices]
    base = np.array([0.0 if r is None else r.base for r in rates])[inv]
    own = np.array([r is not None for r in rates])[inv]
    for c, r in enumerate(rates):
        if r is not None and r.tiers:
            rows = inv == c
            for start, price in r.tiers:
                base[rows & (input_tokens > start)] = price
    return base, own


def price_calls(calls: pa.Table, config: Config) -> pa.Table:
    """Add estimated_cost, estimate_source, cost, cost_source, infra_cost to call rows.

    `calls` needs provider, model, start_time, the five token columns, failed
    and (optionally) reported_cost.
    """
    n = calls.num_rows
    if n == 0:
        return _with_costs(calls, pa.nulls(0, pa.float64()), pa.array([], pa.string()))
    provider = pc.fill_null(calls.column("provider"), "")
    model = pc.fill_null(calls.column("model"), "")
    joined = pc.binary_join_element_wise(provider, model, "/")
    tiered = "service_tier" in calls.column_names and calls.column("service_tier").null_count < n
    if tiered:
        tier = pc.fill_null(calls.column("service_tier"), "")
        joined = pc.binary_join_element_wise(joined, tier, _TIER_SEP)
    pm = pc.dictionary_encode(joined, null_encoding="encode").combine_chunks()
    pm_idx = pm.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    refs = pm.dictionary.to_pylist()
    ts = calls.column("start_time").cast(pa.int64()).to_numpy()
    half_hours = ts // _BUCKET_US
    days = half_hours - half_hours % _BUCKETS_PER_DAY
    configured = _config_lookup(config)
    per_ref: list[UnitPrices | None | tuple[str | None, str, str | None]] = []
    by_half_hour = np.zeros(len(refs), dtype=bool)
    for i, joined_ref in enumerate(refs):
        ref, _, tier_of = joined_ref.partition(_TIER_SEP) if tiered else (joined_ref, "", "")
        prov, _, mod = ref.partition("/")
        if ref_key(ref) in configured:
            per_ref.append(configured[ref_key(ref)])
        elif mod:
            info = _catalog_model(prov or None, mod)
            found = (prov or None, mod, tier_of or None)
            per_ref.append(found if info is not None else None)
            by_half_hour[i] = info is not None and _varies_by_time_of_day(info)
        else:
            per_ref.append(None)
    bucket = np.where(by_half_hour[pm_idx], half_hours, days)
    key = (pm_idx << 32) | (bucket - bucket.min())
    uniq, inv = np.unique(key, return_inverse=True)
    base_bucket = bucket.min()
    prices: list[UnitPrices | None] = []
    for k in uniq.tolist():
        entry = per_ref[k >> 32]
        if isinstance(entry, tuple):
            at = int((k & 0xFFFFFFFF) + base_bucket)
            prices.append(catalog_prices(entry[0], entry[1], at, entry[2]))
        else:
            prices.append(entry)
    inp, inp_known = _tokens(calls, "input")
    out, out_known = _tokens(calls, "output")
    counts = {"input": inp, "output": out}
    for kind in ("cache_read", "cache_write", "reasoning"):
        counts[kind] = _tokens(calls, kind)[0]
    rate = {}
    own = {}
    for kind in TOKEN_KINDS:
        rate[kind], own[kind] = _rates(prices, kind, inv, inp)
    cr = np.where(own["cache_read"], counts["cache_read"], 0.0)
    cw = np.where(own["cache_write"], counts["cache_write"], 0.0)
    rs = np.where(own["reasoning"], counts["reasoning"], 0.0)
    cost = (
        np.maximum(inp - cr - cw, 0.0) * rate["input"]
        + cr * rate["cache_read"]
        + cw * rate["cache_write"]
        + np.maximum(out - rs, 0.0) * rate["output"]
        + rs * rate["reasoning"]
    )
    failed = pc.fill_null(calls.column("failed"), False).to_numpy(zero_copy_only=False)
    usage_known = inp_known | out_known | failed
    priced = np.array([p is not None for p in prices])[inv] & usage_known
    source = np.array(["unpriced" if p is None else p.source for p in prices], dtype=object)[inv]
    source = np.where(priced, source, "unpriced")
    estimate = pa.array(cost, pa.float64(), mask=~priced)
    if "reported_cost" in calls.column_names:
        reported = calls.column("reported_cost").combine_chunks()
        has = pc.is_valid(reported).to_numpy(zero_copy_only=False)
        if has.any():
            estimate = pc.if_else(has, reported.cast(pa.float64()), estimate)
            source = np.where(has, "reported", source)
    return _with_costs(calls, estimate, pa.array(source, pa.string()))


def _with_costs(calls: pa.Table, estimate: pa.Array, source: pa.Array) -> pa.Table:
    out = calls
    for name, col in (
        ("estimated_cost", estimate),
        ("estimate_source", source),
        ("cost", estimate),
        ("cost_source", source),
        ("infra_cost", pa.array(np.zeros(len(calls)), pa.float64())),
    ):
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, col)
        else:
            out = out.append_column(name, col)
    return out
