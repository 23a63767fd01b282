"""One session laid open: its calls, its cost parts and its outcome history.

When a session costs ten times the median, the question is why: which calls
failed and were retried, which model ran, which outcome records arrived and
in what order (the latest value of each field wins). Content is never
stored, so none is shown; ids, tokens, costs and signals are.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from costper.config import Config
from costper.engine._sessions import session_table
from costper.store._source import Source, as_source

CALL_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "turn_id", "request_id", "provider", "model",
    "prompt_version", "operation", "start_time", "duration_ms", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "failed", "error_type",
    "estimated_cost", "estimate_source", "cost", "cost_source", "infra_cost", "service_tier",
)  # fmt: skip
OUTCOME_COLUMNS = ("at", "success", "escalated", "reviewed", "signal", "source", "record_id")
SUMMARY_COLUMNS = (
    "feature", "model", "provider", "prompt_version", "first_call", "last_call", "turns",
    "turn_bucket", "calls", "failed_calls", "input_tokens", "output_tokens", "cache_read_tokens",
    "total_tokens", "llm", "retries", "evals", "escalation", "review", "overhead", "infra", "total",
    "status", "success", "escalated", "reviewed", "unpriced_calls",
)  # fmt: skip


def plain(v: Any) -> Any:
    """JSON-ready: ISO times, no NaN, and engine decimals (sums of integers
    can come back as DECIMAL) as int or float."""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def rows(table: Any) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]


def session_detail(
    source: Source, config: Config, session_id: str, *, now: datetime | None = None
) -> dict[str, Any] | None:
    """The session as JSON-ready data, or None when no call of it is stored."""
    store = as_source(source)
    calls = store.table("calls")
    calls = calls.filter(calls.session_id == session_id).order_by(["start_time", "span_id"])
    call_rows = rows(store.to_arrow(calls.select(*CALL_COLUMNS)))
    if not call_rows:
        return None
    outcomes = store.table("outcomes")
    outcomes = outcomes.filter(outcomes.session_id == session_id).order_by(["at", "record_id"])
    sessions = session_table(store, config, now=now)
    summary = sessions.filter(sessions.session_id == session_id).select(*SUMMARY_COLUMNS)
    summary_rows = rows(store.to_arrow(summary))
    return {
        "session_id": session_id,
        "summary": summary_rows[0] if summary_rows else None,
        "calls": call_rows,
        "outcomes": rows(store.to_arrow(outcomes.select(*OUTCOME_COLUMNS))),
    }
