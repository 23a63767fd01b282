"""The report's query, compiled by Ibis on its first run and kept in the store
(`store._compiled`), so that every later `costper report` with the same code,
config and options runs that SQL on DuckDB without loading Ibis or sqlglot.

What decides the SQL's text is the key: costper's version and the source of
the modules that build the query, Ibis' and sqlglot's versions (read from
their files, not imported), the config's cost model, currency and `[[evals]]`
rules, the group keys, the feature filter and whether --since, --until and
implicit successes apply. The values of the last three change between runs
and are filled in (`store._compiled.fill`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import costper
from costper.config import Config
from costper.store._compiled import SENTINELS, Query, Value, template

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from costper.store._source import Source

_CODE = (
    "engine/_report.py", "engine/_report_sql.py", "engine/_sessions.py", "engine/_vocabulary.py",
    "pricing/_currency.py", "store/_compiled.py", "store/_dialect.py", "store/_schema.py",
    "store/_store.py",
)  # fmt: skip
"""costper's modules whose code decides the report's SQL (relative to the package)."""
_LIBRARIES = (("ibis", "__init__.py"), ("sqlglot", "_version.py"))
"""The files holding the versions of the libraries that write it."""


@cache
def _code_digest() -> str | None:
    """None when a source file cannot be read (an install without sources): then no
    query is kept, and every report takes the Ibis path."""
    h = hashlib.sha256(costper.__version__.encode())
    root = Path(costper.__file__).parent
    try:
        for rel in _CODE:
            h.update((root / rel).read_bytes())
        for package, file in _LIBRARIES:
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                return None
            h.update(Path(next(iter(spec.submodule_search_locations)), file).read_bytes())
    except OSError:
        return None
    return h.hexdigest()


def query_key(
    config: Config, keys: list[str], since: object, until: object, feature: str | None
) -> str | None:
    """What decides the report query's text, as a digest (None: see `_code_digest`)."""
    code = _code_digest()
    if code is None:
        return None
    decides = (
        code,
        keys,
        since is None,
        until is None,
        feature,
        config.implicit_success_after is None,
        repr(config.costs),
        sorted((f, repr(c)) for f, c in config.feature_costs.items()),
        config.currency,
        sorted(config.rates.items()),
        repr(config.evals),
    )
    return hashlib.sha256(repr(decides).encode()).hexdigest()


def run_values(
    config: Config, now: datetime, since: datetime | None, until: datetime | None
) -> dict[str, Value] | None:
    """The values filled into the template; None when one cannot be (a time with a zone)."""
    out: dict[str, Value] = {}
    if config.implicit_success_after is not None:
        out["quiet_before"] = now - config.implicit_success_after
    if since is not None:
        out["since"] = since
    if until is not None:
        out["until"] = until
    if any(isinstance(v, datetime) and v.tzinfo is not None for v in [now, *out.values()]):
        return None
    return out


def compile_report(
    source: Source,
    expr: ir.Table,
    config: Config,
    keys: list[str],
    since: datetime | None,
    until: datetime | None,
    feature: str | None,
    values: dict[str, Value],
) -> Query | None:
    """The report query `expr` (built for `values`) as a template to keep, or None
    when it cannot be one: it does not read the stored rollup, it needs anything
    registered on the connection, or filling the sentinels in does not give
    exactly the SQL Ibis writes for the real values."""
    import ibis.expr.operations as ops

    from costper.engine._report import group_sums
    from costper.engine._sessions import rollup_builder, session_table
    from costper.store._dialect import dialect_of

    store = source
    compile_ = getattr(getattr(store, "ibis", None), "compile", None)
    rollup_sql = getattr(store, "rollup_sql", None)
    if compile_ is None or rollup_sql is None:
        return None
    if expr.op().find((ops.InMemoryTable, ops.ScalarUDF)):
        return None
    schema = expr.as_table().schema()
    if any(t.is_null() for t in schema.types):
        return None
    quiet = SENTINELS["quiet_before"]
    assert isinstance(quiet, datetime)
    now = quiet + config.implicit_success_after if config.implicit_success_after else quiet
    sentinel_expr = group_sums(
        session_table(
            source,
            config,
            now=now,
            since=SENTINELS["since"] if since is not None else None,  # type: ignore[arg-type]
            until=SENTINELS["until"] if until is not None else None,  # type: ignore[arg-type]
            feature=feature,
            keys=keys,
        ),
        keys,
    )
    actual_sql = str(compile_(expr))
    if '"session_rollup"' not in actual_sql:
        return None
    sql = template(str(compile_(sentinel_expr)), actual_sql, values)
    rollup = rollup_sql(rollup_builder(dialect_of(source), tuple(config.evals)))
    if sql is None or rollup is None:
        return None
    return Query(sql, rollup, schema.to_pyarrow())
