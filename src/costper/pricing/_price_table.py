"""The price lookup as a table, for engines that price calls themselves.

A warehouse mapping spans to calls (`telemetry.warehouse`) cannot call
genai-prices per row, so costper's one lookup (config `[prices]`, else the
catalog, as `price_calls` does) is run once per (provider, model, service
tier) and written out as rows of per-token rates: `costper prices export`
writes it to CSV or Parquet, and a traces source without one builds it from
the models its spans name. `price_view` then prices calls with it in the
engine, by `price_calls`' formula: input tokens include cache reads and
writes, output tokens include reasoning, a kind without its own rate is paid
at the input or output rate, a tiered rate applies to the whole call above
its input threshold. A model the table lacks is unpriced: null, never 0.

Rates are those at one instant (`at`, default now), where ingest takes each
call's day. Models with more than one input threshold (two in the catalog
today) are left out, so their calls read unpriced rather than mispriced.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from costper.config import Config
from costper.errors import InputError
from costper.pricing._aliases import CATALOG_PROVIDERS, ref_key
from costper.pricing._currency import ESTIMATES
from costper.pricing._prices import (
    _BUCKET_US,
    _BUCKETS_PER_DAY,
    TOKEN_KINDS,
    UnitPrices,
    _catalog_model,
    _config_lookup,
    _varies_by_time_of_day,
    catalog_prices,
    provider_of_model,
)

__all__ = ["PRICE_TABLE", "price_table", "price_view", "read_price_table", "write_price_table"]

_RATES = [(f"{kind}_per_token", pa.float64()) for kind in TOKEN_KINDS]
_ABOVE = [(f"{kind}_per_token_above", pa.float64()) for kind in TOKEN_KINDS]
PRICE_TABLE = pa.schema(
    [
        ("provider", pa.string()),
        ("model", pa.string()),
        ("service_tier", pa.string()),
        ("priced_provider", pa.string()),
        *_RATES,
        ("above_input_tokens", pa.int64()),
        *_ABOVE,
        ("currency", pa.string()),
        ("source", pa.string()),
        ("at", pa.timestamp("us")),
    ]
)
"""One row per (provider, model, service_tier) as calls name them: `provider` is ''
for calls that name none (`priced_provider` is then the catalog's provider of the
model, which the call takes), `service_tier` '' for standard. Rates are per token
in `currency`; a null rate is paid at the plain input or output rate; above
`above_input_tokens` input tokens the `_above` rates (where not null) apply."""

_Ref = tuple[str | None, str, str | None]


def _bucket(at: datetime, by_half_hour: bool) -> int:
    half_hours = int(at.replace(tzinfo=at.tzinfo or UTC).timestamp() * 1e6) // _BUCKET_US
    return half_hours if by_half_hour else half_hours - half_hours % _BUCKETS_PER_DAY


def _lookup(
    provider: str | None, model: str, tier: str | None, config: Config, at: datetime
) -> tuple[UnitPrices, str | None] | None:
    """`price_calls`' answer for one ref: config first, else the catalog at `at`."""
    priced = provider or (provider_of_model(model) if model else None)
    configured = _config_lookup(config).get(ref_key(f"{priced or ''}/{model}"))
    if configured is not None:
        return configured, priced
    info = _catalog_model(priced, model)
    if info is None:
        return None
    found = catalog_prices(priced, model, _bucket(at, _varies_by_time_of_day(info)), tier or None)
    return (found, priced) if found is not None else None


def _row(ref: _Ref, prices: UnitPrices, priced: str | None, at: datetime) -> dict[str, object]:
    provider, model, tier = ref
    row: dict[str, object] = {
        "provider": provider or "",
        "model": model,
        "service_tier": tier or "",
        "priced_provider": priced,
        "currency": ESTIMATES,
        "source": prices.source,
        "at": at.astimezone(UTC).replace(tzinfo=None),
    }
    starts = set()
    for kind in TOKEN_KINDS:
        rate = getattr(prices, kind)
        row[f"{kind}_per_token"] = None if rate is None else rate.base
        row[f"{kind}_per_token_above"] = None
        for start, price in rate.tiers if rate is not None else ():
            starts.add(start)
            row[f"{kind}_per_token_above"] = price
    if len(starts) > 1:
        return {}
    row["above_input_tokens"] = starts.pop() if starts else None
    return row


def catalog_refs() -> list[_Ref]:
    """Every catalog model, under its canonical provider and under no provider."""
    from genai_prices import data_snapshot

    back = {v: k for k, v in CATALOG_PROVIDERS.items() if not k.startswith("az.")}
    refs: list[_Ref] = []
    for p in data_snapshot.get_snapshot().providers:
        for m in p.models:
            refs.append((back.get(p.id, p.id), m.id, None))
            refs.append((None, m.id, None))
    return refs


def price_table(refs: Iterable[_Ref], config: Config, at: datetime | None = None) -> pa.Table:
    """Rates of each (provider, model, service tier) by costper's lookup, plus the config's
    `[prices]`; refs nothing prices are left out."""
    when = at or datetime.now(tz=UTC)
    wanted: dict[tuple[str, str, str], _Ref] = {}
    for configured in config.prices:
        cp, _, cm = ref_key(configured).partition("/")
        wanted.setdefault((cp, cm, ""), (cp or None, cm, None))
    for provider, model, tier in refs:
        if model:
            key = (provider or "", model, tier or "")
            wanted.setdefault(key, (provider or None, model, tier or None))
    rows = []
    for ref in wanted.values():
        found = _lookup(*ref, config, when)
        if found is not None:
            row = _row(ref, found[0], found[1], when)
            if row:
                rows.append(row)
    return pa.Table.from_pylist(rows, schema=PRICE_TABLE)


def write_price_table(table: pa.Table, path: str) -> None:
    """CSV, or Parquet when the name ends `.parquet`."""
    if path.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, path)


def read_price_table(path: str) -> pa.Table:
    """A price table file back as `PRICE_TABLE` (CSV or Parquet); one currency only."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such price table (write one: costper prices export {path})")
    try:
        if p.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(p)
        else:
            import pyarrow.csv as pacsv

            types = {f.name: f.type for f in PRICE_TABLE}
            table = pacsv.read_csv(
                p,
                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
            )
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path}: not a price table: {str(e).splitlines()[0]}") from None
    missing = [f.name for f in PRICE_TABLE if f.name not in table.column_names]
    if missing:
        raise InputError(f"{path}: not a price table: missing column {missing[0]!r}")
    try:
        table = table.select(PRICE_TABLE.names).cast(PRICE_TABLE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise InputError(f"{path}: {str(e).splitlines()[0]}") from None
    currencies = {c for c in table.column("currency").to_pylist() if c}
    if currencies - {ESTIMATES}:
        raise InputError(
            f"{path}: currency {sorted(currencies - {ESTIMATES})[0]!r}: call estimates are "
            f"in {ESTIMATES} (bills carry their own currency)",
            field="currency",
        )
    return table


def price_view(calls: ir.Table, prices: ir.Table) -> ir.Table:
    """Unpriced calls (provider null when the spans name none) priced by `prices` in the
    engine; the cost columns of `calls`, as `price_calls` adds them."""
    tier = calls.service_tier
    standard = tier.isnull() | tier.isin(["", "default", "auto", "standard", "on_demand"])
    calls = calls.mutate(
        _p=calls.provider.fill_null(""), _t=standard.ifelse("", tier), _m=calls.model
    )
    exact = prices.rename(lambda c: f"x_{c}")
    plain = prices.filter(prices.service_tier == "").rename(lambda c: f"s_{c}")
    j = calls.left_join(
        exact,
        (calls._p == exact.x_provider)
        & (calls._m == exact.x_model)
        & (calls._t == exact.x_service_tier),
    ).left_join(plain, (calls._p == plain.s_provider) & (calls._m == plain.s_model))
    # '' as well as null is a miss: ClickHouse fills an unmatched non-nullable column with ''
    hit = j.x_model.nullif("").notnull()

    def col(name: str) -> ir.Value:
        return hit.ifelse(j[f"x_{name}"], j[f"s_{name}"])

    found = hit | j.s_model.nullif("").notnull()
    inp, out = j.input_tokens.cast("float64"), j.output_tokens.cast("float64")
    above = col("above_input_tokens")
    rate = {}
    for kind in TOKEN_KINDS:
        base, over = col(f"{kind}_per_token"), col(f"{kind}_per_token_above")
        tiered = above.notnull() & over.notnull() & (inp.fill_null(0) > above)
        rate[kind] = tiered.ifelse(over, base)

    def own(kind: str, tokens: ir.Value) -> ir.FloatingValue:
        return rate[kind].notnull().ifelse(tokens.cast("float64").fill_null(0.0), 0.0)

    cr, cw = own("cache_read", j.cache_read_tokens), own("cache_write", j.cache_write_tokens)
    rs = own("reasoning", j.reasoning_tokens)
    zero = ibis.literal(0.0)
    cost = (
        ibis.greatest(inp.fill_null(0.0) - cr - cw, zero) * rate["input"].fill_null(0.0)
        + cr * rate["cache_read"].fill_null(0.0)
        + cw * rate["cache_write"].fill_null(0.0)
        + ibis.greatest(out.fill_null(0.0) - rs, zero) * rate["output"].fill_null(0.0)
        + rs * rate["reasoning"].fill_null(0.0)
    )
    usage = j.input_tokens.notnull() | j.output_tokens.notnull() | j.failed
    priced = found & usage
    reported = j.reported_cost.notnull()
    estimate = ibis.cases((reported, j.reported_cost), (priced, cost), else_=ibis.null("float64"))
    source = ibis.cases(
        (reported, ibis.literal("reported")),
        (priced, col("source")),
        else_=ibis.literal("unpriced"),
    )
    provider = j.provider.isnull().ifelse(col("priced_provider"), j.provider)
    keep = [c for c in calls.columns if not c.startswith("_") and c not in ("provider",)]
    return j.select(
        *keep,
        provider=provider,
        estimated_cost=estimate,
        estimate_source=source,
        cost=estimate,
        cost_source=source,
        infra_cost=ibis.literal(0.0),
    )
