"""The report's vocabulary: group keys, cost sources and cost parts, and the check
of keys a user names. Plain names without Ibis, so a report whose query is
already compiled (`engine._compiled`) and the CLI's rendering need no query
builder loaded."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from costper.errors import InputError

GROUP_KEYS = (
    "feature", "model", "provider", "prompt_version", "tenant", "day", "week", "month", "turns",
)  # fmt: skip
COST_SOURCES = ("billed", "reported", "config", "catalog", "unpriced")
COST_PARTS = ("llm", "retries", "evals", "escalation", "review", "overhead", "infra", "total")


def check_keys(
    keys: Iterable[str], known: Sequence[str] = GROUP_KEYS, *, unknown: str = "unknown group key"
) -> list[str]:
    """Validate group keys against a known list: they are never pasted into a query.

    Duplicates are dropped, order is kept; `unknown` starts the error message.
    """
    out: list[str] = []
    for k in keys:
        k = k.strip()
        if k not in known:
            raise InputError(f"{unknown} {k!r} (known: {', '.join(known)})", field="by", value=k)
        if k not in out:
            out.append(k)
    return out
