"""Human-readable rendering: money, rates and intervals at a glance."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from costper import _format

if TYPE_CHECKING:  # the engine pulls in Ibis and SciPy: `costper --help` must not load it
    from costper.engine._intervals import Interval
    from costper.engine._report_model import Report


def money(v: Any) -> str:
    """Amounts in tables: no currency sign, the shared rounding (`costper._format`)."""
    return _format.money(v)


pct = _format.percent
signed_pct = _format.signed_percent


def interval(iv: Interval | Mapping[str, Any], fmt: _format.Formatter = money) -> str:
    return _format.interval(iv if isinstance(iv, Mapping) else iv.to_dict(), fmt)


def write_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """Text from data, fit for a terminal: control characters (ESC, CR, BEL, the C1
    range, bidi overrides) shown as escapes, so a feature or model name cannot
    retitle the window, clear the screen, plant a hyperlink or hide text."""
    return _CONTROL.sub(lambda m: _escaped(m.group()), str(text))


def _escaped(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def safe(text: object) -> str:
    """`clean`, and Rich markup escaped: for data inside a string that is printed as markup."""
    return escape(clean(text))


def write_csv(rows: Iterable[Mapping[str, Any]]) -> None:
    print(csv_text(rows), end="")


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV: CRLF rows, every field holding a comma, quote, CR or LF quoted
    (with a bare LF terminator Python's writer leaves a CR unquoted, and the row
    breaks), formula cells neutralised (`costper._spreadsheet`)."""
    from costper import _spreadsheet  # Arrow, for its cell rules: loaded only to write CSV

    rows = list(rows)
    buf = io.StringIO()
    if rows:
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        w = csv.DictWriter(
            buf, fieldnames=[_spreadsheet.cell(f) for f in fields], lineterminator="\r\n"
        )
        w.writeheader()
        w.writerows(
            {_spreadsheet.cell(k): _spreadsheet.cell(v) for k, v in r.items()} for r in rows
        )
    return buf.getvalue()


class SafeConsole(Console):
    """Control characters in printed strings are shown as escapes (`clean`);
    data inside markup strings is escaped where it is put in (`safe`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(clean(o) if isinstance(o, str) else o for o in objects), **kwargs)


PIPED_WIDTH = 180


def console(width: int | None = None) -> Console:
    """The terminal's width, or $COLUMNS; PIPED_WIDTH when piped without $COLUMNS
    (Rich would assume 80 and a file gets the tables cut for no reader)."""
    c = SafeConsole(highlight=False, soft_wrap=False, width=width)
    if width is None and not c.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        c = SafeConsole(highlight=False, soft_wrap=False, width=PIPED_WIDTH)
    return c


class SafeTable(Table):
    """A Rich table whose text cells are shown as written: control characters
    escaped and no markup parsed (a name like "[link=...]" stays text). Cells that
    mean to be styled are passed as `rich.text.Text`."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        cells = [Text(clean(r)) if isinstance(r, str) else r for r in renderables]
        super().add_row(*cells, **kwargs)


def table(title: str, columns: list[tuple[str, str]]) -> Table:
    t = SafeTable(title=safe(title), title_justify="left", header_style="bold", pad_edge=False)
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


# The breakdown's headers where they differ from the JSON names: retries are the failed
# calls' share of llm, not an addend. Its columns in the order they are dropped (last first).
BREAKDOWN = {"retries": "of which retries"}
BREAKDOWN_RANKS = {"total": 1, "llm": 2, "escalation": 3, "evals": 4, "review": 5,
                   "overhead": 6, "infra": 7, "retries": 8}  # fmt: skip


def print_report(rep: Report, title: str = "Cost per success", *, wide: bool = False) -> None:
    """The metrics and the cost breakdown, fitted to the terminal (`cli.fit`).

    "labeled" counts the sessions with an outcome, the ones every ratio and sum is
    over (the dashboard's "Labeled"); "pending" the ones without one yet. `llm`
    includes `retries`, so the breakdown's parts other than retries add to total."""
    from costper.cli.fit import Col, FitTable
    from costper.engine._vocabulary import COST_PARTS

    con = console()
    keys = rep.by
    names = [Col(k, "left", key=True) for k in keys]
    t = FitTable(
        f"{title} ({rep.currency}; confidence {rep.confidence:.0%}; intervals in brackets; "
        "labeled: sessions with an outcome)",
        names
        + [
            Col("labeled", rank=3),
            Col("pending", rank=7),
            Col("success", rank=2),
            Col("escalated", rank=6),
            Col("per 1M tok", rank=5),
            Col("per intent", rank=4),
            Col("per success", rank=1),
        ],
        wide=wide,
        key_figures=3,
    )
    b = FitTable(
        "Where the money goes (labeled sessions; llm includes retries)",
        names + [Col(BREAKDOWN.get(p, p), rank=BREAKDOWN_RANKS.get(p, 9)) for p in COST_PARTS],
        wide=wide,
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
        b.add_row(*key, *(money(g.cost[p]) for p in COST_PARTS), style=style)
        if not g.sample_ok:
            thin.append(g)
    t.print(con)
    b.print(con)
    if thin:
        con.print(f"[dim]* not enough to decide on ({len(thin)} group(s)):[/dim]")
        for g in thin[:10]:
            con.print(
                f"[dim]  {label(g.key)}: {safe('; '.join(w['message'] for w in g.warnings))}[/dim]"
            )
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
    return safe(", ".join(f"{k}={v}" for k, v in key.items()) or "all")


def emit(rep: Report, fmt: str, *, wide: bool = False) -> None:
    if fmt == "json":
        write_json(rep.to_dict())
    elif fmt == "csv":
        write_csv(rep.rows())
    else:
        print_report(rep, wide=wide)
