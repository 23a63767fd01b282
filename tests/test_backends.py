"""The engine is Ibis expressions: the same report on another engine.

PySpark in local[2] mode is the warehouse-class engine that runs on this
machine (with its Java 17); cloud warehouses (BigQuery, Snowflake) cannot run
here and are not tested. Data are the demo's, copied out of the DuckDB store.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from costper._demo import generate
from costper.engine._report import report
from costper.store._store import Store

pyspark = pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
if shutil.which("java") is None:
    pytest.skip("PySpark needs a Java runtime", allow_module_level=True)

END = datetime(2025, 6, 1)
NOW = datetime(2025, 6, 2)


@pytest.mark.slow
def test_report_on_pyspark_equals_report_on_duckdb(store: Store, tmp_path: Path) -> None:
    import ibis
    from pyspark.sql import SparkSession

    generate(store, 3000, seed=4, end=END)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.warehouse.dir", str(tmp_path / "warehouse"))
        .getOrCreate()
    )
    try:
        con = ibis.pyspark.connect(spark)
        for name in ("calls", "outcomes"):
            con.create_table(name, store.to_arrow(store.table(name)).to_pandas(), overwrite=True)
        ours = report(store, ["feature", "model"], now=NOW).to_dict()
        theirs = report(con, ["feature", "model"], now=NOW).to_dict()
    finally:
        spark.stop()
    assert [g["key"] for g in ours["groups"]] == [g["key"] for g in theirs["groups"]]
    for a, b in zip(ours["groups"], theirs["groups"], strict=True):
        for field in ("sessions", "labeled_sessions", "successes", "escalations", "calls", "turns"):
            assert a[field] == b[field], (a["key"], field)
        assert a["cost"]["total"] == pytest.approx(b["cost"]["total"], rel=1e-12)
        assert a["cost_per_success"]["low"] == pytest.approx(b["cost_per_success"]["low"], rel=1e-9)
