"""`ingest billing`: check every file, store every line, then re-run the cost join.

All files of one command are checked before anything is written and stored
in one transaction, so a bill with one bad row writes nothing. Each file is a
snapshot of the bill scopes it covers (billing period x account x issuer): a
newer snapshot replaces those scopes' lines, an older one is ignored, and
lines are keyed by content, so the same export ingested twice changes
nothing (rule in _snapshots.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from costper.billing import _join as costjoin
from costper.billing._focus import FocusFile, read_focus
from costper.billing._models import identify
from costper.billing._snapshots import Restatement, plan
from costper.config import Config
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._schema import BILLING
from costper.store._store import Store


@dataclass(frozen=True)
class BillingIngest:
    files: int
    lines: int
    new_lines: int
    model_lines: int
    infra_lines: int
    versions: tuple[str, ...]
    join: costjoin.JoinResult
    warnings: tuple[str, ...] = field(default=())
    restatements: tuple[Restatement, ...] = field(default=())
    replaced_lines: int = 0


def known_models(store: Store) -> list[str]:
    """Models telemetry has seen: the names to look for in meter and SKU text."""
    c = store.table("calls")
    return [
        m for m in store.to_arrow(c.select("model").distinct()).column("model").to_pylist() if m
    ]


def billing_batch(f: FocusFile, identity: pa.Table) -> pa.Table:
    """A checked file as rows of the store's `billing` table."""
    n = f.num_rows
    cols: dict[str, pa.ChunkedArray | pa.Array] = {
        "row_hash": pa.array(f.row_hash, pa.string()),
        "source_file": pa.array([f.path] * n, pa.string()),
        "row_number": pa.array(range(1, n + 1), pa.int64()),
        "focus_version": pa.array([f.version] * n, pa.string()),
        "raw": f.raw,
    }
    for name in identity.column_names:
        cols[name] = identity.column(name)
    for fld in BILLING:
        if fld.name not in cols and fld.name in f.columns.column_names:
            cols[fld.name] = pc.cast(f.columns.column(fld.name), fld.type)
    return pa.table({k: cols[k] for k in BILLING.names if k in cols})


def ingest_billing(
    store: Store,
    paths: Sequence[str | Path],
    config: Config,
    *,
    as_of: datetime | None = None,
) -> BillingIngest:
    """Check every file, then in one transaction store each scope's newest snapshot."""
    files = [read_focus(p) for p in paths]
    names = known_models(store)
    batches = [billing_batch(f, identify(f.columns, config, names)) for f in files]
    p = plan(store, files, batches, as_of)
    rates = Rates.of(config)
    if p.lines.num_rows:
        # Refused before anything is written: no rate, no mixing.
        rates.factors(pc.unique(p.lines.column("BillingCurrency")).to_pylist(), ESTIMATES)
    lines = sum(b.num_rows for b in batches)
    deleted, inserted = store.replace(
        {"billing": p.replace, "bill_snapshots": p.replace},
        {"billing": p.lines, "bill_snapshots": p.snapshots} if p.lines.num_rows else {},
        keep_identical=("billing",),
    )
    result = costjoin.apply(store, rates)
    kinds = _count([p.lines.column("allocation")] if p.lines.num_rows else [])
    return BillingIngest(
        files=len(files),
        lines=lines,
        new_lines=inserted.get("billing", 0),
        model_lines=kinds.get("model", 0),
        infra_lines=kinds.get("infra", 0),
        versions=tuple(sorted({f.version for f in files})),
        join=result,
        warnings=tuple(w for f in files for w in f.warnings),
        restatements=tuple(p.restatements),
        replaced_lines=deleted.get("billing", 0),
    )


def _count(columns: Iterable[pa.ChunkedArray]) -> dict[str, int]:
    out: dict[str, int] = {}
    for col in columns:
        for row in pc.value_counts(col).to_pylist():
            if row["values"] is not None:
                out[row["values"]] = out.get(row["values"], 0) + row["counts"]
    return out
