"""Telemetry in: OTLP spans and log events, trace files and outcome records become calls and outcomes.

Only LLM inference spans become calls; prompt and completion text is never kept.
"""

from __future__ import annotations

from costper._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _LAZY)
