"""`ingest billing`: check every file, store every line, then re-run the cost join.

All files of one command are checked before anything is written and stored
in one transaction, so a bill with one bad row writes nothing. Lines are
keyed by content, so the same export ingested twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from costper.billing import _join as costjoin
from costper.billing._focus import FocusFile, read_focus
from costper.billing._models import identify
from costper.config import Config
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


def ingest_billing(store: Store, paths: Sequence[str | Path], config: Config) -> BillingIngest:
    files = [read_focus(p) for p in paths]
    names = known_models(store)
    batches = [billing_batch(f, identify(f.columns, config, names)) for f in files]
    lines = sum(b.num_rows for b in batches)
    new = 0
    if lines:
        new = store.insert("billing", pa.concat_tables(batches, promote_options="default"))
    result = costjoin.apply(store)
    kinds = _count(b.column("allocation") for b in batches)
    return BillingIngest(
        files=len(files),
        lines=lines,
        new_lines=new,
        model_lines=kinds.get("model", 0),
        infra_lines=kinds.get("infra", 0),
        versions=tuple(sorted({f.version for f in files})),
        join=result,
        warnings=tuple(w for f in files for w in f.warnings),
    )


def _count(columns: Iterable[pa.ChunkedArray]) -> dict[str, int]:
    out: dict[str, int] = {}
    for col in columns:
        for row in pc.value_counts(col).to_pylist():
            if row["values"] is not None:
                out[row["values"]] = out.get(row["values"], 0) + row["counts"]
    return out
