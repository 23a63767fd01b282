"""Trace files and request bodies: every encoding, idempotence, all-or-nothing files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import Tracer
from otlp_payloads import (
    chats,
    genai_chat,
    gzip_file,
    mixed_request,
    record,
    span,
    to_json,
    write_framed,
    write_jsonl,
)

from costper.cli import main
from costper.config import Config
from costper.errors import InputError
from costper.store._store import Store
from costper.telemetry._trace_files import ingest_trace_files
from costper.telemetry._traces import decode_request, ingest_body, ingest_request


def stored(store: Store) -> list[dict[str, Any]]:
    return sorted(
        store.sql("SELECT * EXCLUDE (seq) FROM calls").to_pylist(),
        key=lambda r: (r["trace_id"], r["span_id"]),
    )


@pytest.fixture(scope="module")
def requests() -> list[Any]:
    return [mixed_request(), chats(5)]


def all_layouts(tmp: Path, requests: list[Any]) -> dict[str, Path]:
    one = requests[0]
    files = {
        "raw.pb": tmp / "one.pb",
        "pretty.json": tmp / "one.json",
        "framed.binpb": write_framed(tmp / "many.binpb", requests),
        "lines.jsonl": write_jsonl(tmp / "many.jsonl", requests),
    }
    files["raw.pb"].write_bytes(one.SerializeToString())
    files["pretty.json"].write_text(json.dumps(to_json(one), indent=2))
    files["framed.binpb.gz"] = gzip_file(files["framed.binpb"], tmp / "many.binpb.gz")
    files["lines.jsonl.gz"] = gzip_file(files["lines.jsonl"], tmp / "many.jsonl.gz")
    return files


def test_every_layout_gives_the_same_rows(tmp_path: Path, requests: list[Any]) -> None:
    from costper.store._store import open_store

    results = {}
    for name, path in all_layouts(tmp_path, requests).items():
        with open_store(tmp_path / f"{name}.duckdb") as s:
            summary = ingest_trace_files(s, Config(), [str(path)])
            results[name] = (summary.calls, stored(s))
    single = {k: v for k, v in results.items() if k in ("raw.pb", "pretty.json")}
    several = {k: v for k, v in results.items() if k not in single}
    assert {v[0] for v in single.values()} == {4}
    assert {v[0] for v in several.values()} == {4 + 5}
    assert results["raw.pb"][1] == results["pretty.json"][1]
    first = results["framed.binpb"][1]
    assert all(rows == first for _, rows in several.values())


def test_json_hex_ids_are_kept_as_written(tmp_path: Path, store: Store) -> None:
    request = chats(1)
    doc = to_json(request)
    span_json = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    doc["resourceSpans"][0]["someFieldFromTheFuture"] = {"x": 1}  # unknown fields are ignored
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    ingest_trace_files(store, Config(), [str(path)])
    (row,) = stored(store)
    assert (row["trace_id"], row["span_id"]) == (span_json["traceId"], span_json["spanId"])
    assert len(row["trace_id"]) == 32


def test_request_bodies_in_every_encoding_decode_alike(requests: list[Any]) -> None:
    request = requests[0]
    pb = request.SerializeToString()
    js = json.dumps(to_json(request)).encode()
    decoded = [
        decode_request(pb, "application/x-protobuf"),
        decode_request(gzip.compress(pb), "application/x-protobuf", "gzip"),
        decode_request(js, "application/json"),
        decode_request(gzip.compress(js), "application/json; charset=utf-8", "gzip"),
    ]
    assert all(d == request for d in decoded)


def test_bad_bodies_say_why() -> None:
    with pytest.raises(InputError, match="not a valid OTLP protobuf"):
        decode_request(b"\x0a\xff\xff\xff", "application/x-protobuf")
    with pytest.raises(InputError, match="not valid JSON"):
        decode_request(b"{nope", "application/json")
    with pytest.raises(InputError, match="Content-Type"):
        decode_request(b"", "text/plain")
    with pytest.raises(InputError, match="not valid gzip"):
        decode_request(b"plain", "application/json", "gzip")
    bad_id = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "00"}]}]}]}
    with pytest.raises(InputError, match="traceId: not hex"):
        decode_request(json.dumps(bad_id).encode(), "application/json")


def test_same_file_twice_changes_nothing(tmp_path: Path, store: Store, requests: list[Any]) -> None:
    path = write_framed(tmp_path / "t.binpb", requests)
    first = ingest_trace_files(store, Config(), [str(path)])
    before = stored(store)
    again = ingest_trace_files(store, Config(), [str(path)])
    assert (first.calls, first.new) == (9, 9)
    assert (again.calls, again.new, again.duplicates) == (9, 0, 9)
    assert stored(store) == before


def test_corrupt_line_rejects_the_whole_file(tmp_path: Path, store: Store) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [chats(3, "a"), chats(3, "b"), chats(3, "c")])
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:40]  # truncated write
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        # one call per batch: the first lines are flushed before the bad one is read
        ingest_trace_files(store, Config(), [str(path)], batch_calls=1)
    assert str(err.value).startswith(f"{path}:3: not valid JSON")
    assert store.count("calls") == 0


def test_bad_span_in_a_file_names_line_field_and_value(tmp_path: Path, store: Store) -> None:
    def body(t: Tracer) -> None:
        with span(t, "chat", genai_chat(**{"gen_ai.usage.output_tokens": -3})):
            pass

    path = write_jsonl(tmp_path / "t.jsonl", [chats(2), record(body)])
    with pytest.raises(InputError) as err:
        ingest_trace_files(store, Config(), [str(path)])
    msg = str(err.value)
    assert (
        msg.startswith(f"{path}:2: span ") and "gen_ai.usage.output_tokens" in msg and "-3" in msg
    )
    assert store.count("calls") == 0


def test_truncated_protobuf_names_its_record(
    tmp_path: Path, store: Store, requests: list[Any]
) -> None:
    path = write_framed(tmp_path / "t.binpb", requests)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InputError, match=r"t\.binpb:2: truncated message"):
        ingest_trace_files(store, Config(), [str(path)])
    assert store.count("calls") == 0


def test_partial_success_stores_the_good_spans(store: Store) -> None:
    def body(t: Tracer) -> None:
        for tokens in (5, "many", 7):
            with span(t, "chat", genai_chat(**{"gen_ai.usage.input_tokens": tokens})):
                pass

    result = ingest_request(store, Config(), record(body))
    assert (result.accepted, result.rejected, result.new_rows, result.calls) == (2, 1, 2, 2)
    assert "'many'" in result.errors[0]
    again = ingest_body(store, Config(), record(body).SerializeToString(), "application/x-protobuf")
    assert again.new_rows == 2  # new trace ids; the same request again would add none


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path, store: Store) -> None:
    batch = chats(400)
    small = write_framed(tmp_path / "small.binpb", [batch] * 2)
    big = write_framed(tmp_path / "big.binpb", [batch] * 10)
    peaks = []
    for path in (small, big):
        tracemalloc.start()
        ingest_trace_files(store, Config(), [str(path)], batch_calls=400)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert big.stat().st_size == 5 * small.stat().st_size
    assert peaks[1] < 1.5 * peaks[0]


def test_cli_summary_and_one_line_error(tmp_path: Path, db_path: Path, capsys: Any) -> None:
    good = write_framed(tmp_path / "good.binpb", [mixed_request()])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": []}\n{oops\n')
    code = main(["ingest", "traces", str(good), str(bad), "--db", str(db_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.strip() == (
        "1 file(s): 9 spans read, 4 calls (4 new, 0 already stored), 1 file(s) rejected, 0 unpriced"
    )
    assert err.strip() == (
        f"costper: error: {bad}:2: not valid JSON: "
        "Expecting property name enclosed in double quotes (column 2)"
    )


def test_installed_command_reads_stdin(tmp_path: Path, db_path: Path) -> None:
    body = gzip.compress(json.dumps(to_json(chats(3))).encode())
    exe = Path(sys.executable).with_name("costper")
    proc = subprocess.run(
        [str(exe), "ingest", "traces", "-", "--db", str(db_path)],
        input=body,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"3 calls (3 new" in proc.stdout
