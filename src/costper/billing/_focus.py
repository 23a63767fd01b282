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


def _key_values(names: list[str], prefix: str, typed_prefix: str | None) -> list[tuple[str, str]]:
    """(name, SQL of its text in the key) in name order: typed numbers and times
    written back as text, NULL as chr(0)."""
    out = []
    for n in sorted(names):
        if n in NUMERIC or n in DATETIME:
            v = typed(n, prefix) if typed_prefix is None else quote(typed_prefix + n)
            value = f"CAST({v} AS VARCHAR)"
        else:
            value = prefix + quote(n)
        out.append((n, f"coalesce({value}, chr(0))"))
    return out


def content_hash(names: list[str], prefix: str = "", typed_prefix: str | None = None) -> str:
    """SQL: the row's content key, from typed values with columns in name order, so
    the same line in CSV or Parquet, with NULL or empty, in any column order, is one
    line: md5 of `name=value` joined by chr(31). With `typed_prefix`, numbers and times
    are read from columns already typed (named `typed_prefix` + name, see `keyed`)
    instead of being parsed again. One `concat` of all the pieces (the same text as
    concat_ws of `name=` || value, a third faster)."""
    parts: list[str] = []
    for n, value in _key_values(names, prefix, typed_prefix):
        parts += [*(["chr(31)"] if parts else []), literal(n + "="), value]
    return "md5(concat(" + ", ".join(parts) + "))"


def quick_hash(names: list[str]) -> str:
    """SQL: a 64-bit hash of the same values as `content_hash` (equal keys, equal
    hashes), cheap, to find candidate duplicates. Per value, not of the joined text:
    DuckDB's hash of one long string collided 181 times in 200k distinct lines."""
    return "hash(" + ", ".join(v for _, v in _key_values(names, "", None)) + ")"


TYPED = "_t_"
"""Prefix of the typed copies of number and time columns in `keyed`."""


def duplicates(table: str) -> str:
    """The name of the table numbering a staged file's repeated lines (`_dup_row`, its
    rowid; `_dup_n`, 1 for the 2nd copy...); only made when the file has some."""
    return table + "_d"


def keyed(f: FocusFile) -> str:
    """SQL: a staged file as `s` with its line's rowid `_rid`, its number and time
    columns typed once (as `_t_<name>`, read by the key and the stored columns alike)
    and its content key `_h`, computed as it is read (a separate table of keys joined
    back on rowid made the INSERT's hash join build the whole file under
    `memory_limit`)."""
    conv = "".join(
        f", {typed(n, 'x.')} AS {quote(TYPED + n)}"
        for n in f.names
        if n in NUMERIC or n in DATETIME
    )
    source = f'"{f.table}" x'
    suffix = dup = ""
    if f.duplicates:
        source += f' LEFT JOIN "{duplicates(f.table)}" d ON d._dup_row = x.rowid'
        suffix, dup = " || coalesce('#' || y._dup_n, '')", ", d._dup_n"
    h = content_hash(f.text_names, "y.", TYPED)
    return (
        f"(SELECT y.*, {h}{suffix} AS _h FROM "
        f"(SELECT x.*, x.rowid AS _rid{dup}{conv} FROM {source}) y) s"
    )


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
    text_names: list[str] = field(default_factory=list)  # the file's own columns (the key's)
    duplicates: bool = False  # identical lines (numbered in the `duplicates` table)

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
    f = FocusFile(path, version, kind == "csv", all_names, table, n, warnings, text_names=names)
    _check(stage, f)
    if f.duplicates:
        _number_duplicates(stage, f)
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
    if f.num_rows == 0:
        return
    # A 64-bit hash of the content (not the key itself): a collision only costs the
    # exact numbering pass.
    same = quick_hash(f.text_names)
    *firsts, repeated = stage.rows(
        "SELECT "
        + "".join(f"min(rowid) FILTER (WHERE {bad}), " for _, _, bad, _ in checks)
        + f'count(*) - count(DISTINCT {same}) FROM "{f.table}"'
    )[0]
    f.duplicates = bool(repeated)
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


def _number_duplicates(stage: Stage, f: FocusFile) -> None:
    """Identical rows within one file are distinct lines: the 2nd, 3rd... get `#1`, `#2`
    after their hash, so none is lost and the same file twice still adds nothing.
    The content key is computed only for rows whose 64-bit hash repeats."""
    quick = quick_hash(f.text_names)
    key = content_hash(f.text_names, "x.")
    stage.create(
        duplicates(f.table),
        f'WITH q AS MATERIALIZED (SELECT rowid AS _r, {quick} AS _q FROM "{f.table}"), '
        "rep AS (SELECT _r FROM q WHERE _q IN (SELECT _q FROM q GROUP BY _q HAVING count(*) > 1)) "
        "SELECT _dup_row, _dup_n FROM (SELECT x.rowid AS _dup_row, row_number() OVER "
        f'(PARTITION BY {key} ORDER BY x.rowid) - 1 AS _dup_n FROM "{f.table}" x '
        "SEMI JOIN rep ON rep._r = x.rowid) WHERE _dup_n > 0",
    )
