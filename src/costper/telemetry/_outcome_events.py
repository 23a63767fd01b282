"""OTLP log events to outcome records.

Two events say how a session ended. `costper.outcome` carries the outcome
record's fields (`success`, `escalated`, `reviewed`, `signal`, `source`,
`at`) as attributes, bare or under `costper.outcome.`, or in a map body.
`gen_ai.evaluation.result` (OTel GenAI) carries an evaluator's verdict; its
`gen_ai.evaluation.score.label` decides success (pass/fail, correct/incorrect,
relevant/not_relevant...). All other log records are not outcomes and are
passed over. The session comes from the event's session attributes (as on
spans), else from the calls already stored under the event's trace, else it
is the trace itself, as for spans without a session.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from costper._json import loads, objects
from costper.errors import InputError
from costper.telemetry._spans import SESSION_KEYS, any_value

OUTCOME_EVENT = "costper.outcome"
EVALUATION_EVENT = "gen_ai.evaluation.result"
FIELDS = ("success", "escalated", "reviewed", "signal", "source", "at")
PASS_LABELS = frozenset(
    "pass passed success succeeded successful true yes correct relevant good positive "
    "accepted resolved thumbs_up".split()
)
FAIL_LABELS = frozenset(
    "fail failed failure false no incorrect not_relevant irrelevant bad negative "
    "rejected unresolved thumbs_down".split()
)


@dataclass
class OutcomeEvents:
    """Outcome records found in one logs request, and records refused (index, reason)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    trace_of: list[str | None] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    log_records: int = 0


def decode_logs_request(body: bytes, content_type: str) -> ExportLogsServiceRequest:
    """Parse an OTLP logs export body (already inflated), protobuf or JSON."""
    request = ExportLogsServiceRequest()
    if content_type == "json":
        doc = loads(body, "body")
        if not isinstance(doc, dict):
            raise InputError("expected an ExportLogsServiceRequest object", field="body")
        try:
            json_format.ParseDict(_ids_to_base64(doc), request, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as e:
            raise InputError(f"not an OTLP logs request: {e}", field="body") from None
        return request
    try:
        request.ParseFromString(body)
    except Exception as e:  # protobuf raises DecodeError or RuntimeWarning-like errors
        raise InputError(f"not an OTLP logs protobuf message: {e}", field="body") from None
    return request


def _ids_to_base64(doc: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON parser expects base64."""
    for r, rl in enumerate(objects(doc, "resourceLogs", "", "resource_logs")):
        where = f"resourceLogs[{r}]"
        for s, sl in enumerate(objects(rl, "scopeLogs", where, "scope_logs")):
            for i, rec in enumerate(objects(sl, "logRecords", f"{where}.scopeLogs[{s}]")):
                for key in ("traceId", "spanId", "trace_id", "span_id"):
                    v = rec.get(key) if isinstance(rec, dict) else None
                    if isinstance(v, str) and v:
                        try:
                            rec[key] = base64.b64encode(bytes.fromhex(v)).decode()
                        except ValueError:
                            raise InputError(
                                f"logRecords[{i}].{key}: expected hex, got {v!r}",
                                field=key,
                                value=v,
                            ) from None
    return doc


def outcome_events(request: ExportLogsServiceRequest) -> OutcomeEvents:
    """Pick the outcome events out of a logs request as outcome records."""
    found = OutcomeEvents()
    index = -1
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                index += 1
                attrs = {kv.key: any_value(kv.value) for kv in rec.attributes}
                name = rec.event_name or attrs.get("event.name")
                if name not in (OUTCOME_EVENT, EVALUATION_EVENT):
                    continue
                try:
                    if name == OUTCOME_EVENT:
                        record = _outcome_fields(attrs, _body_map(rec))
                    else:
                        record = _evaluation_fields(attrs)
                except ValueError as e:
                    found.rejected.append((index, f"log record {index} ({name}): {e}"))
                    continue
                session = next(
                    (attrs[k] for k in SESSION_KEYS if attrs.get(k) not in (None, "")), None
                )
                trace = rec.trace_id.hex() if any(rec.trace_id) else None
                if session is None and trace is None:
                    found.rejected.append(
                        (
                            index,
                            f"log record {index} ({name}): no session attribute and no trace id",
                        )
                    )
                    continue
                record["session_id"] = None if session is None else str(session)
                if "at" not in record:
                    ns = rec.time_unix_nano or rec.observed_time_unix_nano
                    if ns:
                        record["at"] = _rfc3339(ns)
                found.records.append(record)
                found.trace_of.append(trace)
    found.log_records = index + 1
    return found


def resolve_sessions(found: OutcomeEvents, sessions_by_trace: Mapping[str, str]) -> None:
    """Give events without a session the session of their trace's stored calls, else the trace."""
    for record, trace in zip(found.records, found.trace_of, strict=True):
        if record["session_id"] is None:
            record["session_id"] = sessions_by_trace.get(trace or "", trace)


def traces_needing_sessions(found: OutcomeEvents) -> list[str]:
    return sorted(
        {
            t
            for r, t in zip(found.records, found.trace_of, strict=True)
            if r["session_id"] is None and t
        }
    )


def _body_map(rec: Any) -> dict[str, Any]:
    if rec.body.WhichOneof("value") != "kvlist_value":
        return {}
    return {kv.key: any_value(kv.value) for kv in rec.body.kvlist_value.values}


def _outcome_fields(attrs: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name in FIELDS:
        for source in (attrs, body):
            value = source.get(f"costper.outcome.{name}", source.get(name))
            if value is not None and value != "":
                record[name] = value
                break
    if not any(k in record for k in ("success", "escalated", "reviewed")):
        raise ValueError("carries none of success, escalated, reviewed")
    record.setdefault("source", "explicit")
    return record


def _evaluation_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
    name = attrs.get("gen_ai.evaluation.name") or "evaluation"
    if attrs.get("error.type"):
        raise ValueError(f"the evaluation failed (error.type {attrs['error.type']!r})")
    label = attrs.get("gen_ai.evaluation.score.label")
    if label is None:
        raise ValueError("gen_ai.evaluation.score.label: missing, cannot tell pass from fail")
    norm = str(label).strip().lower().replace(" ", "_").replace("-", "_")
    if norm in PASS_LABELS:
        success = True
    elif norm in FAIL_LABELS:
        success = False
    else:
        raise ValueError(
            f"gen_ai.evaluation.score.label: {label!r} is not a pass/fail label "
            "(pass, fail, correct, incorrect, relevant, not_relevant, ...)"
        )
    return {"success": success, "signal": f"evaluation:{name}:{norm}", "source": "explicit"}


def _rfc3339(ns: int) -> str:
    at = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    at += timedelta(microseconds=ns // 1000 % 1_000_000)
    return at.isoformat().replace("+00:00", "Z")
