"""Outcome records from CSV and JSONL: values, idempotence, and refusals naming the spot."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from costper.cli import main
from costper.errors import InputError
from costper.store._store import Store
from costper.telemetry._outcome_records import ingest_outcome_files, outcome_rows

CSV = """session_id,at,success,escalated,reviewed,signal,source
s1,2026-01-31T12:00:00Z,true,false,,thumbs_up,explicit
s2,2026-01-31T14:30:00+02:00,false,true,true,ticket_created,
s3,,TRUE,,,,implicit
"""


def rows(store: Store) -> dict[str, dict[str, Any]]:
    return {r["session_id"]: r for r in store.sql("SELECT * FROM outcomes").to_pylist()}


def test_csv_values(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "o.csv"
    path.write_text(CSV)
    before = datetime.now(UTC).replace(tzinfo=None)
    summary = ingest_outcome_files(store, [str(path)])
    assert (summary.files, summary.records, summary.new) == (1, 3, 3)
    got = rows(store)
    s1, s2, s3 = got["s1"], got["s2"], got["s3"]
    assert (s1["at"], s1["success"], s1["escalated"], s1["reviewed"]) == (
        datetime(2026, 1, 31, 12, 0),
        True,
        False,
        None,
    )
    assert (s1["signal"], s1["source"]) == ("thumbs_up", "explicit")
    assert s2["at"] == datetime(2026, 1, 31, 12, 30)  # +02:00 stored as UTC
    assert (s2["success"], s2["escalated"], s2["reviewed"], s2["source"]) == (
        False,
        True,
        True,
        "explicit",
    )
    assert s3["success"] is True and s3["source"] == "implicit" and s3["signal"] is None
    assert before <= s3["at"] <= datetime.now(UTC).replace(tzinfo=None)  # no `at`: now


def test_jsonl_gives_the_same_rows_as_csv(tmp_path: Path, store: Store) -> None:
    from costper.store._store import open_store

    csv_path = tmp_path / "o.csv"
    csv_path.write_text(CSV)
    jsonl = tmp_path / "o.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "session_id": "s1",
                    "at": "2026-01-31T12:00:00Z",
                    "success": True,
                    "escalated": False,
                    "signal": "thumbs_up",
                    "source": "explicit",
                },
                {
                    "session_id": "s2",
                    "at": "2026-01-31T14:30:00+02:00",
                    "success": "false",
                    "escalated": "true",
                    "reviewed": True,
                    "signal": "ticket_created",
                },
                {"session_id": "s3", "success": True, "source": "implicit"},
            ]
        )
    )
    ingest_outcome_files(store, [str(csv_path)])
    with open_store(tmp_path / "other.duckdb") as other:
        ingest_outcome_files(other, [str(jsonl)])
        a, b = rows(store), rows(other)
    for sid in ("s1", "s2"):
        assert a[sid] == b[sid]
    assert a["s3"]["record_id"] == b["s3"]["record_id"]  # same content, no `at`: same record


def test_same_file_twice_counts_once_even_without_times(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "o.csv"
    path.write_text(CSV)
    ingest_outcome_files(store, [str(path)])
    first = rows(store)
    again = ingest_outcome_files(store, [str(path)])
    assert (again.records, again.new, again.duplicates) == (3, 0, 3)
    assert rows(store) == first


def test_a_later_record_for_a_session_is_a_new_record(store: Store) -> None:
    a = outcome_rows([{"session_id": "s", "success": True, "at": "2026-02-01T00:00:00Z"}], "t")
    b = outcome_rows([{"session_id": "s", "success": False, "at": "2026-02-02T00:00:00Z"}], "t")
    assert store.insert("outcomes", a) == 1
    assert store.insert("outcomes", b) == 1
    assert a["record_id"][0] != b["record_id"][0]


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("s9,2026-01-31T12:00:00Z,maybe,,,,", "success", "'maybe'"),
        ("s9,yesterday,true,,,,", "at", "'yesterday'"),
        (",2026-01-31T12:00:00Z,true,,,,", "session_id", "''"),
        ("s9,,true,,,,guess", "source", "'guess'"),
    ],
)
def test_bad_row_rejects_the_file_naming_line_field_value(
    tmp_path: Path, store: Store, line: str, field: str, value: str
) -> None:
    path = tmp_path / "o.csv"
    path.write_text(CSV + line + "\n")
    with pytest.raises(InputError) as err:
        ingest_outcome_files(store, [str(path)])
    msg = str(err.value)
    assert msg.startswith(f"{path}:5: {field}:") and value in msg
    assert err.value.field == field
    assert store.count("outcomes") == 0


def test_unknown_column_and_missing_session_column(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "o.csv"
    path.write_text("session_id,sucess\ns1,true\n")
    with pytest.raises(InputError, match=r"o\.csv:1: 'sucess': unknown column"):
        ingest_outcome_files(store, [str(path)])
    path.write_text("success\ntrue\n")
    with pytest.raises(InputError, match="session_id: required column missing"):
        ingest_outcome_files(store, [str(path)])


def test_bad_json_line(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "o.jsonl"
    path.write_text('{"session_id": "a"}\n{"session_id": "b", "success": tru}\n')
    with pytest.raises(InputError, match=r"o\.jsonl:2: not valid JSON"):
        ingest_outcome_files(store, [str(path)])
    path.write_text('{"session_id": "a", "flavour": "x"}\n')
    with pytest.raises(InputError, match=r"o\.jsonl:1: flavour: unknown field"):
        ingest_outcome_files(store, [str(path)])
    assert store.count("outcomes") == 0


def test_records_from_an_endpoint_name_their_position() -> None:
    with pytest.raises(InputError) as err:
        outcome_rows(
            [{"session_id": "a"}, {"session_id": "b", "escalated": "sometimes"}],
            source="POST /v1/outcomes",
        )
    assert str(err.value) == (
        "POST /v1/outcomes: record 2: escalated: expected true, false or empty, got 'sometimes'"
    )


def test_cli(tmp_path: Path, db_path: Path, capsys: Any) -> None:
    good = tmp_path / "o.csv"
    good.write_text(CSV)
    bad = tmp_path / "bad.csv"
    bad.write_text("session_id,success\ns1,perhaps\n")
    code = main(["ingest", "outcomes", str(good), str(bad), "--db", str(db_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert (
        out.strip() == "1 file(s): 3 outcome records (3 new, 0 already stored), 1 file(s) rejected"
    )
    assert err.strip() == (
        f"costper: error: {bad}:2: success: expected true, false or empty, got 'perhaps'"
    )
