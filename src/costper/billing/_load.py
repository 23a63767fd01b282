"""Staged FOCUS files into the store's `billing` table, in SQL.

Which model a line bills is decided in Python (_models.py), but only once per
distinct combination of the columns that decide it (and once per distinct
`Tags`): a million lines of a real bill have a few hundred such keys. The
answers go back to DuckDB as small tables and every line is joined to them in
the INSERT, so no line becomes a Python object.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from costper.billing._files import literal, quote
from costper.billing._focus import FocusFile, hashes, typed
from costper.billing._models import (
    BUILTIN_MODELS,
    DECIDING,
    ModelNames,
    _identify,
    _tag_info,
    bill_provider,
    check_rules,
)
from costper.billing._snapshots import RECENCY, SCOPE, Scope
from costper.config import Config
from costper.pricing._aliases import split_ref
from costper.store._schema import BILLING
from costper.store._stage import Stage

TAGS = "_bill_tags"
IDENT = "_bill_ident"
IDENTITY = ("allocation", "provider", "model", "token_kind", "usage_kind")


def _col(f: FocusFile, name: str) -> str:
    if name == "ServiceProviderName" and name not in f.names:
        name = "ProviderName"  # its 1.0-1.2 name
    return quote(name) if name in f.names else "CAST(NULL AS VARCHAR)"


def _deciding(config: Config) -> list[str]:
    rules = sorted({c for r in config.billing_models for c in r.match} - set(DECIDING))
    return list(DECIDING) + rules


def _key(f: FocusFile, deciding: list[str]) -> str:
    """SQL: one text key of the deciding columns and what the tags say of a model."""
    parts = [_col(f, c) for c in deciding] + ["t.tag_model", "t.tag_provider"]
    return "concat_ws(chr(31), " + ", ".join(f"coalesce({p}, chr(0))" for p in parts) + ")"


def _tags_join(f: FocusFile) -> str:
    on = 's."Tags" = t."Tags"' if "Tags" in f.names else "false"
    return f"LEFT JOIN {TAGS} t ON {on}"


def scopes(stage: Stage, f: FocusFile) -> dict[Scope, tuple[int, float, list[str]]]:
    """Lines, BilledCost and currencies per scope of a staged file."""
    rows = stage.rows(
        f"SELECT {_col(f, SCOPE[0])}, {_col(f, SCOPE[1])}, {typed(SCOPE[2])}, count(*), "
        f'sum({typed("BilledCost")}), list(DISTINCT "BillingCurrency") '
        f'FROM "{f.table}" GROUP BY ALL'
    )
    return {(i, a, s): (int(n), float(b or 0.0), list(c)) for i, a, s, n, b, c in rows}


def recency(stage: Stage, f: FocusFile) -> tuple[str, object] | None:
    for name in RECENCY:
        if name in f.names:
            return name, stage.rows(f'SELECT max({quote(name)}) FROM "{f.table}"')[0][0]
    return None


def identify(
    stage: Stage, files: Sequence[FocusFile], config: Config, known: Sequence[str]
) -> None:
    """Stage `_bill_tags` (what each distinct Tags says) and `_bill_ident` (costper's
    reading of each distinct deciding key) for the files' lines."""
    check_rules(config)
    names = ModelNames(
        list(BUILTIN_MODELS) + [split_ref(k, bill_provider)[1] for k in config.prices] + list(known)
    )
    tagged = [f for f in files if "Tags" in f.names]
    distinct = " UNION ".join(
        f'SELECT DISTINCT "Tags" FROM "{f.table}" WHERE "Tags" IS NOT NULL' for f in tagged
    )
    info: dict[str, list[str | None]] = {"Tags": [], "tag_model": [], "tag_provider": [],
                                         "tag_request": []}  # fmt: skip
    if distinct:
        for batch in stage.batches(distinct):
            for text in batch.column(0).to_pylist():
                t = _tag_info(text)
                if t["model"] or t["provider"] or t["request_id"]:
                    info["Tags"].append(text)
                    info["tag_model"].append(t["model"])  # type: ignore[arg-type]
                    info["tag_provider"].append(t["provider"])  # type: ignore[arg-type]
                    info["tag_request"].append(t["request_id"])  # type: ignore[arg-type]
    stage.register(
        "_bill_tags_in", pa.table({k: pa.array(v, pa.string()) for k, v in info.items()})
    )
    stage.create(TAGS, "SELECT * FROM _bill_tags_in")
    deciding = _deciding(config)
    selects = []
    for f in files:
        cols = ", ".join(f"{_col(f, c)} AS d{i}" for i, c in enumerate(deciding))
        selects.append(
            f"SELECT DISTINCT {_key(f, deciding)} AS k, {cols}, t.tag_model, t.tag_provider "
            f'FROM "{f.table}" s {_tags_join(f)}'
        )
    out: dict[str, list[str | None]] = {"k": [], **{c: [] for c in IDENTITY}}
    for batch in stage.batches(" UNION ".join(selects)):
        for row in batch.to_pylist():
            values = {c: row[f"d{i}"] for i, c in enumerate(deciding)}
            tag = {"model": row["tag_model"], "provider": row["tag_provider"]}
            ident = _identify(values, tag, config, names)
            out["k"].append(row["k"])
            for c in IDENTITY:
                out[c].append(getattr(ident, c))
    stage.register(
        "_bill_ident_in", pa.table({k: pa.array(v, pa.string()) for k, v in out.items()})
    )
    stage.create(IDENT, "SELECT * FROM _bill_ident_in")


def _line_columns(f: FocusFile, deciding: list[str]) -> dict[str, str]:
    """SQL for each column of `billing` from a staged file's row `s`."""
    request = (
        'coalesce(s."x_RequestId", t.tag_request)' if "x_RequestId" in f.names else "t.tag_request"
    )
    extras = [n for n in f.names if n not in BILLING.names]
    raw = (
        "CAST(to_json(struct_pack("
        + ", ".join(f"{quote(n)} := s.{quote(n)}" for n in extras)
        + ")) AS VARCHAR)"
        if extras
        else "CAST(NULL AS VARCHAR)"
    )
    out = {
        "row_hash": "h._h",
        "source_file": literal(f.path),
        "row_number": "s.rowid + 1",
        "focus_version": literal(f.version),
        "allocation": f"CASE WHEN i.allocation IS NULL AND {request} IS NOT NULL THEN 'model' "
        "ELSE i.allocation END",
        "provider": "i.provider",
        "model": "i.model",
        "token_kind": "i.token_kind",
        "usage_kind": "i.usage_kind",
        "request_id": request,
        "raw": raw,
    }
    for fld in BILLING:
        if fld.name in out:
            continue
        name = fld.name
        if name == "ServiceProviderName" and name not in f.names:
            name = "ProviderName"
        out[fld.name] = typed(name, "s.") if name in f.names else "NULL"
    return out


def insert(stage: Stage, f: FocusFile, keep: Sequence[Scope], config: Config, index: int) -> None:
    """INSERT the lines of the kept scopes (registered as `_bill_keep_<index>`) of one
    staged file into `billing`, but for those already stored (by content)."""
    if not keep:
        return
    k = f"_bill_keep_{index}"
    cols = _line_columns(f, _deciding(config))
    names = ", ".join(quote(c) for c in cols)
    exprs = ", ".join(cols.values())
    # Lines already stored (by content) are left alone: an anti join over the same
    # billing periods (identical lines share theirs); `billing` has no key index.
    stage.execute(
        f'INSERT INTO billing ({names}) SELECT {exprs} FROM "{f.table}" s '
        f"JOIN {k} k ON {_scope_match(f)} "
        f'JOIN "{hashes(f.table)}" h ON h._row = s.rowid {_tags_join(f)} '
        f"LEFT JOIN {IDENT} i ON {_key(f, _deciding(config))} = i.k "
        "WHERE h._h NOT IN (SELECT row_hash FROM billing "
        f'WHERE "BillingPeriodStart" IN (SELECT "BillingPeriodStart" FROM {k}))'
    )


def kept_hashes(f: FocusFile, index: int) -> str:
    """SQL: the content keys of the kept lines of one staged file."""
    return (
        f'SELECT h._h FROM "{f.table}" s JOIN _bill_keep_{index} k ON {_scope_match(f)} '
        f'JOIN "{hashes(f.table)}" h ON h._row = s.rowid'
    )


def _scope_match(f: FocusFile) -> str:
    issuer, account = _col(f, SCOPE[0]), _col(f, SCOPE[1])
    start = typed(SCOPE[2], "s.")
    return (
        f's.{issuer} IS NOT DISTINCT FROM k."InvoiceIssuerName" '
        f'AND s.{account} IS NOT DISTINCT FROM k."BillingAccountId" '
        f'AND {start} = k."BillingPeriodStart"'
    ).replace("s.CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)")


def kinds(stage: Stage, f: FocusFile, index: int, config: Config) -> dict[str, int]:
    """Model and infra lines among the kept lines of one staged file."""
    allocation = _line_columns(f, _deciding(config))["allocation"]
    rows = stage.rows(
        f'SELECT {allocation}, count(*) FROM "{f.table}" s JOIN _bill_keep_{index} k '
        f"ON {_scope_match(f)} {_tags_join(f)} LEFT JOIN {IDENT} i "
        f"ON {_key(f, _deciding(config))} = i.k GROUP BY 1"
    )
    return {str(a): int(n) for a, n in rows if a is not None}
