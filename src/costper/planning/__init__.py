"""What-if without new data: scenarios, break-even against self-hosting, the cheapest model per
success, and how much committed capacity (PTUs, GSUs, model units) to buy."""

from __future__ import annotations

from costper._lazy import lazy_getattr

__all__ = [
    "Breakeven",
    "Scenario",
    "WhatIf",
    "breakeven_compute",
    "evaluate",
    "observed_demand",
    "plan_commitment",
    "recommend",
    "resolve_spec",
    "size_commitment",
    "what_if",
]

_LAZY = {
    "Breakeven": "_breakeven",
    "Scenario": "_calculator",
    "WhatIf": "_whatif",
    "breakeven_compute": "_breakeven",
    "evaluate": "_calculator",
    "observed_demand": "_demand",
    "plan_commitment": "_commitment",
    "resolve_spec": "_capacity",
    "size_commitment": "_commitment",
    "recommend": "_recommendation",
    "what_if": "_whatif",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
