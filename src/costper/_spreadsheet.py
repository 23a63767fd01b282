"""CSV that a spreadsheet shows, never runs.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with `=`,
`+`, `-` or `@` (and some strip a leading tab or CR first) as a formula, so a
feature or model name from telemetry could run `=HYPERLINK(...)` or worse when
a report is opened. Such text cells get a leading apostrophe, OWASP's advice:
the spreadsheet shows the text as written, and a program reading the CSV
sees one extra character. Numbers are never touched (a negative amount stays
a number).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PATTERN = "^[=+\\-@\t\r]"


def cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def table(t: pa.Table) -> pa.Table:
    """`cell` on every text column of an Arrow table."""
    for i, f in enumerate(t.schema):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            col = t.column(i)
            risky = pc.fill_null(pc.match_substring_regex(col, _PATTERN), False)
            fixed = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
            t = t.set_column(i, f, fixed.cast(f.type))
    return t
