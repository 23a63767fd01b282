"""Reading FOCUS 1.0-1.3 cost-and-usage exports (CSV, gzip CSV, Parquet).

A bill is money, so a flaw is never guessed around: every column costper
uses, and every mandatory column of the detected version, is checked for
presence and type, and the first bad value is named by file, row, column and
value. What real exports do that the spec frowns on is tolerated: `NULL`
strings, date-times without `T` or `Z`, `Tags` as a JSON string, extra
columns without the `x_` prefix, 1.0-1.2's `ProviderName` where 1.3 says
`ServiceProviderName`. Conversion is vectorised with Arrow; Python only walks
rows to parse JSON and hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from costper.billing._columns import (
    CHARGE_CATEGORIES,
    DATETIME,
    JSON_OBJECTS,
    KNOWN_COLUMNS,
    MANDATORY,
    NOT_NULL,
    NULLS,
    NUMERIC,
    canonical_names,
    detect,
    looks_like_05,
)
from costper.billing._files import _first_line, read_table
from costper.errors import InputError

_ZONE = r"(Z|z|[+-]\d{2}:?\d{2})$"


@dataclass
class FocusFile:
    """One export, checked and typed; `columns` holds every column of the file."""

    path: str
    version: str
    columns: pa.Table
    raw: pa.ChunkedArray
    row_hash: list[str]
    csv: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return int(self.columns.num_rows)

    def where(self, index: int) -> str:
        """A row for a message: 1-based data row, and its line for a CSV."""
        return f"row {index + 1}" + (f" (line {index + 2})" if self.csv else "")


def read_focus(path: str | Path) -> FocusFile:
    """Read, check and type one FOCUS file; raise InputError at the first flaw."""
    p = str(path)
    table, is_csv = read_table(p)
    try:
        return _check(p, table, is_csv)
    except (pa.ArrowInvalid, UnicodeError, OverflowError) as e:
        # Parquet text that is not UTF-8, timestamps Arrow cannot convert, and the like
        raise InputError(f"cannot read its values: {_first_line(e)}", file=p) from None


def _check(path: str, table: pa.Table, is_csv: bool) -> FocusFile:
    for i, fld in enumerate(table.schema):
        if pa.types.is_dictionary(fld.type):
            table = table.set_column(i, fld.name, pc.cast(table.column(i), fld.type.value_type))
    warnings = []
    names, renamed = canonical_names(list(table.column_names))
    if renamed:
        table = table.rename_columns(names)
        shown = ", ".join(f"{a} -> {b}" for a, b in renamed[:3])
        warnings.append(
            f"{path}: {len(renamed)} column name(s) read in FOCUS's case ({shown}"
            f"{', ...' if len(renamed) > 3 else ''}), as Athena and Snowflake exports write them"
        )
    present = set(names)
    old = looks_like_05(present)
    if old:
        raise InputError(
            f"a FOCUS 0.5 export (columns {', '.join(old)}; 1.0 renamed them ChargeCategory, "
            "InvoiceIssuerName, ProviderName...); costper reads FOCUS 1.0-1.3",
            file=path,
            field=old[0],
        )
    version, evidence = detect(present)
    if "ServiceProviderName" not in present and "ProviderName" in present:
        # 1.0-1.2 name; one column name downstream whatever the version.
        table = table.append_column("ServiceProviderName", table.column("ProviderName"))
        present.add("ServiceProviderName")
    missing = [c for c in MANDATORY[version] if c not in present]
    if missing:
        why = f" (read as FOCUS {version} for its column {evidence})" if evidence else ""
        raise InputError(
            f"FOCUS {version} export without mandatory column(s) {', '.join(missing)}{why}",
            file=path,
            field=missing[0],
        )
    for extra in names:
        if extra not in KNOWN_COLUMNS and not extra.startswith("x_"):
            warnings.append(f"{path}: column {extra} is not a FOCUS {version} column; kept as is")
    f = FocusFile(path, version, table, pa.chunked_array([], pa.string()), [], is_csv, warnings)
    raw = _raw_json(table.select(names))
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if name in NUMERIC:
            col = _numbers(f, name, col)
        elif name in DATETIME:
            col = _datetimes(f, name, col)
        else:
            col = _strings(col)
            if not is_csv:
                col = pc.if_else(pc.is_in(col, pa.array(NULLS)), pa.scalar(None, pa.string()), col)
        cols[name] = col
    typed = pa.table(cols)
    f.columns = typed
    for name in NOT_NULL:
        _no_nulls(f, name, typed.column(name))
    _check_values(f, typed)
    for name in JSON_OBJECTS:
        if name in present:
            _json_objects(f, name, typed.column(name))
    f.raw = raw
    # The hash reads typed values with columns in name order, so the same line
    # in CSV or Parquet, with NULL or empty, in any column order, is one line.
    f.row_hash = _row_hashes(_raw_json(typed.select(sorted(names))))
    return f


def _fail(f: FocusFile, index: int, column: str, problem: str, value: object) -> InputError:
    e = InputError(
        f"{f.where(index)}, column {column}: {problem}, got {value!r}",
        file=f.path,
        field=column,
        value=value,
    )
    e.line = index + 2 if f.csv else index + 1
    return e


def _first_bad(arr: pa.Array, convert: Callable[[pa.Array], object]) -> int:
    """Bisect for the first element `convert` refuses: O(log n) vectorised tries."""
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(arr.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


def _converted(
    f: FocusFile,
    name: str,
    col: pa.ChunkedArray,
    convert: Callable[[pa.Array], pa.Array],
    what: str,
) -> pa.ChunkedArray:
    out, offset = [], 0
    for chunk in col.chunks:
        try:
            out.append(convert(chunk))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            i = _first_bad(chunk, convert)
            raise _fail(f, offset + i, name, f"expected {what}", chunk[i].as_py()) from None
        offset += len(chunk)
    return pa.chunked_array(out, out[0].type if out else None)


def _numbers(f: FocusFile, name: str, col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):

        def convert(a: pa.Array) -> pa.Array:
            v = pc.cast(pc.utf8_trim_whitespace(a), pa.float64())
            if pc.any(pc.invert(pc.is_finite(v))).as_py():
                raise pa.ArrowInvalid("not finite")
            return v

        if col.num_chunks == 0:
            return pa.chunked_array([], pa.float64())
        return _converted(f, name, col, convert, "a decimal number")
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        v = pc.cast(col, pa.float64())
        bad = pc.invert(pc.fill_null(pc.is_finite(v), True))
        if pc.any(bad).as_py():
            i = pc.index(bad, True).as_py()
            raise _fail(f, i, name, "expected a finite decimal number", v[i].as_py())
        return v
    raise InputError(
        f"column {name}: has type {t}, expected a decimal number", file=f.path, field=name
    )


def _datetimes(f: FocusFile, name: str, col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    target = pa.timestamp("us")
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            col = pc.cast(col, pa.timestamp(t.unit, tz="UTC"))
        return pc.cast(col, target)
    if pa.types.is_date(t):
        return pc.cast(pc.cast(col, pa.timestamp("s")), target)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise InputError(
            f"column {name}: has type {t}, expected a date-time", file=f.path, field=name
        )

    def convert(a: pa.Array) -> pa.Array:
        s = pc.utf8_trim_whitespace(pc.cast(a, pa.string()))
        s = pc.replace_substring_regex(s, r"(\.\d{6})\d+", r"\1")
        zoned = pc.match_substring_regex(s, _ZONE)
        with_zone = pc.cast(
            pc.cast(pc.if_else(zoned, s, None), pa.timestamp("us", tz="UTC")), target
        )
        naive = pc.cast(pc.if_else(zoned, None, s), target)
        return pc.coalesce(with_zone, naive)

    if col.num_chunks == 0:
        return pa.chunked_array([], target)
    return _converted(f, name, col, convert, "an ISO 8601 date-time such as 2024-09-01T00:00:00Z")


def _strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Parquet's typed columns as text; maps and structs (Tags) as JSON objects."""
    t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return pc.cast(col, pa.string())
    if pa.types.is_timestamp(t):
        return pc.strftime(col, "%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_map(t):
        return pa.chunked_array(
            [
                pa.array(
                    [None if v is None else json.dumps(dict(v)) for v in col.to_pylist()],
                    pa.string(),
                )
            ]
        )
    if _key_value_list(t):
        # BigQuery's FOCUS view: Tags as ARRAY<STRUCT<key STRING, value STRING>>.
        return pa.chunked_array(
            [
                pa.array(
                    [
                        None if v is None else json.dumps({kv["key"]: kv["value"] for kv in v})
                        for v in col.to_pylist()
                    ],
                    pa.string(),
                )
            ]
        )
    if pa.types.is_nested(t):
        return pa.chunked_array(
            [
                pa.array(
                    [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()],
                    pa.string(),
                )
            ]
        )
    return pc.cast(col, pa.string())


def _key_value_list(t: pa.DataType) -> bool:
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    item = t.value_type
    return pa.types.is_struct(item) and {item.field(i).name for i in range(item.num_fields)} == {
        "key",
        "value",
    }


def _no_nulls(f: FocusFile, name: str, col: pa.ChunkedArray) -> None:
    if col.null_count:
        i = pc.index(pc.is_null(col), True).as_py()
        raise _fail(f, i, name, "must not be null", None)


def _check_values(f: FocusFile, t: pa.Table) -> None:
    cat = t.column("ChargeCategory")
    bad = pc.invert(pc.is_in(cat, pa.array(CHARGE_CATEGORIES)))
    if pc.any(bad).as_py():
        i = pc.index(bad, True).as_py()
        raise _fail(
            f,
            i,
            "ChargeCategory",
            f"expected one of {', '.join(CHARGE_CATEGORIES)}",
            cat[i].as_py(),
        )
    cls = t.column("ChargeClass")
    bad = pc.and_(pc.is_valid(cls), pc.not_equal(cls, "Correction"))
    if pc.any(bad).as_py():
        i = pc.index(bad, True).as_py()
        raise _fail(f, i, "ChargeClass", "expected null or Correction", cls[i].as_py())
    start, end = t.column("ChargePeriodStart"), t.column("ChargePeriodEnd")
    bad = pc.less(end, start)
    if pc.any(bad).as_py():
        i = pc.index(bad, True).as_py()
        raise _fail(f, i, "ChargePeriodEnd", "is before ChargePeriodStart", str(end[i].as_py()))


def _json_objects(f: FocusFile, name: str, col: pa.ChunkedArray) -> None:
    for i, text in enumerate(col.to_pylist()):
        if text is None:
            continue
        try:
            ok = isinstance(json.loads(text), dict)
        except (ValueError, RecursionError):
            ok = False
        if not ok:
            raise _fail(f, i, name, "expected a JSON object", text[:200])


_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def _raw_json(t: pa.Table) -> pa.ChunkedArray:
    """Each row as one JSON object of its values as text, built column-wise."""
    if t.num_rows == 0:
        return pa.chunked_array([], pa.string())
    parts = []
    for i, name in enumerate(t.column_names):
        s = _strings(t.column(name))
        if pc.any(pc.match_substring_regex(s, r'[\\"\x00-\x1f]')).as_py():
            for old, new in _ESCAPES:
                s = pc.replace_substring(s, old, new)
            s = pc.replace_substring_regex(s, r"[\x00-\x1f]", r"\\ufffd")
        key = ("{" if i == 0 else ",") + json.dumps(name) + ":"
        parts.append(pc.binary_join_element_wise(key + '"', s, '"', ""))
        parts[-1] = pc.coalesce(parts[-1], pa.scalar(key + "null"))
    return pc.binary_join_element_wise(*parts, "}", "")


def _row_hashes(raw: pa.ChunkedArray) -> list[str]:
    """Content hash; identical rows within one file get an ordinal so none is lost."""
    seen: dict[str, int] = {}
    out = []
    for text in raw.to_pylist():
        h = hashlib.sha256(text.encode()).hexdigest()[:32]
        n = seen.get(h, 0)
        seen[h] = n + 1
        out.append(h if n == 0 else f"{h}#{n}")
    return out
