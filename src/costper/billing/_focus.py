"""Reading FOCUS 1.0-1.3 cost-and-usage exports (CSV, gzip CSV, Parquet, JSON lines).

A bill is money, so a flaw is never guessed around: every column costper
uses, and every mandatory column of the detected version, is checked for
presence and type, and the first bad value is named by file, row, column and
value. What real exports do that the spec frowns on is tolerated: `NULL`
strings, date-times without `T` or `Z`, `Tags` as a JSON string, extra
columns without the `x_` prefix, 1.0-1.2's `ProviderName` where 1.3 says
`ServiceProviderName`.

The file is read by DuckDB into a temporary table of text columns on a
`Stage` (store/_stage.py), and each check is a query returning the first bad
row, so a million-line bill is checked in bounded memory; the SQL typing
expressions below are the one definition of how text becomes numbers and
times, for the checks, the content hash and the stored columns alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from costper.billing._columns import (
    CHARGE_CATEGORIES,
    DATETIME,
    JSON_OBJECTS,
    KNOWN_COLUMNS,
    MANDATORY,
    NOT_NULL,
    NUMERIC,
    canonical_names,
    detect,
    looks_like_05,
)
from costper.billing._files import (
    as_text,
    csv_header,
    csv_select,
    first_line,
    literal,
    quote,
    sniff,
    wrong_width,
)
from costper.billing._vercel import complete_vercel
from costper.errors import InputError
from costper.store._stage import Stage

DATETIME_HINT = "an ISO 8601 date-time such as 2024-09-01T00:00:00Z"


def number(name: str, prefix: str = "") -> str:
    """SQL: the column's text as a DOUBLE (null when not a number)."""
    return f"TRY_CAST(trim({prefix}{quote(name)}) AS DOUBLE)"


def instant(name: str, prefix: str = "") -> str:
    """SQL: the column's text as a UTC TIMESTAMP: `T` or space, `Z`, offsets, no zone
    (read as UTC), a bare date, any fraction. Only text ending in an offset takes
    the (slower) zoned parse, fractions past microseconds cut first."""
    t = f"trim({prefix}{quote(name)})"
    zoned = f"contains(right({t}, 6), '+') OR (length({t}) > 10 AND contains(right({t}, 6), '-'))"
    cut = f"regexp_replace({t}, '(\\.\\d{{6}})\\d+', '\\1')"
    return (
        f"CASE WHEN {zoned} THEN CAST(TRY_CAST({cut} AS TIMESTAMPTZ) AS TIMESTAMP) "
        f"ELSE TRY_CAST({t} AS TIMESTAMP) END"
    )


def typed(name: str, prefix: str = "") -> str:
    """SQL: the column as costper stores it (numbers, times, else the text)."""
    if name in NUMERIC:
        return number(name, prefix)
    if name in DATETIME:
        return instant(name, prefix)
    return prefix + quote(name)


def content_hash(names: list[str]) -> str:
    """SQL: the row's content key, from typed values with columns in name order, so
    the same line in CSV or Parquet, with NULL or empty, in any column order, is one
    line."""
    parts = []
    for n in sorted(names):
        value = f"CAST({typed(n)} AS VARCHAR)" if n in NUMERIC or n in DATETIME else quote(n)
        parts.append(f"{literal(n + '=')} || coalesce({value}, chr(0))")
    return "md5(concat_ws(chr(31), " + ", ".join(parts) + "))"


def hashes(table: str) -> str:
    """The name of the table of a staged file's content keys: `_row` (the staged
    table's rowid, its line order) and `_h`."""
    return table + "_h"


@dataclass
class FocusFile:
    """One export, checked, held as text columns in the stage's temporary `table`."""

    path: str
    version: str
    csv: bool
    names: list[str]
    table: str
    num_rows: int
    warnings: list[str] = field(default_factory=list)
    columns: pa.Table = field(default_factory=lambda: pa.table({}))  # from read_focus only

    def where(self, index: int) -> str:
        """A row for a message: 1-based data row, and its line for a CSV."""
        return f"row {index + 1}" + (f" (line {index + 2})" if self.csv else "")


def read_focus(path: str | Path) -> FocusFile:
    """Read, check and type one (small) FOCUS file in memory; raise InputError at the
    first flaw. Ingest does not use this: it checks files where they are staged."""
    from costper.store._store import open_store

    with open_store(":memory:") as store, store.stage() as stage:
        f = stage_focus(stage, str(path), "_focus_0")
        cols = ", ".join(f"{typed(n)} AS {quote(n)}" for n in f.names)
        if "ServiceProviderName" not in f.names and "ProviderName" in f.names:
            cols += ', "ProviderName" AS "ServiceProviderName"'
        f.columns = stage.arrow(f'SELECT {cols} FROM "{f.table}" ORDER BY rowid')
    return f


def stage_focus(stage: Stage, path: str, table: str) -> FocusFile:
    """Stage one export as text columns under FOCUS names, then check it."""
    kind, gz = sniff(path)
    compression = "gzip" if gz else "uncompressed"
    types: dict[str, str] = {}
    if kind == "csv":
        file_names = csv_header(path)
    else:
        reader = (
            f"read_parquet({literal(path)})"
            if kind == "parquet"
            else f"read_json({literal(path)}, format = 'newline_delimited', "
            f"compression = '{compression}')"
        )
        try:
            types = dict(stage.columns(f"SELECT * FROM {reader}"))
        except InputError as e:
            what = "Parquet file" if kind == "parquet" else "JSON lines file"
            raise InputError(f"not a readable {what}: {first_line(e)}", file=path) from None
        file_names = list(types)
    warnings: list[str] = []
    names, renamed = canonical_names(file_names)
    if renamed:
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
    derived: dict[str, str] = {}
    if kind == "jsonl":
        derived, note = complete_vercel(present)
        if note:
            warnings.append(f"{path}: {note}")
    present |= set(derived)
    have_provider = "ServiceProviderName" in present or "ProviderName" in present
    missing = [
        c
        for c in MANDATORY[version]
        if c not in present and not (c in ("ServiceProviderName", "ProviderName") and have_provider)
    ]
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
    if kind == "csv":
        select = csv_select(path, names, gz)
    else:
        if kind == "jsonl":
            cols = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in file_names) + "}"
            reader = (
                f"read_json({literal(path)}, format = 'newline_delimited', columns = {cols}, "
                f"compression = '{compression}')"
            )
            types = dict.fromkeys(file_names, "VARCHAR")
        conv = ", ".join(
            f"{as_text(o, types[o])} AS {quote(n)}" for o, n in zip(file_names, names, strict=True)
        )
        select = f"SELECT {conv} FROM {reader}"
    extra_cols = "".join(f", {expr} AS {quote(n)}" for n, expr in derived.items())
    all_names = names + list(derived)
    text = f"SELECT {', '.join(quote(n) for n in names)}{extra_cols} FROM ({select})"
    try:
        stage.create(table, text, big=True)
    except InputError as e:
        if kind == "csv":
            raise wrong_width(path) or InputError(
                f"not a readable CSV: {first_line(e)}", file=path
            ) from None
        raise InputError(f"cannot read its values: {first_line(e)}", file=path) from None
    n = int(stage.rows(f'SELECT count(*) FROM "{table}"')[0][0])
    f = FocusFile(path, version, kind == "csv", all_names, table, n, warnings)
    _check(stage, f)
    # Content keys apart, in parallel: the staged text keeps the file's order, this
    # narrow table need not.
    stage.create(hashes(table), f'SELECT rowid AS _row, {content_hash(names)} AS _h FROM "{table}"')
    _number_duplicates(stage, hashes(table))
    return f


def _checks(names: list[str]) -> list[tuple[str, str, str, str]]:
    """(column, problem, SQL true on a bad row, SQL of the value to show), in the
    order a reader would fix them: types, then nulls, then values."""
    out = []
    for n in names:
        c = quote(n)
        if n in NUMERIC:
            bad = f"{c} IS NOT NULL AND NOT coalesce(isfinite({typed(n)}), false)"
            out.append((n, "expected a decimal number", bad, c))
        elif n in DATETIME:
            out.append(
                (n, f"expected {DATETIME_HINT}", f"{c} IS NOT NULL AND {typed(n)} IS NULL", c)
            )
    for n in NOT_NULL:
        out.append((n, "must not be null", f"{quote(n)} IS NULL", "NULL"))
    cats = ", ".join(literal(c) for c in CHARGE_CATEGORIES)
    out.append(
        ("ChargeCategory", f"expected one of {', '.join(CHARGE_CATEGORIES)}",
         f'"ChargeCategory" NOT IN ({cats})', '"ChargeCategory"')
    )  # fmt: skip
    out.append(
        ("ChargeClass", "expected null or Correction",
         "\"ChargeClass\" IS NOT NULL AND \"ChargeClass\" <> 'Correction'", '"ChargeClass"')
    )  # fmt: skip
    end, start = typed("ChargePeriodEnd"), typed("ChargePeriodStart")
    out.append(
        ("ChargePeriodEnd", "is before ChargePeriodStart", f"{end} < {start}",
         f"CAST({end} AS VARCHAR)")
    )  # fmt: skip
    for n in JSON_OBJECTS:
        if n in names:
            c = quote(n)
            ok = f"CASE WHEN json_valid({c}) THEN json_type({c}) = 'OBJECT' END"
            out.append((n, "expected a JSON object", f"{c} IS NOT NULL AND NOT coalesce({ok}, false)",
                        f"left({c}, 200)"))  # fmt: skip
    return [c for c in out if c[0] in names]


def _check(stage: Stage, f: FocusFile) -> None:
    """One pass over the staged rows for every check; the first failing check (in
    `_checks` order) names its first bad row."""
    checks = _checks(f.names)
    if not checks or f.num_rows == 0:
        return
    firsts = stage.rows(
        "SELECT "
        + ", ".join(f"min(rowid) FILTER (WHERE {bad})" for _, _, bad, _ in checks)
        + f' FROM "{f.table}"'
    )[0]
    for (column, problem, _, shown), row in zip(checks, firsts, strict=True):
        if row is None:
            continue
        value = stage.rows(f'SELECT {shown} FROM "{f.table}" WHERE rowid = ?', [row])[0][0]
        e = InputError(
            f"{f.where(row)}, column {column}: {problem}, got {value!r}",
            file=f.path,
            field=column,
            value=value,
        )
        e.line = row + 2 if f.csv else row + 1
        raise e


def _number_duplicates(stage: Stage, table: str) -> None:
    """Identical rows within one file are distinct lines: the 2nd, 3rd... get `#1`, `#2`
    after their hash, so none is lost and the same file twice still adds nothing."""
    t = quote(table)
    dup = stage.rows(f"SELECT count(*) - count(DISTINCT _h) FROM {t}")[0][0]
    if dup:
        stage.execute(
            f"UPDATE {t} SET _h = {t}._h || '#' || d.n FROM ("
            f"SELECT _row AS r, row_number() OVER (PARTITION BY _h ORDER BY _row) - 1 AS n "
            f"FROM {t} WHERE _h IN (SELECT _h FROM {t} GROUP BY _h HAVING count(*) > 1)) d "
            f"WHERE {t}._row = d.r AND d.n > 0"
        )
