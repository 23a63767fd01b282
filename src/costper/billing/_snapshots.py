"""Restated bills: each file is a snapshot of the scopes it covers.

AWS Data Exports and Azure cost exports re-deliver the month-to-date file
every day with revised rows, so lines cannot simply be added: a revised row
would sit next to its old version. A file is instead read as a snapshot of
every scope it holds lines for, a scope being (InvoiceIssuerName,
BillingAccountId, BillingPeriodStart): ingesting it replaces exactly the
stored lines of those scopes, and leaves other accounts, months and
issuers alone, so disjoint files still add.

Which snapshot is newer is decided by one stated rule, first that applies:

1. `--as-of` given on the command line (one time for every file of it);
2. the FOCUS 1.3 metadata field `RecencyLastUpdated` (as a column, or
   `x_RecencyLastUpdated`), its latest value in the file;
3. the file's modification time.

A newer snapshot replaces the scope; an older one arriving late is ignored
(and reported); one of the same time is another part of the same delivery
(exports split big months over several files) and adds, lines being keyed by
content so a file ingested twice still counts once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from costper._time import parse_instant
from costper.billing._focus import FocusFile
from costper.errors import InputError
from costper.store._store import Store

SCOPE = ("InvoiceIssuerName", "BillingAccountId", "BillingPeriodStart")
RECENCY = ("RecencyLastUpdated", "x_RecencyLastUpdated")
_SEP = "\x1f"


@dataclass(frozen=True)
class Restatement:
    """What one ingest did to one scope of the bill."""

    issuer: str
    account: str
    period_start: datetime
    action: str  # new | replaced | added | ignored
    as_of: datetime
    stored_as_of: datetime | None
    old_lines: int
    new_lines: int
    old_billed: float
    new_billed: float
    currency: str

    def describe(self) -> str:
        period = self.period_start.strftime("%Y-%m")
        what = f"{self.issuer} account {self.account} {period}"
        if self.action == "ignored":
            return (
                f"{what}: snapshot as of {self.as_of:%Y-%m-%d %H:%M} is older than the stored "
                f"one ({self.stored_as_of:%Y-%m-%d %H:%M}); ignored"
            )
        if self.action == "replaced":
            return (
                f"{what}: replaced {self.old_lines} line(s), BilledCost "
                f"{self.old_billed:.4f} {self.currency}, by {self.new_lines} line(s), "
                f"{self.new_billed:.4f} {self.currency} (as of {self.as_of:%Y-%m-%d %H:%M})"
            )
        return (
            f"{what}: {self.new_lines} line(s), BilledCost {self.new_billed:.4f} "
            f"{self.currency} ({'new' if self.action == 'new' else 'another part of the stored snapshot'})"
        )


def snapshot_time(f: FocusFile, as_of: datetime | None) -> tuple[datetime, str]:
    """When this snapshot was taken, by the rule in the module docstring, and why."""
    if as_of is not None:
        return as_of, "--as-of"
    for name in RECENCY:
        if name in f.columns.column_names:
            latest = pc.max(f.columns.column(name)).as_py()
            if latest:
                try:
                    t = parse_instant(str(latest))
                except ValueError:
                    raise InputError(
                        f"column {name}: expected an ISO 8601 date-time, got {latest!r}",
                        file=f.path,
                        field=name,
                        value=latest,
                    ) from None
                return t, name
    mtime = os.stat(f.path).st_mtime
    return datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None), "file mtime"


def scope_keys(batch: pa.Table) -> pa.ChunkedArray:
    """One text key per line: issuer, account and billing period start."""
    parts = [pc.fill_null(pc.cast(batch.column(c), pa.string()), "") for c in SCOPE]
    return pc.binary_join_element_wise(*parts, _SEP)


@dataclass
class Plan:
    """The lines to store, the scopes whose stored lines they replace, and the report."""

    lines: pa.Table
    replace: pa.Table
    snapshots: pa.Table
    restatements: list[Restatement]


def _scope_of(key: str) -> tuple[str, str, datetime]:
    issuer, account, start = key.split(_SEP)
    return issuer, account, datetime.fromisoformat(start)


def _stored(store: Store, starts: list[datetime]) -> dict[str, dict[str, object]]:
    """Stored snapshot times and line totals of the scopes in these billing periods."""
    b = store.table("billing")
    b = b.filter(b.BillingPeriodStart.isin(starts))
    totals = store.to_arrow(
        b.group_by(list(SCOPE)).aggregate(lines=b.count(), billed=b.BilledCost.sum())
    )
    s = store.table("bill_snapshots")
    snaps = store.to_arrow(s.filter(s.BillingPeriodStart.isin(starts)))
    out: dict[str, dict[str, object]] = {}
    for t, fields in ((totals, ("lines", "billed")), (snaps, ("as_of",))):
        if t.num_rows == 0:
            continue
        keys = scope_keys(t).to_pylist()
        for i, k in enumerate(keys):
            out.setdefault(k, {}).update({f: t.column(f)[i].as_py() for f in fields})
    return out


def plan(
    store: Store, files: Sequence[FocusFile], batches: Sequence[pa.Table], as_of: datetime | None
) -> Plan:
    """Decide per scope which files' lines are kept and what they replace."""
    times = [snapshot_time(f, as_of) for f in files]
    keys = [scope_keys(b) for b in batches]
    # Per scope: the newest snapshot time among this command's files, and its files.
    newest: dict[str, datetime] = {}
    per_file: list[list[str]] = []
    for (t, _), k in zip(times, keys, strict=True):
        scopes = [s for s in pc.unique(k).to_pylist() if s is not None]
        per_file.append(scopes)
        for s in scopes:
            if s not in newest or t > newest[s]:
                newest[s] = t
    starts = sorted({_scope_of(s)[2] for s in newest})
    stored = _stored(store, starts) if starts else {}
    action: dict[str, str] = {}
    for s, t in newest.items():
        old = stored.get(s, {})
        old_t = old.get("as_of")
        if isinstance(old_t, datetime) and old_t > t:
            action[s] = "ignored"
        elif isinstance(old_t, datetime) and old_t == t:
            action[s] = "added"
        else:
            action[s] = "replaced" if old.get("lines") else "new"
    kept: list[pa.Table] = []
    new_lines: dict[str, int] = {}
    new_billed: dict[str, float] = {}
    currency: dict[str, str] = {}
    source: dict[str, tuple[str, str]] = {}
    for f, b, k, (t, why), scopes in zip(files, batches, keys, times, per_file, strict=True):
        keep = [s for s in scopes if action[s] != "ignored" and newest[s] == t]
        if not keep:
            continue
        rows = b.filter(pc.is_in(k, pa.array(keep, pa.string())))
        kept.append(rows)
        per_scope = (
            pa.table(
                {
                    "k": scope_keys(rows),
                    "b": rows.column("BilledCost"),
                    "c": rows.column("BillingCurrency"),
                }
            )
            .group_by("k")
            .aggregate([("b", "sum"), ("b", "count"), ("c", "distinct")])
            .to_pylist()
        )
        for g in per_scope:
            s = g["k"]
            new_lines[s] = new_lines.get(s, 0) + g["b_count"]
            new_billed[s] = new_billed.get(s, 0.0) + float(g["b_sum"] or 0.0)
            currency[s] = ",".join(sorted(c for c in g["c_distinct"] if c))
            source[s] = (f.path, why)
    restatements = []
    fresh_keys = []
    for s, t in sorted(newest.items()):
        issuer, account, start = _scope_of(s)
        old = stored.get(s, {})
        old_t = old.get("as_of")
        r = Restatement(
            issuer=issuer,
            account=account,
            period_start=start,
            action=action[s],
            as_of=t,
            stored_as_of=old_t if isinstance(old_t, datetime) else None,
            old_lines=int(old.get("lines") or 0),  # type: ignore[call-overload]
            new_lines=new_lines.get(s, 0),
            old_billed=float(old.get("billed") or 0.0),  # type: ignore[arg-type]
            new_billed=new_billed.get(s, 0.0),
            currency=currency.get(s, ""),
        )
        restatements.append(r)
        if r.action in ("new", "replaced"):
            fresh_keys.append((s, r))
    fresh = [r for _, r in fresh_keys]
    # Stored lines with a null account or issuer are matched as null.
    replace = pa.table(
        {
            "InvoiceIssuerName": pa.array([r.issuer or None for r in fresh], pa.string()),
            "BillingAccountId": pa.array([r.account or None for r in fresh], pa.string()),
            "BillingPeriodStart": pa.array([r.period_start for r in fresh], pa.timestamp("us")),
        }
    )
    snapshots = pa.table(
        {
            "InvoiceIssuerName": pa.array([r.issuer for r in fresh], pa.string()),
            "BillingAccountId": pa.array([r.account for r in fresh], pa.string()),
            "BillingPeriodStart": pa.array([r.period_start for r in fresh], pa.timestamp("us")),
            "as_of": pa.array([r.as_of for r in fresh], pa.timestamp("us")),
            "as_of_source": pa.array([source[s][1] for s, _ in fresh_keys], pa.string()),
            "source_file": pa.array([source[s][0] for s, _ in fresh_keys], pa.string()),
            "lines": pa.array([r.new_lines for r in fresh], pa.int64()),
        }
    )
    lines = (
        pa.concat_tables(kept, promote_options="default")
        if kept
        else (batches[0].slice(0, 0) if batches else pa.table({}))
    )
    return Plan(lines, replace, snapshots, restatements)
