"""API against self-hosted: monthly cost, GPUs needed and the break-even volume.

An API bill grows with volume; a GPU lease is a staircase, one step per GPU,
paid whether the GPU is busy or idle. "Self-hosting wins above N requests" is
only true if it stays true above N, so the break-even here is the volume from
which self-hosting is cheaper at every higher volume, not merely the first
crossing. Success rates matter more than either bill: a failed request costs
a ticket (15.00) while a request's compute costs a cent, so the second
break-even compares cost per success with failures priced in.

    API compute       = requests × tokens_per_request × api_price / 1e6
    GPUs              = max(1, ceil(tokens / (throughput × utilisation × hours × 3600)))
    self-host compute = GPUs × gpu_price × hours + ops
    failures          = requests × (1 - success_rate) × failure_cost
    cost per success  = (compute + failures) / (requests × success_rate)

Decimal throughout, like the calculator; rounding only when shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from costper._format import round_money
from costper.errors import InputError
from costper.planning._calculator import to_decimal

ZERO, ONE, MILLION = Decimal(0), Decimal(1), Decimal(1_000_000)
ARTICLE_VOLUMES = (Decimal(100_000), Decimal(1_000_000), Decimal(10_000_000))


@dataclass(frozen=True)
class Deployment:
    """Defaults are the article's: API 10/1M tokens, 1k tokens a request, 2.00/h × 730 h.

    800 tokens/s sustained per GPU at 70% utilisation is our assumption (the
    article gives none); it makes 10M requests need 7 GPUs, "about 10×"
    cheaper than the API, as the article says.
    """

    api_price: Decimal = Decimal("10.00")
    tokens_per_request: Decimal = Decimal(1000)
    gpu_price: Decimal = Decimal("2.00")
    hours: Decimal = Decimal(730)
    throughput: Decimal = Decimal(800)
    utilisation: Decimal = Decimal("0.70")
    ops: Decimal = ZERO
    api_success_rate: Decimal = Decimal("0.95")
    self_success_rate: Decimal | None = None
    failure_cost: Decimal = Decimal("15.00")

    @property
    def self_success(self) -> Decimal:
        return self.api_success_rate if self.self_success_rate is None else self.self_success_rate

    @property
    def gpu_month(self) -> Decimal:
        return self.gpu_price * self.hours

    @property
    def api_per_request(self) -> Decimal:
        return self.tokens_per_request * self.api_price / MILLION

    @property
    def requests_per_gpu(self) -> Decimal:
        """Requests one GPU serves in a month at the target utilisation."""
        return self.throughput * self.utilisation * self.hours * 3600 / self.tokens_per_request


PARAMETERS = tuple(f.name for f in fields(Deployment))
_RATES = ("utilisation", "api_success_rate", "self_success_rate")
_POSITIVE = ("tokens_per_request", "hours", "throughput")
_NON_NEGATIVE = ("api_price", "gpu_price", "ops", "failure_cost")


def build_deployment(values: Mapping[str, object], base: Deployment | None = None) -> Deployment:
    """Parse and check parameters (names as in `PARAMETERS`); errors name the flag."""
    changes: dict[str, Decimal] = {}
    for key, raw in values.items():
        if key not in PARAMETERS:
            known = ", ".join(PARAMETERS)
            raise InputError(f"{key}: unknown parameter (known: {known})", field=key)
        if raw is not None:
            changes[key] = to_decimal(raw, key)
    d = replace(base or Deployment(), **changes)
    for key in _RATES:
        v = getattr(d, key)
        if v is not None and not ZERO < v <= ONE:
            raise _bad(key, v, "must be a rate above 0 and at most 1")
    for key in _POSITIVE:
        if getattr(d, key) <= 0:
            raise _bad(key, getattr(d, key), "must be greater than 0")
    for key in _NON_NEGATIVE:
        if getattr(d, key) < 0:
            raise _bad(key, getattr(d, key), "must not be negative")
    if d.hours > 744:
        raise _bad("hours", d.hours, "a month has at most 744 hours")
    return d


def _bad(key: str, value: Decimal, why: str) -> InputError:
    return InputError(f"{key}: {why}, got {value}", field=key, value=str(value))


def check_volumes(volumes: Sequence[object], label: str = "requests") -> list[Decimal]:
    out = []
    for raw in volumes:
        v = to_decimal(raw, label)
        if v <= 0:
            raise InputError(f"{label}: must be greater than 0, got {v}", field=label, value=str(v))
        out.append(v)
    return out


def gpus_needed(d: Deployment, requests: Decimal) -> int:
    """At least one: an idle GPU is still paid for."""
    return max(1, int((requests / d.requests_per_gpu).to_integral_value(ROUND_CEILING)))


@dataclass(frozen=True)
class Row:
    requests: Decimal
    tokens: Decimal
    gpus: int
    api_compute: Decimal
    self_compute: Decimal
    api_failures: Decimal
    self_failures: Decimal
    api_per_success: Decimal
    self_per_success: Decimal

    @property
    def compute_ratio(self) -> Decimal | None:
        """API compute over self-hosted compute: 10 means self-hosting is 10× cheaper."""
        return self.api_compute / self.self_compute if self.self_compute else None

    def cheaper(self, all_in: bool = False) -> tuple[str, Decimal | None]:
        """Which side is cheaper ("self-hosted", "api" or "same") and by what factor,
        on compute alone or all-in (per success, failures priced in): the table and
        the sentence under it must never disagree, so both come from here."""
        api, own = (
            (self.api_per_success, self.self_per_success)
            if all_in
            else (self.api_compute, self.self_compute)
        )
        if own < api:
            return "self-hosted", (api / own if own else None)
        if api < own:
            return "api", (own / api if api else None)
        return "same", None


def row(d: Deployment, requests: Decimal) -> Row:
    gpus = gpus_needed(d, requests)
    api = requests * d.api_per_request
    own = gpus * d.gpu_month + d.ops
    api_fail = requests * (ONE - d.api_success_rate) * d.failure_cost
    own_fail = requests * (ONE - d.self_success) * d.failure_cost
    return Row(
        requests=requests,
        tokens=requests * d.tokens_per_request,
        gpus=gpus,
        api_compute=api,
        self_compute=own,
        api_failures=api_fail,
        self_failures=own_fail,
        api_per_success=(api + api_fail) / (requests * d.api_success_rate),
        self_per_success=(own + own_fail) / (requests * d.self_success),
    )


@dataclass(frozen=True)
class Breakeven:
    requests: int | None
    gpus: int | None
    why: str


def _tail_start(value: Decimal, d: Deployment) -> Decimal | None:
    """Smallest whole volume from which k(V)·gpu_month + ops <= value·V at every higher V.

    `value` is what self-hosting saves per request before its fixed cost. The
    self-hosted cost is a staircase: on step k (volume in ((k-1)·cap, k·cap])
    it is k·g + ops. The step is wholly cheaper iff k·g + ops <= value·(k-1)·cap,
    which holds for every k from K = ceil((value·cap + ops)/(value·cap - g)) on;
    the tail then starts on step K-1 where value·V reaches k·g + ops. Earlier
    steps may be cheaper in part (one busy GPU beats the API, two half-idle do
    not), which is why the first crossing is not the answer.
    """
    g, ops, cap = d.gpu_month, d.ops, d.requests_per_gpu
    if g + ops == 0:
        return ZERO if value >= 0 else None
    if value <= 0 or value * cap <= g:
        return None
    big_k = max(2, int(((value * cap + ops) / (value * cap - g)).to_integral_value(ROUND_CEILING)))
    k = big_k - 1
    # x < k·cap always: k·g + ops < K·g + ops <= value·k·cap, so the tail starts inside step k.
    return ((k * g + ops) / value).to_integral_value(ROUND_CEILING)


def breakeven_compute(d: Deployment) -> Breakeven:
    v = _tail_start(d.api_per_request, d)
    if v is None:
        why = (
            f"one GPU's full month at API prices is worth "
            f"{round_money(d.api_per_request * d.requests_per_gpu):,}, not more than its lease of "
            f"{round_money(d.gpu_month):,}"
            if d.api_per_request > 0
            else "the API costs nothing"
        )
        return Breakeven(None, None, why)
    return Breakeven(int(v), gpus_needed(d, max(v, ONE)), "on compute alone")


def breakeven_per_success(d: Deployment) -> Breakeven:
    """Where self-hosted cost per success drops below the API's, failures priced in.

    CPS_self <= CPS_api  <=>  k·g + ops <= V · [s_self (p + (1-s_api) f) / s_api - (1-s_self) f]
    """
    p, f, sa, ss = d.api_per_request, d.failure_cost, d.api_success_rate, d.self_success
    value = ss * (p + (ONE - sa) * f) / sa - (ONE - ss) * f
    v = _tail_start(value, d)
    if v is None:
        gap = (sa - ss) * f
        why = (
            f"the self-hosted model fails more often: {round_money(gap)} more a request in "
            f"failures, against {round_money(p)} of API compute saved"
            if value <= 0
            else "even fully used, a GPU saves less per success than it costs"
        )
        return Breakeven(None, None, why)
    return Breakeven(int(v), gpus_needed(d, max(v, ONE)), "per success, failures priced in")


@dataclass(frozen=True)
class Comparison:
    deployment: Deployment
    rows: list[Row]
    compute: Breakeven
    per_success: Breakeven


def compare(d: Deployment, volumes: Sequence[Decimal] = ARTICLE_VOLUMES) -> Comparison:
    vols = sorted(set(volumes))
    return Comparison(d, [row(d, v) for v in vols], breakeven_compute(d), breakeven_per_success(d))


def _m(x: Decimal | None) -> float | None:
    return None if x is None else float(round_money(x))


def comparison_json(c: Comparison) -> dict[str, Any]:
    d = c.deployment
    return {
        "parameters": {
            p: (None if getattr(d, p) is None else float(getattr(d, p))) for p in PARAMETERS
        },
        "gpu_month": _m(d.gpu_month),
        "api_per_request": _m(d.api_per_request),
        "requests_per_gpu": int(d.requests_per_gpu.to_integral_value(ROUND_FLOOR)),
        "rows": [
            {
                "requests": int(r.requests),
                "tokens": int(r.tokens),
                "gpus": r.gpus,
                "api_compute": _m(r.api_compute),
                "self_compute": _m(r.self_compute),
                "cheaper_on_compute": r.cheaper()[0],
                "compute_ratio": None
                if r.compute_ratio is None
                else round(float(r.compute_ratio), 1),
                "api_failures": _m(r.api_failures),
                "self_failures": _m(r.self_failures),
                "api_total": _m(r.api_compute + r.api_failures),
                "self_total": _m(r.self_compute + r.self_failures),
                "api_per_success": _m(r.api_per_success),
                "self_per_success": _m(r.self_per_success),
                "cheaper_per_success": r.cheaper(all_in=True)[0],
            }
            for r in c.rows
        ],
        "breakeven": {
            "compute": vars(c.compute),
            "per_success": vars(c.per_success),
        },
    }


def breakeven_json(params: Mapping[str, object]) -> dict[str, Any]:
    """Break-even for the JSON API and the dashboard: parameter names as in `PARAMETERS`,
    plus `requests` (a list of volumes, added to the article's 100k, 1M and 10M)."""
    if not isinstance(params, Mapping):
        raise InputError(f"expected a JSON object, got {type(params).__name__}")
    values = dict(params)
    extra = values.pop("requests", None) or []
    if not isinstance(extra, list):
        extra = [extra]
    vols = list(ARTICLE_VOLUMES) + check_volumes(extra, "requests")
    return comparison_json(compare(build_deployment(values), vols))
