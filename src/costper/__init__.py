"""costper: what one successful outcome of an LLM feature really costs.

The Python API mirrors the CLI: `costper.report(db, by=["feature"])` returns a
`Report` whose `.to_pandas()`/`.to_arrow()` a notebook can use. Names are
loaded lazily so that `import costper.sdk` stays light inside applications.
"""

from __future__ import annotations

from costper._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _LAZY)
