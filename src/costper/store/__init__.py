"""The one storage seam: only this package imports a database driver."""

from __future__ import annotations

from typing import Any

__all__ = ["StoreInfo", "store_info", "Store", "open_store"]

_LAZY = {
    "StoreInfo": "_info",
    "store_info": "_info",
    "Store": "_store",
    "open_store": "_store",
}


def __getattr__(name: str) -> Any:
    """Load submodules on first use: importing the package stays cheap and free of cycles."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
