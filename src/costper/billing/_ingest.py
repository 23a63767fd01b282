"""`ingest billing`: check every file, store every line, then re-run the cost join.

Each file is read by DuckDB into a temporary table on a `Stage` and checked
there with queries (_focus.py), so a million-line bill never becomes Python
objects and memory stays flat. All files of one command are checked before
anything is written and stored in one transaction, so a bill with one bad
row writes nothing. Each file is a snapshot of the bill scopes it covers
(billing period x account x issuer): a newer snapshot replaces those scopes'
lines, an older one is ignored, and lines are keyed by content, so the same
export ingested twice changes nothing (rule in _snapshots.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from costper._io import STDIN, local_file
from costper.billing import _join as costjoin
from costper.billing import _load as load
from costper.billing._focus import stage_focus
from costper.billing._snapshots import FileScopes, Restatement, plan, scope_table, snapshot_time
from costper.config import Config
from costper.pricing._currency import ESTIMATES, Rates
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


def ingest_billing(
    store: Store,
    paths: Sequence[str | Path],
    config: Config,
    *,
    as_of: datetime | None = None,
) -> BillingIngest:
    """Check every file, then in one transaction store each scope's newest snapshot."""
    names = known_models(store)
    rates = Rates.of(config)
    with ExitStack() as local, store.stage() as stage:
        named = [local.enter_context(local_file(str(p))) for p in paths]
        files = [stage_focus(stage, p, f"_bill_file_{i}") for i, p in enumerate(named)]
        scoped = []
        for f in files:
            t, why = snapshot_time(f.path, load.recency(stage, f), as_of)
            scoped.append(FileScopes(f.path, t, why, load.scopes(stage, f)))
        p = plan(store, scoped)
        # Refused before anything is written: no rate, no mixing.
        rates.factors(sorted(p.currencies), ESTIMATES)
        load.identify(stage, files, config, names)
        kinds: dict[str, int] = {}
        with store.transaction():
            before = store.count_in_transaction("billing")
            for i, keep in enumerate(p.keep):
                stage.register(f"_bill_keep_{i}", scope_table(keep))
            deleted = 0
            if p.replace:
                stage.register("_bill_replace", scope_table(p.replace))
                kept = " UNION ALL ".join(load.kept_hashes(f, i) for i, f in enumerate(files))
                match = " AND ".join(
                    f'b."{c}" IS NOT DISTINCT FROM r."{c}"'
                    for c in ("InvoiceIssuerName", "BillingAccountId", "BillingPeriodStart")
                )
                stage.execute(
                    f"DELETE FROM billing b WHERE EXISTS (SELECT 1 FROM _bill_replace r "
                    f"WHERE {match}) AND b.row_hash NOT IN ({kept})"
                )
                deleted = before - store.count_in_transaction("billing")
            for i, f in enumerate(files):
                load.insert(stage, f, p.keep[i], config, i)
                if p.keep[i]:
                    for k, n in load.kinds(stage, f, i, config).items():
                        kinds[k] = kinds.get(k, 0) + n
            inserted = store.count_in_transaction("billing") - (before - deleted)
            snap_keys = p.snapshots.select(["InvoiceIssuerName", "BillingAccountId",
                                            "BillingPeriodStart"])  # fmt: skip
            store.replace({"bill_snapshots": snap_keys}, {"bill_snapshots": p.snapshots})
    result = costjoin.apply(store, rates)
    return BillingIngest(
        files=len(files),
        lines=sum(f.num_rows for f in files),
        new_lines=inserted,
        model_lines=kinds.get("model", 0),
        infra_lines=kinds.get("infra", 0),
        versions=tuple(sorted({f.version for f in files})),
        join=result,
        warnings=tuple(_shown(w, named, paths) for f in files for w in f.warnings),
        restatements=tuple(p.restatements),
        replaced_lines=deleted,
    )


def _shown(warning: str, named: list[str], paths: Sequence[str | Path]) -> str:
    """A warning about stdin's temporary copy names `<stdin>`, as errors do."""
    for copy, given in zip(named, paths, strict=True):
        if str(given) == "-":
            warning = warning.replace(copy, STDIN)
    return warning
