"""COSTPER_* environment variables: the layer between the config file and arguments.

Only the settings a deployment sets per environment (store, cost model, trust
thresholds, API keys) have a variable; each is validated like its file key,
and an error names the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from costper._config_values import parse_duration
from costper.errors import ConfigError

if TYPE_CHECKING:
    from costper.config import Config


def from_env(cfg: Config, env: Mapping[str, str]) -> Config:
    """`cfg` with the COSTPER_* variables of `env` over it (they win over the file)."""
    changes: dict[str, Any] = {}

    def num(name: str) -> float:
        try:
            v = float(env[name])
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {env[name]!r}") from None
        if v < 0:
            raise ConfigError(f"{name}: must be >= 0, got {env[name]!r}")
        return v

    if env.get("COSTPER_DB"):
        changes["db"] = env["COSTPER_DB"]
    cost_changes = {}
    for key in ("escalation_cost", "review_cost", "per_call_overhead"):
        name = f"COSTPER_{key.upper()}"
        if env.get(name):
            cost_changes[key] = num(name)
    if cost_changes:
        changes["costs"] = replace(cfg.costs, **cost_changes)
    if env.get("COSTPER_IMPLICIT_SUCCESS_AFTER"):
        changes["implicit_success_after"] = parse_duration(
            env["COSTPER_IMPLICIT_SUCCESS_AFTER"], "COSTPER_IMPLICIT_SUCCESS_AFTER"
        )
    if env.get("COSTPER_CONFIDENCE"):
        c = num("COSTPER_CONFIDENCE")
        if not 0 < c < 1:
            raise ConfigError(
                f"COSTPER_CONFIDENCE: must be between 0 and 1, got {env['COSTPER_CONFIDENCE']!r}"
            )
        changes["confidence"] = c
    if env.get("COSTPER_MIN_SESSIONS"):
        raw = env["COSTPER_MIN_SESSIONS"]
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"COSTPER_MIN_SESSIONS: expected a positive integer, got {raw!r}")
        changes["min_sessions"] = int(raw)
    if env.get("COSTPER_API_KEYS"):
        changes["api_keys"] = tuple(
            k.strip() for k in env["COSTPER_API_KEYS"].split(",") if k.strip()
        )
    return replace(cfg, **changes)
