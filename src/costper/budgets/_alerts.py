"""Which budget thresholds are newly crossed: one notification per budget, period and threshold.

A crossing is named `budget|period start|threshold`; the names already sent
are kept by the caller (`costper serve` keeps them in a file beside the store),
so a restart does not send them again and a new period starts afresh.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from costper.budgets._budgets import BudgetStatus

__all__ = ["crossing_key", "new_crossings"]


def crossing_key(status: BudgetStatus, threshold: float) -> str:
    return f"{status.budget.name}|{status.period_start.isoformat()}|{threshold:g}"


def new_crossings(
    statuses: Iterable[BudgetStatus], sent: Collection[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(key, JSON body) for each threshold crossed and not yet sent, lowest first."""
    out = []
    for s in statuses:
        for t in s.crossed:
            key = crossing_key(s, t)
            if key not in sent:
                body = {"event": "budget_threshold_crossed", "threshold": t, **s.to_dict()}
                out.append((key, body))
    return out
