"""The real bill: FOCUS files in, their money joined onto calls, reconciliation and FOCUS export out."""

from __future__ import annotations

from costper._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _LAZY)
