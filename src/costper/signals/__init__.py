"""What cost per token is still for: runaway sessions, spend-rate anomalies, and the
article's self-assessment answered from the data (`diagnose`)."""

from __future__ import annotations

from costper._lazy import lazy_getattr

__all__ = ["Anomalies", "Diagnosis", "anomalies", "diagnose"]

_LAZY = {
    "Anomalies": "_anomalies",
    "anomalies": "_anomalies",
    "Diagnosis": "_diagnose",
    "diagnose": "_diagnose",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
