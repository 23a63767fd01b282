"""What-if without new data: scenarios, break-even against self-hosting, the cheapest model per success."""

from __future__ import annotations

from costper._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _LAZY)
