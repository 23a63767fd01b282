"""The storage seam: atomic, idempotent batches; versioning; read-only opening."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from costper.errors import InputError, StoreError
from costper.store._store import Store, open_store

T = datetime(2025, 1, 1)


def calls(ids: list[str], session: str | None = "s") -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "trace_id": ["t"] * n,
            "span_id": ids,
            "session_id": [session] * n,
            "turn_id": ["t"] * n,
            "feature": ["f"] * n,
            "start_time": [T] * n,
            "failed": [False] * n,
            "cost_source": ["catalog"] * n,
            "cost": [1.0] * n,
            "infra_cost": [0.0] * n,
        }
    )


def test_same_rows_twice_count_once(store: Store) -> None:
    assert store.insert("calls", calls(["a", "b", "b"])) == 2
    assert store.insert("calls", calls(["a", "b", "c"])) == 1
    assert store.count("calls") == 3
    assert store.execute(store.table("calls").cost.sum()) == 3.0


def test_a_rejected_batch_writes_nothing_in_any_table(store: Store) -> None:
    v = store.version()
    outcomes = pa.table({"record_id": ["r"], "session_id": ["s"], "at": [T]})
    with pytest.raises(InputError, match="without session_id"):
        store.insert_many({"outcomes": outcomes, "calls": calls(["x"], session=None)})
    assert store.count("outcomes") == 0 and store.count("calls") == 0 and store.version() == v


def test_failure_inside_a_transaction_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("calls", calls(["a"]))
        raise RuntimeError("boom")
    assert store.count("calls") == 0


def test_version_moves_on_every_write(store: Store) -> None:
    v = store.version()
    store.insert("calls", calls(["a"]))
    assert store.version() == v + 1


def test_data_survives_reopening_and_read_only(db_path: Path) -> None:
    with open_store(db_path) as s:
        s.insert("calls", calls(["a", "b"]))
    with open_store(db_path, read_only=True) as s:
        assert s.count("calls") == 2
        with pytest.raises(Exception, match="read-only"):
            s.insert("calls", calls(["c"]))


def test_newer_schema_is_refused(db_path: Path) -> None:
    with open_store(db_path) as s:
        s.sql("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this costper"):
        open_store(db_path)


def test_unknown_table_and_missing_folder(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StoreError, match="no table 'nope'"):
        store.table("nope")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "missing" / "x.duckdb")


def _rollup_rows(store: Store) -> list[dict]:
    from costper.engine._sessions import call_rollup

    return sorted(
        store.to_arrow(store.session_rollup(call_rollup)).to_pylist(), key=lambda r: r["session_id"]
    )


def test_session_rollup_catches_up_incrementally_and_rebuilds_after_cost_updates(
    db_path: Path,
) -> None:
    from costper.engine._sessions import call_rollup

    def batch(ids: list[str], sessions: list[str], costs: list[float]) -> pa.Table:
        t = calls(ids)
        return t.set_column(
            t.schema.get_field_index("session_id"), "session_id", pa.array(sessions)
        ).set_column(t.schema.get_field_index("cost"), "cost", pa.array(costs))

    with open_store(db_path) as s:
        s.insert("calls", batch(["a", "b"], ["s1", "s2"], [1.0, 2.0]))
        assert [r["llm"] for r in _rollup_rows(s)] == [1.0, 2.0]
        s.insert("calls", batch(["c", "d"], ["s2", "s3"], [4.0, 8.0]))
        rows = _rollup_rows(s)
        assert [(r["session_id"], r["llm"], r["calls"]) for r in rows] == [
            ("s1", 1.0, 1),
            ("s2", 6.0, 2),
            ("s3", 8.0, 1),
        ]
        on_the_fly = sorted(
            s.to_arrow(call_rollup(s.table("calls"))).to_pylist(), key=lambda r: r["session_id"]
        )
        assert rows == on_the_fly
        s.update_calls(
            pa.table(
                {
                    "trace_id": ["t"],
                    "span_id": ["c"],
                    "cost": [0.5],
                    "cost_source": ["billed"],
                    "infra_cost": [0.25],
                }
            )
        )
        rows = _rollup_rows(s)
        assert (rows[1]["llm"], rows[1]["infra"], rows[1]["src_billed"]) == (2.5, 0.25, 1)


def test_duckdb_errors_stop_at_the_seam(tmp_path: Path) -> None:
    """Only costper.store speaks DuckDB: its exceptions come out as costper's (issue 9)."""
    with open_store(tmp_path / "e.duckdb") as store:
        with pytest.raises(StoreError, match=r"e\.duckdb: .*nope"):
            store.sql("SELECT * FROM nope")
        with pytest.raises(InputError, match=r"e\.duckdb: Conversion Error"):
            store.sql("SELECT CAST('x' AS INTEGER)")
        assert store.count("calls") == 0  # and the store still works


def span_tags(keys: list[tuple[str, str]], session: str) -> pa.Table:
    return pa.table(
        {
            "trace_id": [k[0] for k in keys],
            "span_id": [k[1] for k in keys],
            "is_call": [False] * len(keys),
            "session_id": [session] * len(keys),
        }
    )


def test_span_tags_keep_one_row_per_key_without_an_index(store: Store) -> None:
    """Schema 6 dropped the table's primary-key index: the insert keeps keys unique."""
    assert store.insert("span_tags", span_tags([("t1", "a"), ("t1", "b"), ("t1", "b")], "s1")) == 2
    assert store.insert("span_tags", span_tags([("t1", "a"), ("t2", "a")], "s2")) == 1
    rows = store.sql("SELECT trace_id, span_id, session_id FROM span_tags ORDER BY 1, 2")
    assert [tuple(r.values()) for r in rows.to_pylist()] == [
        ("t1", "a", "s1"),
        ("t1", "b", "s1"),
        ("t2", "a", "s2"),
    ]


def test_a_schema_5_store_loses_the_span_tags_index_and_keeps_its_rows(db_path: Path) -> None:
    import duckdb

    with open_store(db_path) as s:
        s.insert("span_tags", span_tags([("t1", "a"), ("t1", "b")], "s1"))
    with duckdb.connect(str(db_path)) as con:  # as schema 5 made it: with its primary key
        con.execute("ALTER TABLE span_tags RENAME TO old")
        con.execute(
            "CREATE TABLE span_tags (trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, "
            "parent_span_id VARCHAR, is_call BOOLEAN, session_id VARCHAR, feature VARCHAR, "
            "prompt_version VARCHAR, turn_id VARCHAR, tenant VARCHAR, "
            "PRIMARY KEY (trace_id, span_id))"
        )
        con.execute("INSERT INTO span_tags SELECT * FROM old")
        con.execute("DROP TABLE old")
        con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with open_store(db_path) as s:
        assert s.backup == f"{db_path}.v5.bak"
        indexed = "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'span_tags'"
        assert s.sql(indexed + " AND constraint_type = 'PRIMARY KEY'").column(0).to_pylist() == [0]
        assert s.insert("span_tags", span_tags([("t1", "b"), ("t1", "c")], "s2")) == 1
        rows = s.sql("SELECT span_id, session_id FROM span_tags ORDER BY 1").to_pylist()
        assert [tuple(r.values()) for r in rows] == [("a", "s1"), ("b", "s1"), ("c", "s2")]
        version = s.sql("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.column(0).to_pylist() == ["6"]
