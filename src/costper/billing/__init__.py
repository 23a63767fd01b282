"""The real bill: FOCUS files in, their money joined onto calls, reconciliation and FOCUS export out."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BillingIngest",
    "FocusFile",
    "Reconciliation",
    "export_focus",
    "ingest_billing",
    "read_focus",
    "reconcile",
    "rejoin",
]

_LAZY = {
    "BillingIngest": "_ingest",
    "FocusFile": "_focus",
    "Reconciliation": "_reconcile",
    "export_focus": "_export",
    "ingest_billing": "_ingest",
    "read_focus": "_focus",
    "reconcile": "_reconcile",
    "rejoin": "_join",
}


def __getattr__(name: str) -> Any:
    """Load submodules on first use: importing the package stays cheap and free of cycles."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
