"""The one storage seam: only this package imports a database driver."""

from __future__ import annotations

from costper._lazy import lazy_getattr

__all__ = [
    "StoreInfo", "store_info", "Store", "open_store", "open_source", "Source", "as_source",
    "to_arrow", "BackendSource",
]  # fmt: skip

_LAZY = {
    "Source": "_source",
    "to_arrow": "_source",
    "as_source": "_source",
    "BackendSource": "_backend",
    "open_source": "_store",
    "StoreInfo": "_info",
    "store_info": "_info",
    "Store": "_store",
    "open_store": "_store",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
