"""The store under concurrency: one writer path, readers on cursors of their own,
a rollup that no committed call can slip under, recovery from failed writes.

Each interleaving is forced with events, not hoped for with sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from test_store import calls

from costper.engine._sessions import call_rollup
from costper.store._store import Store, open_store


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # handed back to the test's thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _session_calls(ids: list[str], session: str) -> pa.Table:
    return calls(ids, session=session)


class _Interleave:
    """Stands in for the writer's connection and runs `hook` in another thread
    right after the statement matching `marker`, before its result is fetched:
    the moment a shared connection lets another thread's query replace it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, marker: str, hook: Callable[[], Any]):
        self._con, self._marker, self._hook = con, marker, hook
        self.fired = False

    def execute(self, query: str, *args: Any) -> Any:
        result = self._con.execute(query, *args)
        if self._marker in query and not self.fired:
            self.fired = True
            t, out = _in_thread(self._hook)
            t.join(10)
            assert not t.is_alive(), "the reader hung"
            if "error" in out:
                raise out["error"]
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_a_reader_mid_write_does_not_disturb_the_write(store: Store) -> None:
    """The campaign's F1: a page naming a table while group commit writes on the
    same connection replaced the writer's pending result (its sequence number
    read as garbage or 0). Now readers have their own cursors and naming a
    table runs no query."""
    store.insert("calls", _session_calls(["a"], "s1"))
    seen: list[int] = []

    def reader() -> None:
        t = store.table("calls")
        seen.append(int(store.execute(t.count())))
        seen.append(store.count("calls"))

    proxy = _Interleave(store._con, "data_version", reader)
    store._con = proxy  # type: ignore[assignment]
    store.insert("calls", _session_calls(["b"], "s2"))
    store._con = proxy._con
    assert proxy.fired
    assert seen == [1, 1]  # the reader saw the committed snapshot, not half a write
    rows = store.sql("SELECT span_id, seq FROM calls ORDER BY span_id").to_pylist()
    assert rows == [{"span_id": "a", "seq": 1}, {"span_id": "b", "seq": 2}]


def test_reads_do_not_wait_for_an_open_write_and_never_see_it(store: Store) -> None:
    store.insert("calls", _session_calls(["a"], "s1"))
    inserted, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction():
            store.insert("calls", _session_calls(["b", "c"], "s2"))
            inserted.set()
            assert release.wait(10)

    t, out = _in_thread(writer)
    assert inserted.wait(10)
    reads, rout = _in_thread(lambda: (store.count("calls"), store.version()))
    reads.join(5)
    assert not reads.is_alive(), "a read waited for the writer"
    assert rout["value"] == (1, 1)
    release.set()
    t.join(10)
    assert "error" not in out and store.count("calls") == 3 and store.version() == 2


def test_no_committed_call_can_sit_below_the_rollup_watermark(store: Store) -> None:
    """The sequence race: a write takes its sequence number, a rollup catches up
    to a higher watermark before that write commits, and the write's calls are
    in `calls` but in no report, ever. Forced here: the write is held open
    after taking its number while a rollup is asked for."""
    store.insert("calls", _session_calls(["a"], "s1"))
    assert [
        r["session_id"] for r in store.to_arrow(store.session_rollup(call_rollup)).to_pylist()
    ] == ["s1"]
    store.insert("calls", _session_calls(["b"], "s2"))  # the rollup is now stale
    inserted, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with store.transaction():
            store.insert("calls", _session_calls(["c"], "s3"))
            inserted.set()
            assert release.wait(10)

    w, wout = _in_thread(slow_writer)
    assert inserted.wait(10)
    r, rout = _in_thread(lambda: store.to_arrow(store.session_rollup(call_rollup)))
    r.join(0.5)
    release.set()
    w.join(10)
    r.join(10)
    assert not r.is_alive() and "error" not in wout and "error" not in rout
    # whatever the rollup caught up to, asking again must cover every committed call
    rolled = store.to_arrow(store.session_rollup(call_rollup)).to_pylist()
    assert sorted(x["session_id"] for x in rolled) == ["s1", "s2", "s3"]
    [row] = store.sql(
        "SELECT (SELECT max(seq) FROM calls) AS top, "
        "(SELECT value FROM meta WHERE key = 'rollup_seq')::BIGINT AS mark"
    ).to_pylist()
    assert row["top"] == row["mark"] == 3
    seqs = store.sql("SELECT span_id, seq FROM calls ORDER BY seq").to_pylist()
    assert [s["seq"] for s in seqs] == [1, 2, 3]


def test_a_write_whose_rollback_fails_leaves_a_working_store(db_path: Path) -> None:
    """A poisoned writer (its connection dead mid-transaction, so even ROLLBACK
    fails) must not fail every later request until a restart."""
    with open_store(db_path) as store:
        store.insert("calls", _session_calls(["a"], "s1"))
        with pytest.raises(duckdb.Error), store.transaction():
            store.insert("calls", _session_calls(["b"], "s2"))
            store._con.close()
            store._con.execute("SELECT 1")
        assert store.insert("calls", _session_calls(["c"], "s3")) == 1
        assert store.count("calls") == 2
        assert sorted(
            r["session_id"] for r in store.to_arrow(store.session_rollup(call_rollup)).to_pylist()
        ) == ["s1", "s3"]


def test_many_threads_writing_and_reading_lose_nothing(store: Store) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                store.insert("calls", _session_calls([f"{n}-{i}"], f"s{n}-{i % 3}"))
        except BaseException as e:
            errors.append(e)

    def read() -> None:
        try:
            for _ in range(20):
                store.to_arrow(store.session_rollup(call_rollup))
                store.count("calls")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    rolled = store.to_arrow(store.session_rollup(call_rollup)).to_pylist()
    assert sum(r["calls"] for r in rolled) == store.count("calls") == 80
