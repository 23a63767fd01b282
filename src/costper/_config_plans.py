"""Config sections for planning and monitoring: `[commitments."provider/model"]`,
`[[budgets]]` and `[alerts]` (their meaning: planning/_capacity.py, budgets/)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from costper._config_values import _check_keys, _number, _table, parse_duration
from costper.errors import ConfigError


@dataclass(frozen=True)
class Commitment:
    """`[commitments."provider/model"]`: a unit's capacity and price (see planning/_capacity.py)."""

    tpm_per_unit: Decimal | None = None
    output_ratio: Decimal | None = None
    cached_weight: Decimal | None = None
    min_units: int | None = None
    increment: int | None = None
    unit_price: Decimal | None = None
    price_per: str = "hour"
    deployment: str | None = None


BUDGET_METRICS = ("spend", "cost_per_success")
BUDGET_PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Budget:
    """`[[budgets]]`: a limit on spend or on cost per success, per period and filter."""

    name: str
    metric: str
    limit: float
    period: str
    feature: str | None = None
    tenant: str | None = None
    model: str | None = None
    thresholds: tuple[float, ...] = (0.8, 1.0)


@dataclass(frozen=True)
class Alerts:
    """`[alerts]`: where `costper serve` posts budget crossings, and how often it looks."""

    webhook_url: str | None = None
    interval: timedelta = timedelta(seconds=60)


def commitments_section(raw: Any, cfg: Any, changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(cfg.commitments)
    for ref, item in _table("commitments", raw).items():
        sec = f'commitments."{ref}"'
        if "/" not in ref:
            raise ConfigError(f"{sec}: expected a 'provider/model' key such as 'azure/gpt-4o'")
        t = _table(sec, item)
        decimals = ("tpm_per_unit", "output_ratio", "cached_weight", "unit_price")
        ints = ("min_units", "increment")
        _check_keys(sec, t, {*decimals, *ints, "price_per", "deployment"})
        values: dict[str, Any] = {}
        for k in decimals:
            if k in t:
                values[k] = Decimal(str(_number(sec, k, t[k])))
        for k in ints:
            if k in t:
                v = t[k]
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ConfigError(f"{sec}.{k}: expected a positive integer, got {v!r}")
                values[k] = v
        for k, allowed in (
            ("price_per", ("hour", "month", "year")),
            ("deployment", ("global", "data-zone", "regional")),
        ):
            if k in t:
                if t[k] not in allowed:
                    raise ConfigError(
                        f"{sec}.{k}: expected one of {', '.join(allowed)}, got {t[k]!r}"
                    )
                values[k] = t[k]
        out[ref] = Commitment(**values)
    return {"commitments": out}


def budgets_section(raw: Any, cfg: Any, changes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, list):
        raise ConfigError(f"budgets: expected an array of tables ([[budgets]]), got {raw!r}")
    out: list[Budget] = []
    for i, item in enumerate(raw):
        sec = f"budgets[{i}]"
        t = _table(sec, item)
        _check_keys(sec, t, {"name", "metric", "limit", "period", "feature", "tenant", "model",
                             "thresholds"})  # fmt: skip
        metric = t.get("metric", "spend")
        if metric not in BUDGET_METRICS:
            raise ConfigError(
                f"{sec}.metric: expected one of {', '.join(BUDGET_METRICS)}, got {metric!r}"
            )
        period = t.get("period", "month")
        if period not in BUDGET_PERIODS:
            raise ConfigError(
                f"{sec}.period: expected one of {', '.join(BUDGET_PERIODS)}, got {period!r}"
            )
        if "limit" not in t:
            raise ConfigError(f"{sec}.limit: required (money in the report currency)")
        limit = _number(sec, "limit", t["limit"])
        if limit <= 0:
            raise ConfigError(f"{sec}.limit: must be > 0, got {t['limit']!r}")
        filters = {}
        for k in ("feature", "tenant", "model", "name"):
            if k in t:
                if not isinstance(t[k], str) or not t[k].strip():
                    raise ConfigError(f"{sec}.{k}: expected a non-empty string, got {t[k]!r}")
                filters[k] = t[k]
        thresholds = t.get("thresholds", [0.8, 1.0])
        if not isinstance(thresholds, list) or not thresholds:
            raise ConfigError(
                f"{sec}.thresholds: expected a list of fractions such as [0.8, 1.0], got {thresholds!r}"
            )
        ths = tuple(sorted({_number(sec, "thresholds", v) for v in thresholds}))
        if ths[0] <= 0:
            raise ConfigError(f"{sec}.thresholds: must be > 0, got {thresholds!r}")
        scope = "/".join(filters[k] for k in ("feature", "tenant", "model") if k in filters)
        name = filters.pop("name", None) or f"{period} {metric} {scope or 'all'}"
        if any(b.name == name for b in out):
            raise ConfigError(f"{sec}.name: {name!r} is used by another budget; names must differ")
        out.append(
            Budget(name=name, metric=metric, limit=limit, period=period, thresholds=ths, **filters)
        )
    return {"budgets": tuple(out)}


def alerts_section(raw: Any, cfg: Any, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("alerts", raw)
    _check_keys("alerts", t, {"webhook_url", "interval"})
    values: dict[str, Any] = {}
    if "webhook_url" in t:
        url = t["webhook_url"]
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise ConfigError(f"alerts.webhook_url: expected an http(s) URL, got {url!r}")
        values["webhook_url"] = url
    if "interval" in t:
        if not isinstance(t["interval"], str):
            raise ConfigError(
                f"alerts.interval: expected a duration such as '60s', got {t['interval']!r}"
            )
        every = parse_duration(t["interval"], "alerts.interval")
        if every is None or every.total_seconds() <= 0:
            raise ConfigError(
                f"alerts.interval: must be a positive duration, got {t['interval']!r}"
            )
        values["interval"] = every
    return {"alerts": replace(cfg.alerts, **values)}
