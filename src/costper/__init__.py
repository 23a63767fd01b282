"""costper: what one successful outcome of an LLM feature really costs.

The Python API mirrors the CLI: `costper.report(db, by=["feature"])` returns a
`Report` whose `.to_pandas()`/`.to_arrow()` a notebook can use. Names are
loaded lazily so that `import costper.sdk` stays light inside applications.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "Config",
    "CostperError",
    "compare",
    "load_config",
    "open_store",
    "recommend",
    "reconcile",
    "report",
    "what_if",
]

_LAZY = {
    "report": "costper.engine",
    "compare": "costper.engine",
    "what_if": "costper.planning",
    "recommend": "costper.planning",
    "reconcile": "costper.billing",
    "open_store": "costper.store",
    "Config": "costper.config",
    "load_config": "costper.config",
    "CostperError": "costper.errors",
}


def __getattr__(name: str) -> Any:
    """Resolve public names on first use, so importing `costper` loads no engine."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'costper' has no attribute {name!r}")
