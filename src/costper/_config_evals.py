"""`[[evals]]`: which calls are evaluations (LLM-as-judge) when their spans do not say so.

Telemetry marks a call as an evaluation by `gen_ai.operation.name=evaluate` or
`costper.call.kind=eval`; an app that cannot set either names its judge calls
here, by glob patterns (`*`, `?`) on the call's feature, prompt version, model
or service name (all given keys must match). Applied when reports are computed,
so a rule added later re-classifies calls already stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from costper._config_values import _check_keys, _table
from costper.errors import ConfigError

EVAL_RULE_KEYS = ("feature", "prompt_version", "model", "service_name")


@dataclass(frozen=True)
class EvalRule:
    feature: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    service_name: str | None = None

    def patterns(self) -> dict[str, str]:
        """Column -> anchored regular expression (RE2 and Python alike)."""
        return {k: glob_regex(v) for k in EVAL_RULE_KEYS if (v := getattr(self, k)) is not None}


def glob_regex(glob: str) -> str:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return f"^{body}$"


def evals_section(raw: Any, cfg: Any, changes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, list):
        raise ConfigError(f"evals: expected an array of tables ([[evals]]), got {raw!r}")
    rules = []
    for i, item in enumerate(raw):
        t = _table(f"evals[{i}]", item)
        _check_keys(f"evals[{i}]", t, set(EVAL_RULE_KEYS))
        if not t:
            raise ConfigError(f"evals[{i}]: give at least one of {', '.join(EVAL_RULE_KEYS)}")
        for k, v in t.items():
            if not isinstance(v, str) or not v:
                raise ConfigError(f"evals[{i}].{k}: expected a non-empty string, got {v!r}")
        rules.append(EvalRule(**t))
    return {"evals": tuple(rules)}
