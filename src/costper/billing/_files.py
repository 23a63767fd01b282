"""Opening a FOCUS export: CSV (gzip or not) or Parquet, told apart by their bytes.

CSV comes back with every column as text (`NULL` and empty as null), so the
checks that follow see what the file says, not what a type guesser made of
it; Parquet keeps its types. Structural flaws (a header naming a column
twice, a row with the wrong number of fields) stop here, with the line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from costper._io import Opened, open_input
from costper.billing._columns import NULLS
from costper.errors import InputError


def read_table(path: str) -> tuple[pa.Table, bool]:
    """The file's rows, and whether it was a CSV."""
    with open_input(path) as opened:
        magic = opened.stream.peek(4)[:4]
    if magic == b"PAR1":
        return _read_parquet(path), False
    return _read_csv(path), True


def _read_csv(path: str) -> pa.Table:
    def opener() -> Opened:
        return open_input(path)

    try:
        with opener() as opened:
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
    bad_rows: list[pacsv.InvalidRow] = []

    def invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row)
        return "skip"

    opened = opener()
    try:
        table = pacsv.read_csv(
            opened.stream,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=NULLS,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as e:
        raise InputError(f"not a readable CSV: {_first_line(e)}", file=path) from None
    finally:
        opened.close()
    if bad_rows:
        r = bad_rows[0]
        number = r.number if r.number is not None else _line_with_fields(opener, r.actual_columns)
        line = f"line {number}: " if number is not None else ""
        raise InputError(
            f"{line}expected {r.expected_columns} fields as in the header, got {r.actual_columns}: "
            f"{r.text[:120]!r}",
            file=path,
        )
    return table


def _line_with_fields(opener: Callable[[], Opened], count: int) -> int | None:
    """Where Arrow found a row of the wrong width (it does not say, reading a stream)."""
    with opener() as opened:
        text = io.TextIOWrapper(opened.stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        width = len(next(reader, []))
        for record in reader:
            if record and len(record) != width and len(record) == count:
                return reader.line_num
    return None


def _read_parquet(path: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"not a readable Parquet file: {_first_line(e)}", file=path) from None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
