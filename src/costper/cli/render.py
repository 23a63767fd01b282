"""Human-readable rendering: money, rates and intervals at a glance."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from costper import _format
from costper.engine._intervals import Interval


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
