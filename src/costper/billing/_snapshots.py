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

A line without a BillingAccountId (Vercel's export has none) belongs to the
scope (issuer, no account, period): such a snapshot replaces only the
issuer's account-less lines of that period, never another account's. In
`bill_snapshots`, whose key columns cannot be null, that account is `''`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from costper._time import parse_instant
from costper.errors import InputError
from costper.store._store import Store

SCOPE = ("InvoiceIssuerName", "BillingAccountId", "BillingPeriodStart")
RECENCY = ("RecencyLastUpdated", "x_RecencyLastUpdated")

Scope = tuple[str | None, str | None, datetime]
"""(InvoiceIssuerName, BillingAccountId, BillingPeriodStart); None for a null."""


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
        what = f"{self.issuer} account {self.account or '(none)'} {period}"
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


@dataclass
class FileScopes:
    """One staged file as the plan sees it: its snapshot time and, per scope, its
    lines, BilledCost and currencies."""

    path: str
    as_of: datetime
    why: str
    scopes: dict[Scope, tuple[int, float, list[str]]]


def snapshot_time(
    path: str, recency: tuple[str, object] | None, as_of: datetime | None
) -> tuple[datetime, str]:
    """When this snapshot was taken, by the rule in the module docstring, and why.
    `recency` is the RecencyLastUpdated column's name and its latest value."""
    if as_of is not None:
        return as_of, "--as-of"
    if recency is not None and recency[1]:
        name, latest = recency
        try:
            return parse_instant(str(latest)), name
        except ValueError:
            raise InputError(
                f"column {name}: expected an ISO 8601 date-time, got {latest!r}",
                file=path,
                field=name,
                value=latest,
            ) from None
    mtime = os.stat(path).st_mtime
    return datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None), "file mtime"


@dataclass
class Plan:
    """Per file, the scopes whose lines are kept; the scopes whose stored lines they
    replace; the `bill_snapshots` rows; the report."""

    keep: list[list[Scope]]
    replace: list[Scope]
    snapshots: pa.Table
    restatements: list[Restatement]
    currencies: set[str] = field(default_factory=set)


def _none(v: object) -> str | None:
    return None if v in (None, "") else str(v)


def _stored(store: Store, starts: list[datetime]) -> dict[Scope, dict[str, object]]:
    """Stored snapshot times and line totals of the scopes in these billing periods."""
    b = store.table("billing")
    b = b.filter(b.BillingPeriodStart.isin(starts))
    totals = store.to_arrow(
        b.group_by(list(SCOPE)).aggregate(lines=b.count(), billed=b.BilledCost.sum())
    )
    s = store.table("bill_snapshots")
    snaps = store.to_arrow(s.filter(s.BillingPeriodStart.isin(starts)))
    out: dict[Scope, dict[str, object]] = {}
    for t, fields in ((totals, ("lines", "billed")), (snaps, ("as_of",))):
        for row in t.to_pylist():
            key = (_none(row[SCOPE[0]]), _none(row[SCOPE[1]]), row[SCOPE[2]])
            out.setdefault(key, {}).update({f: row[f] for f in fields})
    return out


def plan(store: Store, files: Sequence[FileScopes]) -> Plan:
    """Decide per scope which files' lines are kept and what they replace."""
    newest: dict[Scope, datetime] = {}
    for f in files:
        for s in f.scopes:
            if s not in newest or f.as_of > newest[s]:
                newest[s] = f.as_of
    starts = sorted({s[2] for s in newest})
    stored = _stored(store, starts) if starts else {}
    action: dict[Scope, str] = {}
    for s, t in newest.items():
        old = stored.get(s, {})
        old_t = old.get("as_of")
        if isinstance(old_t, datetime) and old_t > t:
            action[s] = "ignored"
        elif isinstance(old_t, datetime) and old_t == t:
            action[s] = "added"
        else:
            action[s] = "replaced" if old.get("lines") else "new"
    keep: list[list[Scope]] = []
    new_lines: dict[Scope, int] = {}
    new_billed: dict[Scope, float] = {}
    currency: dict[Scope, set[str]] = {}
    source: dict[Scope, tuple[str, str]] = {}
    for f in files:
        kept = [s for s in f.scopes if action[s] != "ignored" and newest[s] == f.as_of]
        keep.append(kept)
        for s in kept:
            lines, billed, currencies = f.scopes[s]
            new_lines[s] = new_lines.get(s, 0) + lines
            new_billed[s] = new_billed.get(s, 0.0) + billed
            currency.setdefault(s, set()).update(c for c in currencies if c)
            source[s] = (f.path, f.why)
    restatements = []
    fresh: list[tuple[Scope, Restatement]] = []
    for s, t in sorted(newest.items(), key=lambda kv: tuple(str(x or "") for x in kv[0])):
        old = stored.get(s, {})
        old_t = old.get("as_of")
        r = Restatement(
            issuer=s[0] or "",
            account=s[1] or "",
            period_start=s[2],
            action=action[s],
            as_of=t,
            stored_as_of=old_t if isinstance(old_t, datetime) else None,
            old_lines=int(old.get("lines") or 0),  # type: ignore[call-overload]
            new_lines=new_lines.get(s, 0),
            old_billed=float(old.get("billed") or 0.0),  # type: ignore[arg-type]
            new_billed=new_billed.get(s, 0.0),
            currency=",".join(sorted(currency.get(s, set()))),
        )
        restatements.append(r)
        if r.action in ("new", "replaced"):
            fresh.append((s, r))
    snapshots = pa.table(
        {
            "InvoiceIssuerName": pa.array([r.issuer for _, r in fresh], pa.string()),
            "BillingAccountId": pa.array([r.account for _, r in fresh], pa.string()),
            "BillingPeriodStart": pa.array([r.period_start for _, r in fresh], pa.timestamp("us")),
            "as_of": pa.array([r.as_of for _, r in fresh], pa.timestamp("us")),
            "as_of_source": pa.array([source[s][1] for s, _ in fresh], pa.string()),
            "source_file": pa.array([source[s][0] for s, _ in fresh], pa.string()),
            "lines": pa.array([r.new_lines for _, r in fresh], pa.int64()),
        }
    )
    used = set().union(*currency.values()) if currency else set()
    return Plan(keep, [s for s, _ in fresh], snapshots, restatements, used)


def scope_table(scopes: Sequence[Scope]) -> pa.Table:
    """Scopes as rows (nulls kept null) to match lines against."""
    return pa.table(
        {
            "InvoiceIssuerName": pa.array([s[0] for s in scopes], pa.string()),
            "BillingAccountId": pa.array([s[1] for s in scopes], pa.string()),
            "BillingPeriodStart": pa.array([s[2] for s in scopes], pa.timestamp("us")),
        }
    )
