"""The one file opener (capped decompression) and the one time parser (issue 9)."""

from __future__ import annotations

import gzip
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from costper import _io
from costper._time import parse_instant, parse_time
from costper.billing._files import sniff
from costper.errors import InputError, TooLarge
from costper.telemetry._outcome_records import read_records
from costper.telemetry._trace_files import read_requests
from costper.telemetry._traces import decode_request


def test_open_input_plain_gzip_and_zstd(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b'{"x": 1}\n')
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"x": 1}\n'))
    for p, compressed in ((plain, False), (packed, True)):
        with _io.open_input(str(p)) as opened:
            assert opened.stream.read() == b'{"x": 1}\n'
            assert opened.compressed is compressed and opened.size == p.stat().st_size
    zst = tmp_path / "a.zst"
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 10)
    with pytest.raises(InputError, match="zstd-compressed; decompress it first"):
        _io.open_input(str(zst))
    with pytest.raises(InputError, match="cannot read the file"):
        _io.open_input(str(tmp_path / "missing"))


def test_a_gzip_bomb_file_is_refused_by_every_file_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4 MB of blanks gzip to about 4 KB: a 1000:1 ratio, over MAX_RATIO with a small floor.
    bomb = gzip.compress(b"[" + b" " * 4_000_000 + b"]")
    assert len(bomb) * _io.MAX_RATIO < 4_000_000
    monkeypatch.setattr(_io, "MIN_FILE_CAP", 1000)
    traces, outcomes = tmp_path / "t.json.gz", tmp_path / "o.jsonl.gz"
    traces.write_bytes(bomb)
    outcomes.write_bytes(bomb)
    with pytest.raises(TooLarge, match="a gzip bomb"):
        list(read_requests(str(traces)))
    with pytest.raises(TooLarge, match="a gzip bomb"):
        list(read_records(str(outcomes)))
    bill = tmp_path / "focus.csv.gz"  # DuckDB inflates bills itself: the same cap first
    bill.write_bytes(gzip.compress(b"BilledCost\n" + b"1" * 4_000_000 + b"\n"))
    with pytest.raises(TooLarge, match="a gzip bomb"):
        sniff(str(bill))
    with _io.open_input(str(traces), limit=10) as opened, pytest.raises(TooLarge):
        opened.stream.read()


def test_inflate_caps_bodies_and_the_python_api_path() -> None:
    body = gzip.compress(b"{}" + b" " * 100_000)
    assert len(_io.inflate(body, "gzip", 200_000)) == 100_002
    with pytest.raises(TooLarge, match="over the limit of 1000 bytes"):
        _io.inflate(body, "gzip", 1000)
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = raw_deflate.compress(b"abc") + raw_deflate.flush()
    assert _io.inflate(data, "deflate", 10) == b"abc"
    with pytest.raises(InputError, match="'br' is not supported"):
        _io.inflate(b"x", "br", 10)
    # decode_request (the Python API's OTLP path) used to gunzip without a limit.
    with pytest.raises(TooLarge):
        decode_request(body, "application/json", "gzip", limit=1000)
    assert decode_request(body, "application/json", "gzip").ByteSize() == 0


def test_parse_instant_and_parse_time() -> None:
    assert parse_instant("2026-01-05T12:00:00Z") == datetime(2026, 1, 5, 12)
    assert parse_instant(" 2026-01-05T12:00:00+02:00") == datetime(2026, 1, 5, 10)
    assert parse_instant("2026-01-05 12:00:00") == datetime(2026, 1, 5, 12)
    with pytest.raises(ValueError):
        parse_instant("yesterday")
    now = datetime(2026, 3, 10, 12)
    assert parse_time("7d", "since", now) == datetime(2026, 3, 3, 12)
    with pytest.raises(InputError, match="^since: expected a date") as e:
        parse_time("last week", "since", now)
    assert e.value.field == "since"
