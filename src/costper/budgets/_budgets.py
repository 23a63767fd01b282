"""Where each `[[budgets]]` entry stands in its current period.

A spend budget sums what the period's calls cost (priced calls, billed where
a FOCUS bill is joined, plus self-hosted infra; by call start time, in the
report currency) and projects it linearly: spend so far / elapsed share of the
period. A cost-per-success budget reads the engine's cost per success, with
its interval, for the sessions that started in the period; a ratio has no
linear projection, so its status says whether the limit is inside, below or
above the interval. Periods are calendar periods in UTC: a day, an ISO week
(from Monday), a month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.compute as pc

from costper.config import Budget, Config
from costper.engine._report import report
from costper.pricing._aliases import canonical_model
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._source import Source, to_arrow

__all__ = ["BudgetStatus", "evaluate_budgets", "period_bounds", "PROJECTION_METHOD"]

PROJECTION_METHOD = (
    "spend: linear, spend so far / elapsed share of the period; cost per success: not "
    "projected (a ratio), its interval against the limit"
)


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The calendar period (UTC, naive) that contains `now`."""
    t = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: datetime
    period_end: datetime
    now: datetime
    value: float | None
    low: float | None
    high: float | None
    calls: int
    sessions: int
    currency: str

    @property
    def elapsed_share(self) -> float:
        whole = (self.period_end - self.period_start).total_seconds()
        return min(1.0, max(0.0, (self.now - self.period_start).total_seconds() / whole))

    @property
    def burn(self) -> float | None:
        return None if self.value is None else self.value / self.budget.limit

    @property
    def projected(self) -> float | None:
        if self.budget.metric != "spend" or self.value is None:
            return None
        share = self.elapsed_share
        return self.value / share if share > 0 else None

    @property
    def crossed(self) -> tuple[float, ...]:
        burn = self.burn
        return () if burn is None else tuple(t for t in self.budget.thresholds if burn >= t)

    @property
    def status(self) -> str:
        b = self.budget
        if self.value is None:
            return "no data"
        if self.value >= b.limit:
            return "over"
        if b.metric == "cost_per_success" and self.high is not None and self.high > b.limit:
            return "at risk"  # the limit is inside the interval
        projected = self.projected
        if projected is not None and projected > b.limit:
            return "projected over"
        return "warning" if self.crossed else "ok"

    def to_dict(self) -> dict[str, Any]:
        b = self.budget
        return {
            "name": b.name, "metric": b.metric, "period": b.period, "limit": b.limit,
            "feature": b.feature, "tenant": b.tenant, "model": b.model,
            "thresholds": list(b.thresholds), "currency": self.currency,
            "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
            "now": self.now.isoformat(), "elapsed_share": self.elapsed_share,
            "value": self.value, "low": self.low, "high": self.high,
            "calls": self.calls, "sessions": self.sessions, "burn": self.burn,
            "projected": self.projected,
            "projected_burn": None if self.projected is None else self.projected / b.limit,
            "crossed": list(self.crossed), "status": self.status,
            "method": PROJECTION_METHOD,
        }  # fmt: skip


def evaluate_budgets(
    source: Source, config: Config, now: datetime | None = None
) -> list[BudgetStatus]:
    t = now or datetime.now(UTC)
    t = t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
    return [_evaluate(source, config, b, t) for b in config.budgets]


def _evaluate(source: Source, config: Config, b: Budget, now: datetime) -> BudgetStatus:
    start, end = period_bounds(b.period, now)
    if b.metric == "spend":
        value, calls = _spend(source, config, b, start, now)
        return BudgetStatus(b, start, end, now, value, None, None, calls, 0, config.currency)
    keys = [k for k in ("tenant", "model") if getattr(b, k) is not None]
    none = BudgetStatus(b, start, end, now, None, None, None, 0, 0, config.currency)
    if b.feature is not None:
        calls = source.table("calls")
        seen = calls.filter(calls.feature == b.feature).select("feature").limit(1)
        if not to_arrow(source, seen).num_rows:
            return none  # report() would call an unknown feature a typo; a budget waits for it
    rep = report(
        source, keys, since=start, until=min(end, now), feature=b.feature, config=config, now=now
    )
    for g in rep.groups:
        if all(_same(k, g.key.get(k), getattr(b, k)) for k in keys):
            cps = g.cost_per_success
            return BudgetStatus(
                b, start, end, now, _finite(cps.value), _finite(cps.low), _finite(cps.high),
                g.calls, g.labeled_sessions, config.currency,
            )  # fmt: skip
    return none


def _same(key: str, got: object, want: str) -> bool:
    if key == "model":
        return canonical_model(str(got)) == canonical_model(want)
    return got == want


def _finite(v: float | None) -> float | None:
    return None if v is None or v != v or v in (float("inf"), float("-inf")) else float(v)


def _spend(
    source: Source, config: Config, b: Budget, start: datetime, now: datetime
) -> tuple[float | None, int]:
    calls = source.table("calls")
    t = calls.filter((calls.start_time >= start) & (calls.start_time < now))
    if b.feature is not None:
        t = t.filter(t.feature == b.feature)
    if b.tenant is not None:
        t = t.filter(t.tenant == b.tenant)
    if b.model is not None:
        names = to_arrow(source, t.select("model").distinct())["model"].to_pylist()
        want = canonical_model(b.model)
        t = t.filter(t.model.isin([m for m in names if m and canonical_model(m) == want] or [""]))
    row = to_arrow(
        source,
        t.aggregate(spend=(t.cost.fill_null(0) + t.infra_cost.fill_null(0)).sum(), calls=t.count()),
    )
    n = int(pc.sum(row["calls"]).as_py() or 0)
    if n == 0:
        return 0.0, 0
    spend = float(row["spend"][0].as_py() or 0.0)
    return spend * Rates.of(config).factor(ESTIMATES, config.currency), n
