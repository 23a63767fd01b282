"""Budgets on spend or on cost per success, their burn and projection, and the crossings
that `costper serve` posts to a webhook."""

from __future__ import annotations

from costper._lazy import lazy_getattr

__all__ = ["BudgetStatus", "evaluate_budgets", "period_bounds", "new_crossings"]

_LAZY = {
    "BudgetStatus": "_budgets",
    "evaluate_budgets": "_budgets",
    "period_bounds": "_budgets",
    "new_crossings": "_alerts",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
