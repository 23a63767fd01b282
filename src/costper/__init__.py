"""costper: what one successful outcome of an LLM feature really costs.

The Python API mirrors the CLI: `costper.report(db, by=["feature"])` returns a
`Report` whose `.to_pandas()`/`.to_arrow()` a notebook can use. Names are
loaded lazily so that `import costper.sdk` stays light inside applications.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Config", "compare", "load_config", "open_store", "report"]

_LAZY = {
    "report": ("costper.report", "report"),
    "compare": ("costper.compare", "compare"),
    "open_store": ("costper.store", "open_store"),
    "Config": ("costper.config", "Config"),
    "load_config": ("costper.config", "load_config"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'costper' has no attribute {name!r}")
