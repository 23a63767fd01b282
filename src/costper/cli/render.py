"""Human-readable rendering: money, rates and intervals at a glance."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from costper import _format, _spreadsheet
from costper.engine._intervals import Interval


def money(v: Any) -> str:
    """Amounts in tables: no currency sign, the shared rounding (`costper._format`)."""
    return _format.money(v)


pct = _format.percent


def interval(iv: Interval | Mapping[str, Any], fmt: _format.Formatter = money) -> str:
    return _format.interval(iv.to_dict() if isinstance(iv, Interval) else iv, fmt)


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


def console() -> Console:
    """Wide enough for the metrics table when piped (Rich assumes 80 columns)."""
    c = SafeConsole(highlight=False, soft_wrap=False)
    if not c.is_terminal:
        c = SafeConsole(highlight=False, soft_wrap=False, width=180)
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
