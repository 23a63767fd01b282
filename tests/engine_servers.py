"""The engines the engine tests write to: a database of their own on the test
PostgreSQL server, Spark local[2] on 127.0.0.1, each skipped with the reason
when it cannot run here."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import ibis
import pytest

POSTGRES = os.environ.get(
    "COSTPER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:54329/costper_test"
)
SPARK_CONF = "spark.master=local[2]&spark.sql.shuffle.partitions=2&spark.default.parallelism=2"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh, empty database named `{prefix}_{pid}` (a leftover one dropped first): its
    URL; dropped again on the way out."""
    pytest.importorskip("psycopg", reason="ibis-framework[postgres] is in the test extra")
    try:
        admin = ibis.connect(POSTGRES)
    except Exception as e:
        pytest.skip(f"no PostgreSQL at {POSTGRES} ({type(e).__name__}); .ci/postgres starts one")
    name = f"{prefix}_{os.getpid()}"
    admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.raw_sql(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.raw_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.disconnect()


def spark_or_skip() -> None:
    pytest.importorskip("pyspark", reason="ibis-framework[pyspark] is in the test extra")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime")
