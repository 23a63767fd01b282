"""One model price lookup for everything that names a model: the config's
`[prices."provider/model"]`, else the genai-prices catalog.

`price_calls` prices stored calls in bulk; the calculator, what-if and the demo
price one model named by a user. They all read a ref through `split_ref`
(provider aliases, case) so a model configured once is found by every command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from costper.config import Price
from costper.errors import InputError
from costper.pricing._aliases import ref_key, split_ref
from costper.pricing._prices import UnitPrices, catalog_entry, catalog_prices, config_prices

_BUCKET_US = 1_800_000_000
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class CallPrice:
    """Exact price of one call's input and output tokens, and where it came from."""

    input: Decimal
    output: Decimal
    source: str

    @property
    def total(self) -> Decimal:
        return self.input + self.output


def configured_price(prices: Mapping[str, Price], ref: str) -> Price | None:
    """The config's price of `ref`, matched as `split_ref` reads both sides."""
    want = ref_key(ref)
    for known, price in prices.items():
        if ref_key(known) == want:
            return price
    return None


def unknown_model(ref: str, hint: str = "") -> InputError:
    return InputError(
        f"model: unknown model {ref!r} (not in the config's [prices] nor in the "
        f"genai-prices catalog{hint})",
        field="model",
        value=ref,
    )


def unit_prices(ref: str, prices: Mapping[str, Price], at: datetime) -> UnitPrices:
    """Per-token rates of 'provider/model' (or a bare model) at `at`."""
    configured = configured_price(prices, ref)
    if configured is not None:
        return config_prices(configured)
    provider, model = split_ref(ref)
    bucket = int(at.replace(tzinfo=at.tzinfo or UTC).timestamp() * 1e6) // _BUCKET_US
    found = catalog_prices(provider, model, bucket)
    if found is None:
        raise unknown_model(ref)
    return found


def call_price(
    ref: str,
    input_tokens: Decimal,
    output_tokens: Decimal,
    prices: Mapping[str, Price],
    at: datetime | None = None,
    hint: str = "",
) -> CallPrice:
    """One call's price in exact Decimal: config prices as written, catalog prices as
    genai-prices computes them (tiers included)."""
    configured = configured_price(prices, ref)
    if configured is not None:
        pin, pout = Decimal(str(configured.input)), Decimal(str(configured.output))
        return CallPrice(input_tokens * pin / _MILLION, output_tokens * pout / _MILLION, "config")
    from genai_prices import Usage

    provider, model = split_ref(ref)
    entry = catalog_entry(provider, model)
    if entry is None:
        raise unknown_model(ref, hint)
    usage = Usage(
        input_tokens=int(input_tokens.to_integral_value(ROUND_HALF_UP)),
        output_tokens=int(output_tokens.to_integral_value(ROUND_HALF_UP)),
    )
    calc = entry[1].calc_price(usage, entry[0], genai_request_timestamp=at or datetime.now(tz=UTC))
    total = Decimal(calc.total_price)
    return CallPrice(Decimal(calc.input_price), total - Decimal(calc.input_price), "catalog")
