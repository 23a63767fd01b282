"""GroupCommit on a real DuckDB store: whatever requests end up grouped, each
learns exactly how many of its rows were new, and a refused request fails alone."""

from __future__ import annotations

import threading
from datetime import datetime

import pyarrow as pa
import pytest

from costper.errors import InputError
from costper.server.group_commit import GroupCommit
from costper.store._store import Store


def calls(trace: int, n: int = 50, *, session: str | None = "s") -> pa.Table:
    return pa.table(
        {
            "trace_id": [f"{trace:032x}"] * n,
            "span_id": [f"{i + 1:016x}" for i in range(n)],
            "session_id": pa.array([session] * n, pa.string()),
            "turn_id": [f"{trace:032x}"] * n,
            "feature": ["f"] * n,
            "start_time": [datetime(2026, 11, 1)] * n,
            "failed": [False] * n,
            "cost_source": ["config"] * n,
            "input_tokens": [trace] * n,
        }
    )


def write_all(writer: GroupCommit, tables: list[pa.Table]) -> list[int | BaseException]:
    """Each table from its own thread, all released at once."""
    results: list[int | BaseException] = [0] * len(tables)
    barrier = threading.Barrier(len(tables))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = writer.write(tables[i])
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tables))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_new_rows_are_counted_exactly_with_retries_in_the_mix(store: Store, attempt: int) -> None:
    writer = GroupCommit(store)
    stored_before = [calls(t) for t in range(1, 5)]
    for table in stored_before:
        assert writer.write(table) == 50
    fresh = [calls(t) for t in range(5, 13)]
    results = write_all(writer, stored_before + fresh + fresh[:2])
    assert results[:4] == [0, 0, 0, 0]
    assert sorted(results[4:]) == [0, 0] + [50] * 8  # a fresh table sent twice counts once
    assert store.count("calls") == 12 * 50
    [row] = store.sql("SELECT sum(input_tokens) AS t FROM calls").to_pylist()
    assert row["t"] == 50 * sum(range(1, 13))


def test_a_refused_request_fails_alone(store: Store) -> None:
    writer = GroupCommit(store)
    tables = [calls(t) for t in range(1, 8)] + [calls(99, session=None)]
    results = write_all(writer, tables)
    assert results[:7] == [50] * 7
    assert isinstance(results[7], InputError) and "session_id" in str(results[7])
    assert store.count("calls") == 7 * 50
    assert writer.write(calls(0, 0)) == 0
