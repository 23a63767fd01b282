"""Spans in a warehouse mapped to calls on the engine: the same calls as `costper ingest traces`.

One set of real OTel SDK spans (`warehouse_spans`: several providers, a
wrapper over the SDK span, the session on the root only, a broken chain, a
failed call with an exception event, cache and reasoning tokens, a model no
one prices) is written twice: as an OTLP file ingested by the CLI into a
DuckDB store, and as the Collector ClickHouse exporter's `otel_traces` rows
(`otel_traces_rows`, written independently of costper) into a real engine
(a DuckDB file; Spark local[2] on 127.0.0.1; embedded ClickHouse through chdb
with the exporter's own DDL). Every call's fields and cost must agree to
1e-9. A few values are also checked by hand and against genai-prices.
BigQuery and Snowflake, which cannot run here, get a compile check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import ibis
import otel_traces_rows as otr
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import warehouse_spans
from otlp_payloads import write_jsonl

from costper.cli import main
from costper.pricing._price_table import PRICE_TABLE, read_price_table
from costper.store._store import open_source
from costper.telemetry._warehouse import TRACES, traces_calls

FIELDS = (
    "trace_id", "parent_span_id", "session_id", "turn_id", "request_id", "feature",
    "provider", "model", "prompt_version", "operation", "service_name", "start_time",
    "duration_ms", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "failed", "error_type", "estimate_source", "cost_source", "tenant",
    "scope", "response_id", "service_tier",
)  # fmt: skip
MONEY = ("estimated_cost", "cost", "infra_cost")


class World:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests = warehouse_spans.requests()
        self.store = folder / "store.duckdb"
        self.warehouse = folder / "warehouse.duckdb"
        write_jsonl(folder / "spans.jsonl", self.requests)
        assert main(["ingest", "traces", str(folder / "spans.jsonl"), "--db", str(self.store)]) == 0
        con = duckdb.connect(str(self.warehouse))
        con.execute(otr.DUCKDB_DDL)
        rows = otr.table(self.requests)  # noqa: F841  (read by the INSERT below)
        con.execute("INSERT INTO otel_traces SELECT * FROM rows")
        con.close()
        with duckdb.connect(str(self.store), read_only=True) as s:
            self.ingested = s.execute("SELECT * FROM calls").to_arrow_table()

        self._mapped: pa.Table | None = None

    @property
    def url(self) -> str:
        return f"duckdb://{self.warehouse}?traces=otel_traces"

    @property
    def mapped(self) -> pa.Table:
        """`calls` read through the view, as a user opens it (once per module)."""
        if self._mapped is None:
            source = open_source(self.url)
            try:
                self._mapped = source.to_arrow(source.table("calls"))
            finally:
                source.close()
        return self._mapped


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("warehouse"))


def by_span(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["span_id"]: r for r in table.to_pylist()}


def assert_same_calls(got: pa.Table, want: pa.Table) -> None:
    g, w = by_span(got), by_span(want)
    assert sorted(g) == sorted(w)
    for span_id, row in w.items():
        mapped = g[span_id]
        for f in FIELDS:
            a, b = mapped[f], row[f]
            if f == "start_time":
                a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
            assert a == b, (span_id, row["model"], f, a, b)
        for f in MONEY:
            a, b = mapped[f], row[f]
            assert (a is None) == (b is None), (row["model"], f, a, b)
            if b is not None:
                assert abs(a - b) <= 1e-9, (row["model"], f, a, b)


def test_duckdb_view_is_ingest(world: World) -> None:
    got = world.mapped
    assert got.num_rows == world.ingested.num_rows == 8
    assert_same_calls(got, world.ingested)


def test_rules_by_hand(world: World) -> None:
    """Independent of both implementations: what the spans say, read by eye."""
    calls = world.mapped.to_pylist()
    rows = {r["model"]: r for r in calls if not r["failed"]}
    assert "gpt-4o-mini" not in rows  # the framework's wrapper span: innermost wins
    inner = rows["gpt-4o-mini-2024-07-18"]
    assert (inner["session_id"], inner["feature"]) == ("sess-A", "support")  # root, workflow
    assert (inner["input_tokens"], inner["cache_read_tokens"]) == (1000, 400)
    claude = rows["claude-3-5-sonnet-20241022"]
    assert claude["input_tokens"] == 50 + 2000 + 500  # Anthropic counts input without cache
    assert claude["tenant"] == "acme-corp"
    bedrock = rows["anthropic.claude-3-haiku-20240307-v1:0"]
    assert bedrock["provider"] == "aws.bedrock"
    assert bedrock["feature"] == "search"  # chain broken: the root's, not the lost span's
    assert rows["gemini-1.5-flash"]["provider"] == "gcp.vertex_ai"
    assert rows["gemini-1.5-flash"]["session_id"] == "sess-C"  # JSON-quoted value unquoted
    failing = [r for r in calls if r["failed"]]
    assert [(r["model"], r["error_type"]) for r in failing] == [("gpt-4o", "TimeoutError")]
    assert rows["acme-llm-9000"]["cost"] is None
    assert rows["acme-llm-9000"]["cost_source"] == "unpriced"
    from genai_prices import Usage, calc_price

    want = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=100),
        model_ref="gpt-4o-mini-2024-07-18",
        provider_id="openai",
    ).total_price
    assert abs(inner["cost"] - float(want)) <= 1e-12


@pytest.mark.slow
def test_exported_price_table_prices_the_same(world: World, tmp_path: Path) -> None:
    for name in ("prices.parquet", "prices.csv"):
        path = tmp_path / name
        assert main(["prices", "export", str(path), "--db", world.url]) == 0
        table = read_price_table(str(path))
        assert table.schema == PRICE_TABLE
        keys = set(zip(table["provider"].to_pylist(), table["model"].to_pylist(), strict=True))
        assert ("openai", "gpt-4o-mini-2024-07-18") in keys  # as the spans spell it
        assert ("acme", "acme-llm-9000") not in keys
        source = open_source(f"{world.url}&prices={path}")
        try:
            got = source.to_arrow(source.table("calls"))
        finally:
            source.close()
        assert_same_calls(got, world.ingested)


@pytest.mark.slow
def test_report_reads_the_view(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["report", "--db", world.url, "--by", "feature", "-f", "json"]) == 0
    via_view = json.loads(capsys.readouterr().out)
    assert main(["report", "--db", str(world.store), "--by", "feature", "-f", "json"]) == 0
    via_store = json.loads(capsys.readouterr().out)
    assert via_view == via_store


def test_bad_price_table_is_one_line(world: World, tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("provider,model\nopenai,gpt-4o\n")
    assert main(["report", "--db", f"{world.url}&prices={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv" in err and "missing column" in err
    eur = tmp_path / "eur.parquet"
    assert main(["prices", "export", str(eur)]) == 0
    t = pq.read_table(eur)
    t = t.set_column(t.schema.get_field_index("currency"), "currency", pa.array(["EUR"] * len(t)))
    pq.write_table(t, eur)
    assert main(["report", "--db", f"{world.url}&prices={eur}"]) == 2
    assert "'EUR'" in capsys.readouterr().err
    assert main(["report", "--db", f"duckdb://{world.warehouse}?traces=nope"]) == 2
    assert "traces=nope" in capsys.readouterr().err
    spans = str(world.folder / "spans.jsonl")
    assert main(["ingest", "traces", spans, "--db", world.url]) == 2
    assert "spans mapped on the engine" in capsys.readouterr().err


def _clickhouse_literal(v: Any) -> str:
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, list) and v and isinstance(v[0], tuple):
        return (
            "map("
            + ",".join(f"{_clickhouse_literal(k)},{_clickhouse_literal(x)}" for k, x in v)
            + ")"
        )
    if isinstance(v, list):
        return "[" + ",".join(_clickhouse_literal(x) for x in v) + "]"
    return str(v)


@pytest.mark.slow
def test_clickhouse_runs_the_compiled_query(world: World, tmp_path: Path) -> None:
    """chdb is ClickHouse embedded: the exporter's real DDL, the Ibis-compiled SQL."""
    chdb_session = pytest.importorskip("chdb.session", reason="pip install chdb")
    prices = tmp_path / "prices.parquet"
    assert main(["prices", "export", str(prices), "--db", world.url]) == 0
    sess = chdb_session.Session(str(tmp_path / "ch"))
    sess.query("CREATE DATABASE IF NOT EXISTS otel")
    sess.query("USE otel")
    sess.query(otr.CLICKHOUSE_DDL)
    values = []
    for row in otr.rows(world.requests):
        parts = []
        for col, v in row.items():
            if col == "Timestamp":
                parts.append(f"fromUnixTimestamp64Nano({v})")
            elif col == "Events.Timestamp":
                parts.append("[" + ",".join(f"fromUnixTimestamp64Nano({x})" for x in v) + "]")
            elif col in ("ResourceAttributes", "SpanAttributes"):
                parts.append(_clickhouse_literal(v) if v else "map()")
            elif col in ("Events.Attributes", "Links.Attributes"):
                parts.append(
                    "[" + ",".join(_clickhouse_literal(m) if m else "map()" for m in v) + "]"
                )
            else:
                parts.append(_clickhouse_literal(v))
        values.append("(" + ",".join(parts) + ")")
    columns = ",".join(f"`{c}`" for c in otr.SCHEMA.names)
    sess.query(f"INSERT INTO otel_traces ({columns}) VALUES {','.join(values)}")
    sess.query(f"CREATE TABLE prices ENGINE = Memory AS SELECT * FROM file('{prices}', Parquet)")
    expr = traces_calls(
        ibis.table(TRACES, name="otel_traces"),
        ibis.table(ibis.Schema.from_pyarrow(PRICE_TABLE), name="prices"),
    )
    sql = ibis.to_sql(expr, dialect="clickhouse")
    assert len(sql) < 256 * 1024  # ClickHouse's default max_query_size
    got = sess.query(sql, "ArrowTable")
    sess.close()
    assert_same_calls(got, world.ingested)


@pytest.mark.slow
def test_spark_maps_the_same(world: World, tmp_path: Path) -> None:
    """Spark local[2] on 127.0.0.1: the spans and the exported prices as Parquet tables
    (MAP columns), the mapping as Ibis compiles it for Spark."""
    pyspark = pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    from costper.store._backend import SPARK_DEFAULTS

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    folder = tmp_path / "spark"
    folder.mkdir()
    pq.write_table(  # Spark keeps microseconds (ingest truncates to them too)
        otr.table(world.requests),
        folder / "otel_traces.parquet",
        coerce_timestamps="us",
        allow_truncated_timestamps=True,
    )
    prices = tmp_path / "prices.parquet"
    assert main(["prices", "export", str(prices), "--db", world.url]) == 0
    builder = pyspark.sql.SparkSession.builder
    for k, v in {**SPARK_DEFAULTS, "spark.master": "local[2]"}.items():
        builder = builder.config(k, v)
    session = builder.config("spark.sql.shuffle.partitions", "2").getOrCreate()
    assert session.conf.get("spark.driver.bindAddress") == "127.0.0.1"
    session.read.parquet(str(folder / "otel_traces.parquet")).createOrReplaceTempView("otel_traces")
    session.read.parquet(str(prices)).createOrReplaceTempView("prices")
    backend = ibis.pyspark.connect(session)
    expr = traces_calls(backend.table("otel_traces"), backend.table("prices"))
    got = backend.to_pyarrow(expr)
    assert_same_calls(got, world.ingested)


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake"])
def test_compiles_for_warehouses(dialect: str) -> None:
    """Compile only: neither can run here. BigQuery has no MAP type: there the attribute
    columns are JSON objects (the exporter's string values), events left out."""
    schema = dict(TRACES.items())
    if dialect == "bigquery":
        schema = {k: v for k, v in schema.items() if not k.startswith(("Events.", "Links."))}
        schema["SpanAttributes"] = schema["ResourceAttributes"] = ibis.dtype("json")
    expr = traces_calls(
        ibis.table(schema, name="otel_traces"),
        ibis.table(ibis.Schema.from_pyarrow(PRICE_TABLE), name="prices"),
    )
    sql = ibis.to_sql(expr, dialect=dialect)
    assert "otel_traces" in sql and "SpanAttributes" in sql and "gen_ai.usage.input_tokens" in sql
