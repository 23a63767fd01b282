"""Outcome records in: CSV and JSONL files, and the records the server and SDK receive.

A record says how a session ended: `session_id` (required), `at` (RFC 3339,
default now), `success`, `escalated`, `reviewed` (true/false or empty),
`signal` (free text), `source` (`explicit` or `implicit`). Its `record_id` is
a hash of its content, with `at` counted as given (or as empty when absent),
so the same record sent twice is stored once, even when it carries no time.
Unknown fields are errors: a misspelt `sucess` column silently ignored would
turn every session into an implicit success.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import pyarrow as pa

from costper._io import open_input
from costper._time import parse_instant
from costper.errors import InputError
from costper.store._schema import OUTCOMES
from costper.store._store import Store

FIELDS = ("session_id", "at", "success", "escalated", "reviewed", "signal", "source")
SOURCES = ("explicit", "implicit")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_BATCH = 50_000


@dataclass
class OutcomeFilesSummary:
    files: int = 0
    records: int = 0
    new: int = 0

    @property
    def duplicates(self) -> int:
        return self.records - self.new


def _flag(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "":
            return None
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise ValueError(f"{name}: expected true, false or empty, got {value!r}")


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{name}: expected text, got {value!r}")


def parse_time(value: Any, name: str = "at") -> datetime | None:
    """RFC 3339 (or ISO 8601) to naive UTC; a time without zone is taken as UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected an RFC 3339 time, got {value!r}")
    try:
        return parse_instant(value)
    except ValueError:
        raise ValueError(
            f"{name}: expected an RFC 3339 time such as 2026-01-31T12:00:00Z, got {value!r}"
        ) from None


def record_id(
    session_id: str,
    at: datetime | None,
    success: bool | None,
    escalated: bool | None,
    reviewed: bool | None,
    signal: str | None,
    source: str,
) -> str:
    parts = [session_id, at.isoformat() if at else "", success, escalated, reviewed, signal, source]
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _row(record: Mapping[str, Any], now: datetime) -> tuple[Any, ...]:
    unknown = [k for k in record if k not in FIELDS]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field (fields: {', '.join(FIELDS)})")
    session = _text("session_id", record.get("session_id"))
    if session is None:
        raise ValueError(f"session_id: required, got {record.get('session_id')!r}")
    at = parse_time(record.get("at"))
    success = _flag("success", record.get("success"))
    escalated = _flag("escalated", record.get("escalated"))
    reviewed = _flag("reviewed", record.get("reviewed"))
    signal = _text("signal", record.get("signal"))
    source = (_text("source", record.get("source")) or "explicit").lower()
    if source not in SOURCES:
        raise ValueError(f"source: expected explicit or implicit, got {record.get('source')!r}")
    rid = record_id(session, at, success, escalated, reviewed, signal, source)
    return (rid, session, at or now, success, escalated, reviewed, signal, source)


def outcome_rows(
    records: Iterable[Mapping[str, Any]],
    source: str,
    *,
    lines: Iterable[int] | None = None,
    now: datetime | None = None,
) -> pa.Table:
    """Validate records into `outcomes` rows; the first bad one raises, naming it.

    `source` names where the records came from (a file, an endpoint) for the
    message; `lines` gives their line numbers in a file.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    numbers = iter(lines) if lines is not None else None
    rows = []
    for i, record in enumerate(records):
        line = next(numbers) if numbers is not None else None
        if not isinstance(record, Mapping):
            raise _error(source, i, line, f"expected an object, got {type(record).__name__}")
        try:
            rows.append(_row(record, now))
        except ValueError as e:
            raise _error(source, i, line, str(e)) from None
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in OUTCOMES]
    return pa.Table.from_arrays(
        [pa.array(c, f.type) for c, f in zip(columns, OUTCOMES, strict=True)], schema=OUTCOMES
    )


def _error(source: str, index: int, line: int | None, message: str) -> InputError:
    field = message.split(":", 1)[0] if ":" in message else None
    if line is not None:
        return InputError(message, file=source, line=line, field=field)
    return InputError(f"{source}: record {index + 1}: {message}", field=field)


def read_records(path: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) from a CSV or JSONL (or JSON array) outcome file."""
    opened = open_input(path)
    stream, name = opened.stream, opened.name
    try:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        lower = path.lower().removesuffix(".gz")
        if lower.endswith(".csv"):
            yield from _csv_records(text, name)
            return
        head = stream.peek(64)[:64].lstrip()
        if lower.endswith((".jsonl", ".ndjson", ".json")) or head[:1] in (b"{", b"["):
            yield from _json_records(text, name)
        else:
            yield from _csv_records(text, name)
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text: {e.reason}", file=name) from None
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read: {e}", file=name) from None
    finally:
        opened.close()


def _csv_records(text: IO[str], name: str) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        raise InputError(f"not valid CSV: {e}", file=name, line=1) from None
    keys = [h.strip().lower() for h in header]
    for k in keys:
        if k not in FIELDS:
            raise InputError(
                f"{k!r}: unknown column (columns: {', '.join(FIELDS)})", file=name, line=1, field=k
            )
    if "session_id" not in keys:
        raise InputError("session_id: required column missing", file=name, line=1)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputError(f"not valid CSV: {e}", file=name, line=reader.line_num) from None
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(keys):
            raise InputError(
                f"expected {len(keys)} fields as in the header, got {len(values)}",
                file=name,
                line=reader.line_num,
            )
        yield reader.line_num, dict(zip(keys, values, strict=True))


def _json_records(text: IO[str], name: str) -> Iterator[tuple[int, Any]]:
    first = True
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError) as e:
            if first:
                rest = line + text.read()
                try:
                    doc = json.loads(rest)
                except (ValueError, RecursionError) as e2:
                    line_no = number + getattr(e2, "lineno", 1) - 1
                    raise InputError(
                        f"not valid JSON: {getattr(e2, 'msg', e2)}", file=name, line=line_no
                    ) from None
                for record in doc if isinstance(doc, list) else [doc]:
                    yield number, record
                return
            msg = e.msg if isinstance(e, json.JSONDecodeError) else e
            raise InputError(f"not valid JSON: {msg}", file=name, line=number) from None
        first = False
        if isinstance(doc, list):
            for record in doc:
                yield number, record
        else:
            yield number, doc


def ingest_outcome_files(store: Store, paths: Iterable[str]) -> OutcomeFilesSummary:
    """Ingest outcome files, each in one transaction: a bad row rejects its whole file."""
    summary = OutcomeFilesSummary()
    now = datetime.now(UTC).replace(tzinfo=None)
    for path in paths:
        name = "<stdin>" if path == "-" else path
        with store.transaction():
            records: list[Any] = []
            lines: list[int] = []
            for number, record in read_records(path):
                records.append(record)
                lines.append(number)
                if len(records) >= _BATCH:
                    summary.new += _write(store, records, lines, name, now)
                    summary.records += len(records)
                    records, lines = [], []
            summary.new += _write(store, records, lines, name, now)
            summary.records += len(records)
        summary.files += 1
    return summary


def _write(store: Store, records: list[Any], lines: list[int], name: str, now: datetime) -> int:
    if not records:
        return 0
    return store.insert("outcomes", outcome_rows(records, name, lines=lines, now=now))
