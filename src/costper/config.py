"""Configuration: argument > environment (COSTPER_*) > file > default.

The result is one immutable `Config` passed down explicitly; nothing reads the
environment or the file at import time. Unknown keys and wrong types are
errors naming the key, because a typo in a price silently ignored is money
silently wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from costper._config_attributes import ATTRIBUTE_FIELDS, attributes_section
from costper._config_env import from_env
from costper._config_evals import EvalRule, evals_section
from costper._config_plans import (
    BUDGET_METRICS,
    BUDGET_PERIODS,
    Alerts,
    Budget,
    Commitment,
    alerts_section,
    budgets_section,
    commitments_section,
)
from costper._config_values import _check_keys, _number, _table, parse_duration
from costper._io import MAX_BODY_BYTES
from costper.errors import ConfigError

__all__ = [
    "BUDGET_METRICS", "BUDGET_PERIODS", "Alerts", "Budget", "BillingRule", "Commitment", "Config",
    "Costs", "InfraResource", "Price", "load_config", "parse_config", "parse_duration",
    "read_config_file", "ATTRIBUTE_FIELDS", "DEFAULT_DB", "DEFAULT_CONFIG_FILE", "EvalRule",
]  # fmt: skip

DEFAULT_DB = "costper.duckdb"
DEFAULT_CONFIG_FILE = "costper.toml"


@dataclass(frozen=True)
class Costs:
    escalation_cost: float = 15.0
    review_cost: float = 2.0
    per_call_overhead: float = 0.0


@dataclass(frozen=True)
class Price:
    """Per million tokens; `None` means the kind is priced as plain input/output."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None


@dataclass(frozen=True)
class BillingRule:
    match: Mapping[str, str]
    model: str


@dataclass(frozen=True)
class InfraResource:
    resource_id: str
    model: str


@dataclass(frozen=True)
class Config:
    db: str = DEFAULT_DB
    costs: Costs = field(default_factory=Costs)
    implicit_success_after: timedelta | None = timedelta(hours=24)
    confidence: float = 0.95
    min_sessions: int = 100
    min_successes: int = 5
    min_failures: int = 5
    prices: Mapping[str, Price] = field(default_factory=dict)
    feature_costs: Mapping[str, Costs] = field(default_factory=dict)
    billing_models: tuple[BillingRule, ...] = ()
    infra: tuple[InfraResource, ...] = ()
    currency: str = "USD"
    rates: Mapping[str, float] = field(default_factory=dict)
    api_keys: tuple[str, ...] = ()
    max_request_bytes: int = MAX_BODY_BYTES
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    commitments: Mapping[str, Commitment] = field(default_factory=dict)
    budgets: tuple[Budget, ...] = ()
    alerts: Alerts = field(default_factory=Alerts)
    metrics_public: bool = False
    """Per tag (session, feature, prompt_version, tenant, request_id), span attribute
    keys tried before the built-in ones; `metadata.feature` is also field `feature`
    of a JSON object attribute `metadata`."""
    evals: tuple[EvalRule, ...] = ()
    """`[[evals]]`: calls to count as evaluations (the `evals` part), by pattern."""

    def costs_for(self, feature: str) -> Costs:
        return self.feature_costs.get(feature, self.costs)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)


def _costs(section: str, raw: Any, base: Costs) -> Costs:
    t = _table(section, raw)
    _check_keys(section, t, {"escalation_cost", "review_cost", "per_call_overhead"})
    return replace(base, **{k: _number(section, k, v) for k, v in t.items()})


def _price(section: str, raw: Any) -> Price:
    t = _table(section, raw)
    _check_keys(section, t, {"input", "output", "cache_read", "cache_write", "reasoning"})
    for required in ("input", "output"):
        if required not in t:
            raise ConfigError(f"{section}.{required}: required (price per million tokens)")
    return Price(**{k: _number(section, k, v) for k, v in t.items()})


def _currency_code(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise ConfigError(f"{key}: expected an ISO 4217 code such as 'EUR', got {value!r}")
    return value.strip().upper()


def _db(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, str):
        raise ConfigError(f"db: expected a path or URL, got {raw!r}")
    return {"db": raw}


def _store(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    """`[store] url`: the same as top-level `db` (a DuckDB path or an Ibis URL)."""
    t = _table("store", raw)
    _check_keys("store", t, {"url"})
    if "url" not in t:
        return {}
    if not isinstance(t["url"], str) or not t["url"].strip():
        raise ConfigError(f"store.url: expected a path or URL, got {t['url']!r}")
    return {"db": t["url"].strip()}


def _costs_section(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    return {"costs": _costs("costs", raw, cfg.costs)}


def _outcomes(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("outcomes", raw)
    _check_keys("outcomes", t, {"implicit_success_after"})
    if "implicit_success_after" not in t:
        return {}
    v = t["implicit_success_after"]
    if not isinstance(v, str):
        raise ConfigError(
            f"outcomes.implicit_success_after: expected a string such as '24h', got {v!r}"
        )
    return {"implicit_success_after": parse_duration(v, "outcomes.implicit_success_after")}


def _stats(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("stats", raw)
    _check_keys("stats", t, {"confidence", "min_sessions", "min_successes", "min_failures"})
    out: dict[str, Any] = {}
    if "confidence" in t:
        c = _number("stats", "confidence", t["confidence"])
        if not 0 < c < 1:
            raise ConfigError(f"stats.confidence: must be between 0 and 1, got {c!r}")
        out["confidence"] = c
    if "min_sessions" in t:
        m = t["min_sessions"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError(f"stats.min_sessions: expected a positive integer, got {m!r}")
        out["min_sessions"] = m
    for key in ("min_successes", "min_failures"):
        if key in t:
            m = t[key]
            if isinstance(m, bool) or not isinstance(m, int) or m < 0:
                raise ConfigError(f"stats.{key}: expected an integer >= 0, got {m!r}")
            out[key] = m
    return out


def _prices(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    prices = dict(cfg.prices)
    for ref, p in _table("prices", raw).items():
        if "/" not in ref:
            raise ConfigError(f"prices.{ref}: expected a 'provider/model' key, got {ref!r}")
        prices[ref] = _price(f'prices."{ref}"', p)
    return {"prices": prices}


def _features(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    costs = changes.get("costs", cfg.costs)
    feats = dict(cfg.feature_costs)
    for name, f in _table("features", raw).items():
        t = _table(f'features."{name}"', f)
        _check_keys(f'features."{name}"', t, {"costs"})
        if "costs" in t:
            feats[name] = _costs(f'features."{name}".costs', t["costs"], costs)
    return {"feature_costs": feats}


def _billing(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("billing", raw)
    _check_keys("billing", t, {"models"})
    rules = []
    for i, rule in enumerate(t.get("models", [])):
        r = _table(f"billing.models[{i}]", rule)
        _check_keys(f"billing.models[{i}]", r, {"match", "model"})
        match = _table(f"billing.models[{i}].match", r.get("match", {}))
        if not isinstance(r.get("model"), str) or "/" not in r["model"]:
            raise ConfigError(
                f"billing.models[{i}].model: expected 'provider/model', got {r.get('model')!r}"
            )
        rules.append(
            BillingRule(match={str(k): str(v) for k, v in match.items()}, model=r["model"])
        )
    return {"billing_models": tuple(rules)}


def _infra(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, list):
        raise ConfigError(f"infra: expected an array of tables ([[infra]]), got {raw!r}")
    res = []
    for i, item in enumerate(raw):
        r = _table(f"infra[{i}]", item)
        _check_keys(f"infra[{i}]", r, {"resource_id", "model"})
        for k in ("resource_id", "model"):
            if not isinstance(r.get(k), str):
                raise ConfigError(f"infra[{i}].{k}: required string, got {r.get(k)!r}")
        res.append(InfraResource(resource_id=r["resource_id"], model=r["model"]))
    return {"infra": tuple(res)}


def _currency(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("currency", raw)
    _check_keys("currency", t, {"report", "rates"})
    out: dict[str, Any] = {}
    if "report" in t:
        out["currency"] = _currency_code("currency.report", t["report"])
    if "rates" in t:
        rates = {}
        for code, v in _table("currency.rates", t["rates"]).items():
            key = _currency_code(f"currency.rates.{code}", code)
            rate = _number("currency.rates", code, v)
            if rate <= 0:
                raise ConfigError(f"currency.rates.{code}: must be > 0, got {v!r}")
            rates[key] = rate
        out["rates"] = rates
    return out


def _server(raw: Any, cfg: Config, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("server", raw)
    _check_keys("server", t, {"api_keys", "max_request_bytes", "allowed_hosts", "metrics_public"})
    out: dict[str, Any] = {}
    if "metrics_public" in t:
        if not isinstance(t["metrics_public"], bool):
            raise ConfigError(
                f"server.metrics_public: expected true or false, got {t['metrics_public']!r}"
            )
        out["metrics_public"] = t["metrics_public"]
    if "allowed_hosts" in t:
        hosts = t["allowed_hosts"]
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise ConfigError(f"server.allowed_hosts: expected a list of host names, got {hosts!r}")
        out["allowed_hosts"] = tuple(h.strip().lower().strip("[]") for h in hosts)
    if "api_keys" in t:
        keys = t["api_keys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ConfigError(f"server.api_keys: expected a list of strings, got {keys!r}")
        out["api_keys"] = tuple(keys)
    if "max_request_bytes" in t:
        out["max_request_bytes"] = int(
            _number("server", "max_request_bytes", t["max_request_bytes"], minimum=1)
        )
    return out


_Section = Callable[[Any, "Config", dict[str, Any]], dict[str, Any]]
_SECTIONS: dict[str, _Section] = {
    "db": _db,
    "store": _store,
    "costs": _costs_section,
    "outcomes": _outcomes,
    "stats": _stats,
    "prices": _prices,
    "features": _features,  # after costs: a feature's costs default to the [costs] just read
    "billing": _billing,
    "infra": _infra,
    "currency": _currency,
    "server": _server,
    "attributes": attributes_section,
    "commitments": commitments_section,
    "budgets": budgets_section,
    "alerts": alerts_section,
    "evals": evals_section,
}


def parse_config(data: Mapping[str, Any], base: Config | None = None) -> Config:
    """Validate a parsed TOML document into a Config layered over `base`, section by section."""
    cfg = base or Config()
    _check_keys("", data, set(_SECTIONS))
    changes: dict[str, Any] = {}
    for section, parse in _SECTIONS.items():
        if section in data:
            changes.update(parse(data[section], cfg, changes))
    return replace(cfg, **changes)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None


def load_config(
    config_file: str | Path | None = None,
    *,
    db: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Layer default < file < environment < arguments.

    With no `config_file`, `costper.toml` in `cwd` is read if present (and
    COSTPER_CONFIG names another); an explicitly named file must exist.
    """
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    cfg = Config()
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif env.get("COSTPER_CONFIG"):
        path = Path(env["COSTPER_CONFIG"])
    elif (cwd / DEFAULT_CONFIG_FILE).exists():
        path = cwd / DEFAULT_CONFIG_FILE
    if path is not None:
        try:
            cfg = parse_config(read_config_file(path), cfg)
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    cfg = from_env(cfg, env)
    if db is not None:
        cfg = replace(cfg, db=db)
    return cfg
