"""Human-readable rendering: money, rates and intervals at a glance."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from costper import _format
from costper.engine._intervals import Interval
from costper.engine._report import Report


def money(v: Any) -> str:
    """Amounts in tables: no currency sign, the shared rounding (`costper._format`)."""
    return _format.money(v)


pct = _format.percent


def interval(iv: Interval | Mapping[str, Any], fmt: _format.Formatter = money) -> str:
    return _format.interval(iv.to_dict() if isinstance(iv, Interval) else iv, fmt)


def write_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def write_csv(rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    buf = io.StringIO()
    if rows:
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(buf.getvalue(), end="")


def console() -> Console:
    """Wide enough for the metrics table when piped (Rich assumes 80 columns)."""
    c = Console(highlight=False, soft_wrap=False)
    if not c.is_terminal:
        c = Console(highlight=False, soft_wrap=False, width=180)
    return c


def table(title: str, columns: list[tuple[str, str]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold", pad_edge=False)
    for name, justify in columns:
        t.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return t


def rate(d: Decimal) -> str:
    """A rate given as a parameter, as written: 0.35 -> '35%'."""
    return format((d * 100).normalize(), "f") + "%"


def flatten(d: dict[str, object], prefix: str = "") -> dict[str, object]:
    """Nested JSON as one CSV row: {'a': {'b': 1}} -> {'a.b': 1}."""
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "<1e-15" if p < 1e-15 else f"{p:.3g}"


def ratio(iv: Interval) -> str:
    if iv.value is None:
        return "—"
    hi = "∞" if iv.high is None else f"{iv.high:.2f}"
    lo = "—" if iv.low is None else f"{iv.low:.2f}"
    return f"{iv.value:.2f}× ({lo}–{hi})"


def print_report(rep: Report, title: str = "Cost per success") -> None:
    con = console()
    keys = rep.by
    t = table(
        f"{title} (confidence {rep.confidence:.0%}; intervals in brackets)",
        [(k, "left") for k in keys]
        + [
            ("sessions", "right"),
            ("pending", "right"),
            ("success", "right"),
            ("escalated", "right"),
            ("per 1M tok", "right"),
            ("per intent", "right"),
            ("per success", "right"),
        ],
    )
    b = table(
        "Where the money goes (labeled sessions)",
        [(k, "left") for k in keys]
        + [
            (p, "right")
            for p in ("llm", "retries", "escalation", "review", "overhead", "infra", "total")
        ],
    )
    thin = []
    for g in rep.groups:
        key = [str(g.key[k]) if g.key[k] is not None else "—" for k in keys]
        style = None if g.sample_ok else "dim"
        mark = "" if g.sample_ok else " *"
        t.add_row(
            *key,
            f"{g.labeled_sessions:,}{mark}",
            f"{g.pending_sessions:,}",
            interval(g.success_rate, pct),
            interval(g.escalation_rate, pct),
            money(g.cost_per_1m_tokens),
            interval(g.cost_per_intent),
            interval(g.cost_per_success),
            style=style,
        )
        b.add_row(
            *key,
            *(
                money(g.cost[p])
                for p in ("llm", "retries", "escalation", "review", "overhead", "infra", "total")
            ),
            style=style,
        )
        if not g.sample_ok:
            thin.append(g)
    con.print(t)
    con.print(b)
    if thin:
        con.print(f"[dim]* not enough to decide on ({len(thin)} group(s)):[/dim]")
        for g in thin[:10]:
            con.print(f"[dim]  {label(g.key)}: {'; '.join(w['message'] for w in g.warnings)}[/dim]")
    for g in [g for g in rep.groups if g.sessions_needed or g.sessions_needed_note][:5]:
        if g.sessions_needed:
            con.print(
                f"[dim]{label(g.key)}: about {g.sessions_needed:,} more sessions for cost per "
                "success within ±10% on both sides.[/dim]"
            )
        else:
            con.print(f"[dim]{label(g.key)}: {g.sessions_needed_note}.[/dim]")
    pend = [g.pending for g in rep.groups if g.pending and g.pending.get("calls")]
    if pend:
        calls = sum(p["calls"] for p in pend)
        tokens = sum(p["tokens"]["total"] for p in pend)
        spend = sum(p["cost"]["llm"] for p in pend)
        sessions = sum(p["sessions"] for p in pend)
        con.print(
            f"Pending (no outcome yet, left out of the ratios and the sums above): "
            f"{sessions:,} session(s), {calls:,} call(s), {tokens:,} tokens, "
            f"{money(spend)} spent on tokens."
        )
    unpriced = sum(g.unpriced_calls for g in rep.groups)
    if unpriced:
        con.print(
            f"[bold red]{unpriced:,} call(s) have no price: their cost is missing from these figures "
            f"(add a [prices] entry or ingest the bill).[/bold red]"
        )


def label(key: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items()) or "all"


def emit(rep: Report, fmt: str) -> None:
    if fmt == "json":
        write_json(rep.to_dict())
    elif fmt == "csv":
        write_csv(rep.rows())
    else:
        print_report(rep)
