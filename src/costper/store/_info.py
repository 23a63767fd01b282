"""What a store holds, for `costper info`: enough to know what a report will cover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from costper.store._schema import SCHEMA_VERSION
from costper.store._source import Source


@dataclass(frozen=True)
class StoreInfo:
    path: str
    schema_version: int
    data_version: int
    rows: dict[str, int]
    calls_from: datetime | None
    calls_until: datetime | None
    sessions: int
    billing_currencies: tuple[str, ...]


def store_info(store: Source) -> StoreInfo:
    """Row counts, time range and currencies; portable Ibis expressions, nothing DuckDB-only."""
    calls = store.table("calls")
    span = store.to_arrow(
        calls.aggregate(
            first=calls.start_time.min(),
            last=calls.start_time.max(),
            sessions=calls.session_id.nunique(),
        )
    ).to_pylist()[0]
    billing = store.table("billing")
    currencies: tuple[str, ...] = ()
    if "BillingCurrency" in billing.columns:
        found = store.to_arrow(billing.select("BillingCurrency").distinct()).column(0)
        currencies = tuple(sorted(c for c in found.to_pylist() if c))
    names = ("calls", "outcomes", "billing")
    return StoreInfo(
        path=store.path,
        schema_version=SCHEMA_VERSION,
        data_version=store.version(),
        rows={n: store.count(n) for n in names},
        calls_from=span["first"],
        calls_until=span["last"],
        sessions=int(span["sessions"] or 0),
        billing_currencies=currencies,
    )
