"""Sessions, the cost model, sufficient statistics and their intervals: the numbers every report shows."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Comparison",
    "Group",
    "Interval",
    "Report",
    "compare",
    "parse_time",
    "report",
    "session_detail",
]

_LAZY = {
    "Comparison": "_compare",
    "Group": "_report",
    "Interval": "_intervals",
    "Report": "_report",
    "compare": "_compare",
    "parse_time": "costper._time",
    "report": "_report",
    "session_detail": "_session_detail",
}


def __getattr__(name: str) -> Any:
    """Load submodules on first use: importing the package stays cheap and free of cycles."""
    if name in _LAZY:
        import importlib

        module = _LAZY[name]
        module = module if module.startswith("costper.") else f"{__name__}.{module}"
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
