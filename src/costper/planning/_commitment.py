"""How many units of committed capacity to buy, from the observed minute-by-minute demand.

Sizing follows the provider's published formula (Azure: normalized TPM =
input TPM x (1 - cache rate) + output-to-input ratio x output TPM; units =
normalized TPM / input TPM per unit, rounded up to the minimum plus whole
increments). Sizing for the peak minute is what the providers' calculators
do; the cheapest commitment is usually smaller, because a unit that is idle
most minutes costs more than the pay-as-you-go tokens it would have served.

The cost of committing N units over the observed window is

    total(N) = N x price per unit-hour x hours in the window
             + sum over minutes t of cost_t x max(0, 1 - N x capacity / demand_t)

where demand_t is the minute's normalized tokens and cost_t what its calls
cost at pay-as-you-go (the stored call cost: catalog, config or billed): the
share of a minute's demand above capacity spills over to pay-as-you-go at
that minute's own price. N runs over 0 (no commitment) and every purchasable
size up to the one that covers the peak minute; total(N) is convex in N, and
every candidate is evaluated (sorted demand and suffix sums: one binary search
each). Break-even utilisation is the share of a unit's capacity that must be
used for it to cost no more than the same tokens at the observed average
pay-as-you-go price per normalized token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

import numpy as np

from costper.errors import InputError
from costper.planning._capacity import UnitSpec

__all__ = ["Sizing", "Demand", "Option", "Plan", "round_units", "size", "plan", "MINUTES_PER_MONTH"]


MINUTES_PER_MONTH = 730 * 60
MAX_CANDIDATES = 1_000_000


def round_units(raw: Decimal, spec: UnitSpec) -> int:
    """The smallest purchasable size (minimum, then whole increments) at or above `raw`."""
    if raw <= 0:
        return 0
    if raw <= spec.min_units:
        return spec.min_units
    steps = ((raw - spec.min_units) / spec.increment).to_integral_value(ROUND_CEILING)
    return spec.min_units + int(steps) * spec.increment


@dataclass(frozen=True)
class Sizing:
    """The calculator form: one call shape at a peak rate, as the provider's calculator takes it."""

    spec: UnitSpec
    rpm: Decimal
    prompt_tokens: Decimal
    output_tokens: Decimal
    cache_rate: Decimal
    input_tpm: Decimal
    output_tpm: Decimal
    normalized_tpm: Decimal
    raw_units: Decimal
    units: int
    cost_per_month: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **_spec_dict(self.spec),
            "rpm": float(self.rpm), "prompt_tokens": float(self.prompt_tokens),
            "output_tokens": float(self.output_tokens), "cache_rate": float(self.cache_rate),
            "input_tpm": float(self.input_tpm), "output_tpm": float(self.output_tpm),
            "normalized_tpm": float(self.normalized_tpm),
            "raw_units": float(self.raw_units), "units": self.units,
            "cost_per_month": None if self.cost_per_month is None else float(self.cost_per_month),
        }  # fmt: skip


def size(
    spec: UnitSpec, rpm: Decimal, prompt_tokens: Decimal, output_tokens: Decimal,
    cache_rate: Decimal = Decimal(0),
) -> Sizing:  # fmt: skip
    for name, v in (
        ("rpm", rpm),
        ("prompt_tokens", prompt_tokens),
        ("output_tokens", output_tokens),
    ):
        if v < 0:
            raise InputError(f"{name}: must not be negative, got {v}", field=name, value=str(v))
    if not 0 <= cache_rate <= 1:
        raise InputError(
            f"cache_rate: must be between 0 and 1, got {cache_rate}", field="cache_rate",
            value=str(cache_rate),
        )  # fmt: skip
    input_tpm, output_tpm = rpm * prompt_tokens, rpm * output_tokens
    cached = input_tpm * cache_rate
    norm = (input_tpm - cached) + cached * spec.cached_weight + spec.output_ratio * output_tpm
    raw = norm / spec.tpm_per_unit
    units = round_units(raw, spec)
    monthly = None if spec.price_per_hour is None else spec.price_per_hour * 730 * units
    return Sizing(
        spec, rpm, prompt_tokens, output_tokens, cache_rate, input_tpm, output_tpm, norm, raw,
        units, monthly,
    )  # fmt: skip


@dataclass(frozen=True)
class Demand:
    """Observed demand of one model: one entry per minute that had calls, over a window
    of `minutes` minutes starting at `start` (minutes without calls have no entry)."""

    start: datetime
    minutes: int
    input: np.ndarray
    cached: np.ndarray
    output: np.ndarray
    cost: np.ndarray
    calls: int
    currency: str = "USD"

    def normalized(self, spec: UnitSpec) -> np.ndarray:
        """Per minute: uncached input + cached x weight + output x ratio (input includes cached)."""
        cw, ratio = float(spec.cached_weight), float(spec.output_ratio)
        cached = np.minimum(self.cached, self.input)
        out: np.ndarray = (self.input - cached) + cached * cw + self.output * ratio
        return out


@dataclass(frozen=True)
class Option:
    label: str
    units: int
    commitment: float
    overflow: float
    total: float
    saving: float
    utilisation: float | None
    served_share: float


@dataclass(frozen=True)
class Plan:
    spec: UnitSpec
    start: datetime
    minutes: int
    active_minutes: int
    calls: int
    tokens: dict[str, int]
    payg: float
    demand_tpm: dict[str, float]
    raw_units: dict[str, float]
    options: list[Option]
    break_even_utilisation: float | None
    curve: list[tuple[int, float]] = field(default_factory=list)
    currency: str = "USD"

    @property
    def optimal(self) -> Option:
        return next(o for o in self.options if o.label == "optimal")

    def to_dict(self) -> dict[str, Any]:
        month = MINUTES_PER_MONTH / self.minutes
        return {
            **_spec_dict(self.spec),
            "currency": self.currency,
            "window": {"start": self.start.isoformat(), "minutes": self.minutes,
                       "active_minutes": self.active_minutes},
            "calls": self.calls, "tokens": self.tokens, "pay_as_you_go": self.payg,
            "demand_tpm": self.demand_tpm, "raw_units": self.raw_units,
            "quantile_method": "nearest rank over every minute of the window, idle minutes as 0",
            "options": [
                {**o.__dict__, "total_per_month": o.total * month} for o in self.options
            ],
            "break_even_utilisation": self.break_even_utilisation,
            "per_month_factor": month,
            "curve": [{"units": n, "total": t} for n, t in self.curve],
        }  # fmt: skip


def _spec_dict(spec: UnitSpec) -> dict[str, Any]:
    return {
        "provider": spec.provider, "model": spec.model, "deployment": spec.deployment,
        "unit": spec.unit, "tpm_per_unit": float(spec.tpm_per_unit),
        "output_ratio": float(spec.output_ratio), "cached_weight": float(spec.cached_weight),
        "min_units": spec.min_units, "increment": spec.increment,
        "price_per_hour": None if spec.price_per_hour is None else float(spec.price_per_hour),
        "source": spec.source,
    }  # fmt: skip


def nearest_rank(sorted_all: np.ndarray, q: float) -> float:
    """The q-quantile by nearest rank: the smallest value with at least q of the data at or below."""
    k = max(1, math.ceil(q * len(sorted_all)))
    return float(sorted_all[k - 1])


def plan(demand: Demand, spec: UnitSpec) -> Plan:
    if spec.price_per_hour is None:
        raise InputError(
            f"unit_price: the price of one {spec.unit} is needed to size a commitment; give "
            f"--unit-price (and --price-per hour|month|year) or set unit_price in "
            f'[commitments."{spec.provider}/{spec.model}"]',
            field="unit_price",
        )
    if demand.minutes < 1 or demand.calls == 0:
        raise InputError(
            f"model: no calls of {spec.model!r} in the chosen window", field="model",
            value=spec.model,
        )  # fmt: skip
    d = demand.normalized(spec)
    keep = d > 0
    d, cost = d[keep], demand.cost[keep]
    order = np.argsort(d, kind="stable")
    d, cost = d[order], cost[order]
    cap = float(spec.tpm_per_unit)
    unit_window = float(spec.price_per_hour) * demand.minutes / 60.0
    # suffix sums: minutes above a capacity K overflow cost_t - K * cost_t / d_t
    suf_cost = np.concatenate([np.cumsum(cost[::-1])[::-1], [0.0]])
    suf_ratio = np.concatenate([np.cumsum((cost / d)[::-1])[::-1], [0.0]])
    pre_d = np.concatenate([[0.0], np.cumsum(d)])
    total_d = float(pre_d[-1])
    payg = float(suf_cost[0])

    def evaluate(label: str, n: int) -> Option:
        k = n * cap
        i = int(np.searchsorted(d, k, side="right"))
        overflow = max(0.0, float(suf_cost[i] - k * suf_ratio[i])) if n else payg
        commit = n * unit_window
        served = float(pre_d[i]) + k * (len(d) - i) if n else 0.0
        util = served / (k * demand.minutes) if n else None
        share = served / total_d if total_d else 0.0
        return Option(label, n, commit, overflow, commit + overflow, payg - commit - overflow,
                      util, share)  # fmt: skip

    everything = np.concatenate([np.zeros(demand.minutes - len(d)), d])
    everything.sort(kind="stable")
    tpm = {
        "mean": total_d / demand.minutes,
        "p95": nearest_rank(everything, 0.95),
        "p99": nearest_rank(everything, 0.99),
        "peak": float(d[-1]) if len(d) else 0.0,
    }
    raw = {k: v / cap for k, v in tpm.items()}
    peak_units = round_units(Decimal(str(raw["peak"])), spec)
    n_candidates = (peak_units - spec.min_units) // spec.increment + 2
    if n_candidates > MAX_CANDIDATES:
        raise InputError(
            f"tpm_per_unit: the peak minute needs {peak_units:,} units of {cap:g} tokens a minute; "
            f"too many sizes to compare (over {MAX_CANDIDATES:,})", field="tpm_per_unit",
        )  # fmt: skip
    sizes = [0, *range(spec.min_units, peak_units + 1, spec.increment)]
    curve = [(n, evaluate("", n).total) for n in sizes]
    best_n = min(curve, key=lambda c: (c[1], c[0]))[0]
    options = [evaluate("pay-as-you-go", 0)]
    for label in ("p95", "p99", "peak"):
        options.append(evaluate(label, round_units(Decimal(str(raw[label])), spec)))
    options.append(evaluate("optimal", best_n))
    price_per_norm = payg / total_d if total_d else 0.0
    unit_minute = float(spec.price_per_hour) / 60.0
    be = unit_minute / (cap * price_per_norm) if price_per_norm > 0 else None
    tokens = {
        "input": int(demand.input.sum()), "cached_input": int(demand.cached.sum()),
        "output": int(demand.output.sum()), "normalized": int(round(total_d)),
    }  # fmt: skip
    return Plan(
        spec, demand.start, demand.minutes, int(len(d)), demand.calls, tokens, payg, tpm, raw,
        options, be, curve, demand.currency,
    )  # fmt: skip


plan_commitment = plan
size_commitment = size
