"""The value checks every config section shares: numbers, tables, known keys, durations.

Each error names the key (`section.key: ...`), because a typo silently ignored
is money silently wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from costper.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, key: str = "duration") -> timedelta | None:
    """'24h', '30m', '7d' or 'off' (None)."""
    if text.strip().lower() == "off":
        return None
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(
            f"{key}: expected a duration such as '24h', '30m', '7d' or 'off', got {text!r}"
        )
    try:
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    except OverflowError:
        raise ConfigError(f"{key}: {text!r} is longer than any date range") from None


def _number(section: str, key: str, value: Any, *, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{section}.{key}: expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{section}.{key}: must be >= {minimum}, got {value!r}")
    return float(value)


def _table(section: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{section}: expected a table, got {value!r}")
    return value


def _check_keys(section: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{section}.{key}: unknown key (known: {known})".lstrip("."))
