"""`[attributes]`: the app's own span attribute keys per field (session, feature,
prompt_version, tenant, request_id), tried before the built-in conventions; a key
inside a JSON metadata attribute is written `metadata.feature`. Checked here so a
wrong key shape is a config error naming it, not a silent miss at ingest."""

from __future__ import annotations

from typing import Any

from costper._config_values import _check_keys, _table
from costper.errors import ConfigError

ATTRIBUTE_FIELDS = ("session", "feature", "prompt_version", "tenant", "request_id")


def attributes_section(raw: Any, cfg: Any, changes: dict[str, Any]) -> dict[str, Any]:
    t = _table("attributes", raw)
    _check_keys("attributes", t, set(ATTRIBUTE_FIELDS))
    out = {}
    for name, keys in t.items():
        if not isinstance(keys, list):
            raise ConfigError(f"attributes.{name}: expected a list of attribute keys, got {keys!r}")
        for key in keys:
            if (
                not isinstance(key, str)
                or not key.strip()
                or key != key.strip()
                or len(key.encode()) > 127
            ):
                raise ConfigError(
                    f"attributes.{name}: not an attribute key: {key!r} "
                    "(a non-empty string without spaces around it, at most 127 bytes)"
                )
        out[name] = tuple(keys)
    return {"attributes": out}
