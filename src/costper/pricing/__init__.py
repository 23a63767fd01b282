"""What a call costs before the bill says: config prices, then the genai-prices catalog."""

from __future__ import annotations

from typing import Any

__all__ = ["Rate", "UnitPrices", "catalog_prices", "price_calls"]

_LAZY = {
    "Rate": "_prices",
    "UnitPrices": "_prices",
    "catalog_prices": "_prices",
    "price_calls": "_prices",
}


def __getattr__(name: str) -> Any:
    """Load submodules on first use: importing the package stays cheap and free of cycles."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
