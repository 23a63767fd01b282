"""Human-readable rendering: money, rates and intervals at a glance."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from costper.engine._intervals import Interval


def money(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    a = abs(v)
    if a >= 0.1 or a == 0:
        return f"{v:,.2f}"
    return f"{v:#.3g}" if a >= 1e-4 else f"{v:.2e}"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def interval(iv: Interval | Mapping[str, Any], fmt: Any = money) -> str:
    d = iv.to_dict() if isinstance(iv, Interval) else iv
    if d.get("value") is None:
        return "—"
    if d.get("low") is None or d.get("high") is None:
        return fmt(d["value"])
    return f"{fmt(d['value'])} ({fmt(d['low'])}–{fmt(d['high'])})"


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
