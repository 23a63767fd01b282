"""What-if without new data: scenarios, break-even against self-hosting, the cheapest model per success."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Breakeven",
    "Scenario",
    "WhatIf",
    "breakeven_compute",
    "evaluate",
    "recommend",
    "what_if",
]

_LAZY = {
    "Breakeven": "_breakeven",
    "Scenario": "_calculator",
    "WhatIf": "_whatif",
    "breakeven_compute": "_breakeven",
    "evaluate": "_calculator",
    "recommend": "_whatif",
    "what_if": "_whatif",
}


def __getattr__(name: str) -> Any:
    """Load submodules on first use: importing the package stays cheap and free of cycles."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
