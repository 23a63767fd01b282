"""Spend-rate anomalies: a feature spending much faster than it usually does.

Method (stated, so an alert can be argued with): per feature, spend (calls' cost
plus infra, by the call's start) is summed per period (day or hour; periods
without a call count as 0 between the feature's first and last). Each period is
compared with the same phase of the `WINDOW` periods before it (the previous 14
days; for hours, the same hour on the previous 14 days, so a daily rhythm is not
an anomaly): robust z = (x − median) / max(1.4826 · MAD, FLOOR · median). A
period is anomalous when z > Z_MAX (3.5, Iglewicz and Hoaglin's cut-off for the
modified z-score) and at least MIN_HISTORY earlier periods exist, and the rise is
material: x ≥ RISE · median and the excess (x − median) at least MIN_SHARE (5%)
of a typical day's spend of all features (the median daily total; a partial last
day or the incident day itself would make a poor yardstick). Without it a 0.07 blip of a young feature, or
an hour of a low-volume feature that drew a dozen sessions instead of three (the
demo's arrivals are random; about 40 of its 3,000 feature-hours pass z > 3.5),
would be alerts; a runaway on the demo's incident day is 70% of the day's spend. Only rises are flagged: spend that falls costs nothing.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis.expr.types as ir

from costper.config import Config
from costper.errors import one_of
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._source import Source, rows

PERIODS = {"day": (timedelta(days=1), 1), "hour": (timedelta(hours=1), 24)}
"""Period length, and how many periods make one phase step back (a day of hours)."""
WINDOW = 14
MIN_HISTORY = 7
Z_MAX = 3.5
FLOOR = 0.05
MAD_SCALE = 1.4826
RISE = 1.5
MIN_SHARE = 0.05


@dataclass(frozen=True)
class SpendAnomaly:
    feature: str
    period: str
    start: datetime
    spend: float
    median: float
    scale: float
    z: float
    excess: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "start": self.start.isoformat()}


def check_period(period: str) -> str:
    return one_of("period", period, PERIODS)


def spend_series(
    source: Source,
    config: Config,
    period: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
) -> dict[str, dict[datetime, float]]:
    """Spend per feature and period start, in the report currency."""
    c = source.table("calls")
    if since is not None:
        c = c.filter(c.start_time >= since)
    if until is not None:
        c = c.filter(c.start_time < until)
    if feature is not None:
        c = c.filter(c.feature == feature)
    unit = "D" if period == "day" else "h"
    t: ir.Table = c.group_by(feature=c.feature, start=c.start_time.truncate(unit)).aggregate(
        spend=(c.cost.fill_null(0.0) + c.infra_cost.fill_null(0.0)).sum()
    )
    fx = Rates.of(config).factor(ESTIMATES, config.currency)
    out: dict[str, dict[datetime, float]] = defaultdict(dict)
    for r in rows(source, t):
        out[str(r["feature"])][r["start"]] = float(r["spend"]) * fx  # type: ignore[index,arg-type]
    return out


def anomalies(series: dict[str, dict[datetime, float]], period: str) -> list[SpendAnomaly]:
    """The method above over filled series (pure: the tests feed it by hand)."""
    step, phase = PERIODS[check_period(period)]
    daily: dict[date, float] = defaultdict(float)
    for points in series.values():
        for t, x in points.items():
            daily[t.date()] += x
    typical_day = statistics.median(daily.values()) if daily else 0.0
    found = []
    for feature in sorted(series):
        points = series[feature]
        if not points:
            continue
        t, last = min(points), max(points)
        values: list[tuple[datetime, float]] = []
        while t <= last:
            values.append((t, points.get(t, 0.0)))
            t += step
        for i, (start, x) in enumerate(values):
            history = [values[j][1] for j in range(i - phase, -1, -phase)][:WINDOW]
            if len(history) < MIN_HISTORY:
                continue
            med = statistics.median(history)
            mad = statistics.median(abs(h - med) for h in history)
            scale = max(MAD_SCALE * mad, FLOOR * med)
            if scale <= 0:
                continue
            z = (x - med) / scale
            material = x >= RISE * med and x - med >= MIN_SHARE * typical_day
            if z > Z_MAX and material:
                found.append(SpendAnomaly(feature, period, start, x, med, scale, z, x - med))
    return found


def spend_anomalies(
    source: Source,
    config: Config | None = None,
    period: str = "day",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
) -> list[SpendAnomaly]:
    config = config or Config()
    check_period(period)
    series = spend_series(source, config, period, since=since, until=until, feature=feature)
    return anomalies(series, period)
