"""Telemetry in: OTLP spans and log events, trace files and outcome records become calls and outcomes.

Only LLM inference spans become calls; prompt and completion text is never kept.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadSpan",
    "IngestResult",
    "OutcomeFilesSummary",
    "TraceFilesSummary",
    "ingest_outcome_files",
    "ingest_request",
    "ingest_trace_files",
]

_LAZY = {
    "BadSpan": "_span_attributes",
    "IngestResult": "_traces",
    "OutcomeFilesSummary": "_outcome_records",
    "TraceFilesSummary": "_trace_files",
    "ingest_outcome_files": "_outcome_records",
    "ingest_request": "_traces",
    "ingest_trace_files": "_trace_files",
}


def __getattr__(name: str) -> Any:
    """Load submodules on first use: importing the package stays cheap and free of cycles."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
