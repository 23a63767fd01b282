"""OTLP/HTTP receiver (`/v1/traces`, `/v1/logs`) and the outcome endpoint.

Answers follow OTLP/HTTP so an app's exporter works with its defaults: 200
with an Export*ServiceResponse in the request's encoding, carrying a partial
success when some spans or records were refused; 400 with a google.rpc.Status
naming what cannot be read; 413 over `max_request_bytes`, on the wire or
inflated. A 200 is sent only once the rows are committed. Decoding and
writing run in the thread pool so the event loop keeps accepting; the calls
of concurrent requests are committed together (`GroupCommit`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool

from costper._json import loads
from costper.billing._join import rejoin
from costper.config import Config
from costper.errors import InputError, ReadOnlyStore, TooLarge
from costper.server.body import inflate, read_body
from costper.server.group_commit import GroupCommit
from costper.server.guard import status_protobuf
from costper.store._store import Store
from costper.telemetry._outcome_events import (
    decode_logs_request,
    outcome_events,
    resolve_sessions,
    traces_needing_sessions,
)
from costper.telemetry._outcome_records import outcome_rows
from costper.telemetry._traces import (
    CallsBatch,
    calls_from_request,
    decode_lean_request,
    settle,
)

router = APIRouter()

_FAILURES = {
    400: {"description": "The body cannot be read: a google.rpc.Status naming the field."},
    408: {"description": "The body did not arrive within the read timeout."},
    413: {"description": "Over max_request_bytes, on the wire or inflated."},
    415: {"description": "Content-Type is not application/x-protobuf or application/json."},
}

_FLAG = {"type": ["boolean", "string", "null"], "description": "true/false or empty"}
_OUTCOME_RECORD = {
    "type": "object",
    "required": ["session_id"],
    "properties": {
        "session_id": {"type": "string"},
        "at": {"type": "string", "format": "date-time", "description": "RFC 3339; default now"},
        "success": _FLAG,
        "escalated": _FLAG,
        "reviewed": _FLAG,
        "signal": {"type": "string"},
        "source": {"type": "string"},
    },
}


def _otlp_doc(message: str, partial: str) -> dict[str, Any]:
    """OpenAPI for an OTLP/HTTP endpoint: the body is protobuf or its JSON mapping."""
    schema = {"type": "object", "description": f"An {message} (OTLP/HTTP, protobuf or JSON)."}
    return {
        "summary": f"OTLP/HTTP {message}",
        "tags": ["ingest"],
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": schema},
                },
            }
        },
        "responses": {
            200: {
                "description": f"Committed. {partial} in the response's partial_success; "
                "headers x-costper-accepted and x-costper-new count rows.",
                "content": {"application/x-protobuf": {}, "application/json": {}},
            },
            **_FAILURES,
        },
    }


_CONTENT_TYPES = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}
_MEDIA = {"protobuf": "application/x-protobuf", "json": "application/json"}
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED = 3, 8
_MAX_REASONS = 5


@router.post("/v1/traces", **_otlp_doc("ExportTraceServiceRequest", "Rejected spans"))
@router.post(
    "/api/public/otel/v1/traces",
    operation_id="langfuse_otel_traces",
    **_otlp_doc("ExportTraceServiceRequest", "Rejected spans"),
)
async def traces(request: Request) -> Response:
    """OTLP traces; also at Langfuse's path, so a Langfuse SDK (v3+) whose host is this
    server sends its spans here unchanged."""
    kind = _kind(request)
    if kind is None:
        return _unsupported(request)
    cfg, store = _state(request)
    writer = _group_commit(request)
    try:
        body = await read_body(request, cfg.max_request_bytes)
        encoding = request.headers.get("content-encoding")
        batch, new = await run_in_threadpool(
            _ingest_traces, cfg, store, writer, body, kind, encoding
        )
    except InputError as e:
        return _failure(kind, e)
    response = ExportTraceServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_spans = len(batch.rejected)
        response.partial_success.error_message = _summary(batch.rejected, len(batch.rejected))
    return _message(kind, response, accepted=batch.spans - len(batch.rejected), new=new)


def _ingest_traces(
    cfg: Config, store: Store, writer: GroupCommit, body: bytes, kind: str, encoding: str | None
) -> tuple[CallsBatch, int]:
    raw = inflate(body, encoding, cfg.max_request_bytes)
    batch = calls_from_request(decode_lean_request(raw, _MEDIA[kind]), cfg)
    new = writer.write(batch.table)
    new -= settle(store, cfg, batch)
    rejoin(store, new, cfg)
    return batch, new


def _group_commit(request: Request) -> GroupCommit:
    """One per app, made on the event loop's thread (so never twice)."""
    state = request.app.state
    if not hasattr(state, "group_commit"):
        state.group_commit = GroupCommit(_state(request)[1])
    return state.group_commit


@router.post("/v1/logs", **_otlp_doc("ExportLogsServiceRequest", "Rejected log records"))
async def logs(request: Request) -> Response:
    kind = _kind(request)
    if kind is None:
        return _unsupported(request)
    cfg, store = _state(request)
    try:
        body = await read_body(request, cfg.max_request_bytes)
        encoding = request.headers.get("content-encoding")
        accepted, new, rejected = await run_in_threadpool(
            _ingest_logs, cfg, store, body, kind, encoding
        )
    except InputError as e:
        return _failure(kind, e)
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = len(rejected)
        response.partial_success.error_message = _summary(rejected, len(rejected))
    return _message(kind, response, accepted=accepted, new=new)


def _ingest_logs(
    cfg: Config, store: Store, body: bytes, kind: str, encoding: str | None
) -> tuple[int, int, list[str]]:
    raw = inflate(body, encoding, cfg.max_request_bytes)
    found = outcome_events(decode_logs_request(raw, kind))
    rejected = [reason for _, reason in found.rejected]
    traces = traces_needing_sessions(found)
    resolve_sessions(found, _sessions_of_traces(store, traces) if traces else {})
    good = found.records
    try:
        rows = outcome_rows(good, source="POST /v1/logs")
    except InputError:
        good, rows, refused = _valid_records(good)
        rejected += refused
    new = store.insert("outcomes", rows) if rows.num_rows else 0
    return len(good), new, rejected


def _valid_records(
    records: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], pa.Table, list[str]]:
    """One by one, to refuse only the bad records of a logs request (OTLP partial success)."""
    good, refused = [], []
    for record in records:
        try:
            outcome_rows([record], source="POST /v1/logs")
        except InputError as e:
            refused.append(str(e))
        else:
            good.append(record)
    return good, outcome_rows(good, source="POST /v1/logs"), refused


def _sessions_of_traces(store: Store, trace_ids: list[str]) -> dict[str, str]:
    calls = store.table("calls")
    expr = calls.filter(calls.trace_id.isin(trace_ids)).select("trace_id", "session_id").distinct()
    table = store.to_arrow(expr)
    return dict(zip(table["trace_id"].to_pylist(), table["session_id"].to_pylist(), strict=True))


@router.post(
    "/v1/outcomes",
    summary="Outcome records (JSON)",
    tags=["ingest"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [_OUTCOME_RECORD, {"type": "array", "items": _OUTCOME_RECORD}]
                    }
                }
            },
        }
    },
    responses={
        200: {
            "description": "All stored: accepted records and how many were new.",
            "content": {"application/json": {"example": {"accepted": 1, "new": 1}}},
        },
        400: {
            "description": "A bad record: `error` names the record, field and value; none stored."
        },
        408: _FAILURES[408],
        413: _FAILURES[413],
        415: {"description": "Content-Type is not application/json."},
    },
)
async def outcomes(request: Request) -> JSONResponse:
    """Plain JSON outcome records: one object or a list; all stored or none."""
    cfg, store = _state(request)
    body = await read_body(request, cfg.max_request_bytes)
    encoding = request.headers.get("content-encoding")
    accepted, new = await run_in_threadpool(_ingest_outcomes, cfg, store, body, encoding)
    return JSONResponse({"accepted": accepted, "new": new})


def _ingest_outcomes(
    cfg: Config, store: Store, body: bytes, encoding: str | None
) -> tuple[int, int]:
    raw = inflate(body, encoding, cfg.max_request_bytes)
    doc = loads(raw, "POST /v1/outcomes")
    records = [doc] if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise InputError(
            "POST /v1/outcomes: expected an outcome record (JSON object) or a list of them",
            field="body",
        )
    rows = outcome_rows(records, source="POST /v1/outcomes")
    return rows.num_rows, store.insert("outcomes", rows)


def _state(request: Request) -> tuple[Config, Store]:
    """The config and the store to write to: the DuckDB store, or a writable engine's
    (`BackendSource.writable`); a read-only source (a warehouse by URL, `?read_only=1`)
    refuses here, before the body is read (405, naming the reason)."""
    store = request.app.state.store
    if not isinstance(store, Store) or store.read_only:
        refuse = getattr(store, "refuse", None)
        if store.read_only or not hasattr(store, "writable"):
            raise (
                refuse("receiving telemetry")
                if refuse
                else ReadOnlyStore(f"{store.path}: read-only")
            )
        store = store.writable()
    return request.app.state.config, store


def _kind(request: Request) -> str | None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return _CONTENT_TYPES.get(media)


def _unsupported(request: Request) -> Response:
    got = request.headers.get("content-type") or "none"
    message = (
        f"Content-Type: {got!r} is not supported (use application/x-protobuf or application/json)"
    )
    return JSONResponse({"code": _INVALID_ARGUMENT, "message": message, "error": message}, 415)


def _message(kind: str, message: Message, *, accepted: int, new: int) -> Response:
    headers = {"x-costper-accepted": str(accepted), "x-costper-new": str(new)}
    if kind == "json":
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return Response(body, media_type=_MEDIA[kind], headers=headers)


def _failure(kind: str, error: InputError) -> Response:
    status = 413 if isinstance(error, TooLarge) else 400
    code = _RESOURCE_EXHAUSTED if status == 413 else _INVALID_ARGUMENT
    text = str(error)
    if kind == "json":
        return JSONResponse({"code": code, "message": text, "error": text}, status)
    return Response(status_protobuf(code, text), status, media_type=_MEDIA[kind])


def _summary(reasons: list[Any], count: int) -> str:
    texts = [r if isinstance(r, str) else str(r[1]) for r in reasons[:_MAX_REASONS]]
    more = f"; and {count - len(texts)} more" if count > len(texts) else ""
    return f"{count} rejected: " + "; ".join(texts) + more
