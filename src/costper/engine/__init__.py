"""Sessions, the cost model, sufficient statistics and their intervals: the numbers every report shows."""

from __future__ import annotations

from costper._lazy import lazy_getattr

__all__ = [
    "Comparison",
    "Group",
    "Interval",
    "Report",
    "compare",
    "parse_time",
    "report",
    "session_detail",
]

_LAZY = {
    "Comparison": "_compare",
    "Group": "_report_model",
    "Interval": "_intervals",
    "Report": "_report_model",
    "compare": "_compare",
    "parse_time": "costper._time",
    "report": "_report",
    "session_detail": "_session_detail",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
