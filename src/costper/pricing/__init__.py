"""What a call costs before the bill says: config prices, then the genai-prices catalog."""

from __future__ import annotations

from costper._lazy import lazy_getattr

__all__ = [
    "CallPrice",
    "Rate",
    "UnitPrices",
    "call_price",
    "canonical_model",
    "catalog_prices",
    "configured_price",
    "normalise_provider",
    "price_calls",
    "split_ref",
    "unit_prices",
]

_LAZY = {
    "CallPrice": "_lookup",
    "call_price": "_lookup",
    "configured_price": "_lookup",
    "unit_prices": "_lookup",
    "canonical_model": "_aliases",
    "normalise_provider": "_aliases",
    "split_ref": "_aliases",
    "Rate": "_prices",
    "UnitPrices": "_prices",
    "catalog_prices": "_prices",
    "price_calls": "_prices",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
