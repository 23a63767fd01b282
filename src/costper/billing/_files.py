"""Opening a FOCUS export: CSV (gzip or not), Parquet or JSON lines, told apart by their bytes.

DuckDB reads the file itself (a million lines never become Python objects);
this module only says how: which table function, which columns under which
FOCUS name. Every column comes out as text (`NULL` and empty as null), so the
checks that follow see what the file says, not what a type guesser made of
it; typed Parquet and JSON values are written as text first (maps, structs
and BigQuery's key/value arrays as JSON objects). Structural flaws (a header
naming a column twice, a row with the wrong number of fields) stop here, with
the line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from costper._io import open_input
from costper.billing._columns import NULLS
from costper.errors import InputError


@dataclass(frozen=True)
class Source:
    """A file as a query: `select` yields one text column per name in `names`."""

    path: str
    kind: str  # csv | parquet | jsonl
    names: list[str]
    file_names: list[str]
    select: str


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sniff(path: str) -> tuple[str, bool]:
    """csv, parquet or jsonl, and whether the file is gzip-compressed."""
    try:
        with open_input(path) as opened:
            head = opened.stream.peek(64)[:64]
            compressed = opened.compressed
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read the file: {e}", file=path) from None
    if head[:4] == b"PAR1":
        return "parquet", False
    if compressed:
        check_inflated_size(path)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return ("jsonl" if text.startswith(b"{") else "csv"), compressed


def check_inflated_size(path: str) -> None:
    """DuckDB inflates a gzip bill itself, past any cap: one streaming pass through
    the shared capped reader first refuses a gzip bomb the way every other file
    kind is refused (TooLarge), at the cost of inflating the file twice."""
    try:
        with open_input(path) as opened:
            while opened.stream.read(1 << 20):
                pass
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read the file: {e}", file=path) from None


def csv_header(path: str) -> list[str]:
    try:
        with open_input(path) as opened:
            first = opened.stream.readline()
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read the file: {e}", file=path) from None
    try:
        header_line = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError("line 1: the header is not UTF-8 text", file=path) from None
    if not header_line.strip():
        raise InputError("line 1: no header (empty file?); expected FOCUS column names", file=path)
    names = next(csv.reader([header_line]))
    seen: set[str] = set()
    for name in names:
        if not name:
            raise InputError("line 1: a column without a name in the header", file=path)
        if name in seen:
            raise InputError(f"line 1, column {name}: appears twice in the header", file=path)
        seen.add(name)
    return names


def csv_select(path: str, names: list[str], gz: bool) -> str:
    cols = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "[" + ", ".join(literal(n) for n in NULLS) + "]"
    return (
        f"SELECT * FROM read_csv({literal(path)}, columns = {cols}, header = true, "
        f"delim = ',', quote = '\"', escape = '\"', nullstr = {nulls}, "
        f"compression = '{'gzip' if gz else 'none'}', auto_detect = false, "
        "strict_mode = true, null_padding = false)"
    )


def as_text(name: str, sql_type: str) -> str:
    """A typed Parquet/JSON column written as the text a CSV would hold."""
    c = quote(name)
    t = sql_type.upper().replace('"', "")
    if t == "VARCHAR":
        nulls = ", ".join(literal(n) for n in NULLS)
        return f"CASE WHEN {c} IN ({nulls}) THEN NULL ELSE {c} END"
    if t.startswith("STRUCT(KEY ") and t.endswith("[]") and "VALUE " in t:
        # BigQuery's FOCUS view: Tags as ARRAY<STRUCT<key STRING, value STRING>>.
        return f"CAST(to_json(map_from_entries({c})) AS VARCHAR)"
    if t.startswith(("MAP(", "STRUCT(")) or t.endswith("]") or t == "JSON":
        return f"CAST(to_json({c}) AS VARCHAR)"
    return f"CAST({c} AS VARCHAR)"


def wrong_width(path: str) -> InputError | None:
    """The first row whose field count differs from the header's (DuckDB's message
    does not always say which line when it reads in parallel)."""
    with open_input(path) as opened:
        text = io.TextIOWrapper(opened.stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        width = len(next(reader, []))
        for record in reader:
            if record and len(record) != width:
                shown = ",".join(record)[:120]
                return InputError(
                    f"line {reader.line_num}: expected {width} fields as in the header, "
                    f"got {len(record)}: {shown!r}",
                    file=path,
                )
    return None


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
