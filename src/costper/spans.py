"""OTLP spans to `calls` rows: which spans are LLM calls, and what they say.

Instrumentations disagree on names, so every field is read from a list of
attribute keys, first present wins: the project's own `costper.*` keys, then
OTel GenAI (current, then deprecated names), OpenInference, OpenLLMetry and
Langfuse. Only the keys listed here are ever read, so message and prompt
content carried on the same spans never reaches the store.

Only inference spans become calls. Agent, chain, tool, workflow and HTTP spans
carry aggregated or no usage; counting them would count money twice. When a
framework's LLM span wraps the SDK's LLM span for the same request (LangChain
over OpenAI, both instrumented) the innermost one is kept. Tags set on an
ancestor span (a session on the request's root span) are inherited by the
calls below it when the ancestor arrives in the same export request.

The loop is the ingest hot path: it touches each attribute once, keeps a
small dict of the keys it knows and appends to column lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SESSION_KEYS = (
    "costper.session.id",
    "gen_ai.conversation.id",
    "session.id",
    "langfuse.session.id",
    "traceloop.association.properties.session_id",
)
FEATURE_KEYS = (
    "costper.feature",
    "feature_tag",
    "gen_ai.workflow.name",
    "traceloop.workflow.name",
    "traceloop.association.properties.feature",
)
PROMPT_VERSION_KEYS = (
    "costper.prompt.version",
    "gen_ai.prompt.version",
    "llm.prompt_template.version",
    "langfuse.observation.prompt.version",
    "traceloop.association.properties.prompt_version",
)
REQUEST_ID_KEYS = ("costper.request.id",)
RESPONSE_ID_KEYS = ("gen_ai.response.id",)
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "langfuse.observation.model.name",
    "llm.response.model",
    "llm.request.model",
)
INPUT_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
OUTPUT_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "llm.token_count.completion_details.reasoning",
    "llm.usage.reasoning_tokens",
)
COST_KEYS = ("costper.cost", "gen_ai.usage.cost", "llm.cost.total", "gen_ai.usage.total_cost")
LANGFUSE_USAGE = "langfuse.observation.usage_details"
LANGFUSE_COST = "langfuse.observation.cost_details"
OPERATION = "gen_ai.operation.name"
OI_KIND = "openinference.span.kind"
TRACELOOP_KIND = "traceloop.span.kind"
TRACELOOP_REQUEST_TYPE = "llm.request.type"
LANGFUSE_TYPE = "langfuse.observation.type"
LANGFUSE_LEVEL = "langfuse.observation.level"
ERROR_TYPE = "error.type"
CALL_VALID = "costper.call.valid"
SERVICE_NAME = "service.name"

_TAG_KEYS = SESSION_KEYS + FEATURE_KEYS + PROMPT_VERSION_KEYS + REQUEST_ID_KEYS
_TOKEN_FIELDS = {
    "input_tokens": INPUT_KEYS,
    "output_tokens": OUTPUT_KEYS,
    "cache_read_tokens": CACHE_READ_KEYS,
    "cache_write_tokens": CACHE_WRITE_KEYS,
    "reasoning_tokens": REASONING_KEYS,
}
WANTED = frozenset(
    _TAG_KEYS
    + RESPONSE_ID_KEYS
    + PROVIDER_KEYS
    + MODEL_KEYS
    + INPUT_KEYS
    + OUTPUT_KEYS
    + TOTAL_KEYS
    + CACHE_READ_KEYS
    + CACHE_WRITE_KEYS
    + REASONING_KEYS
    + COST_KEYS
    + (LANGFUSE_USAGE, LANGFUSE_COST, OPERATION, OI_KIND, TRACELOOP_KIND)
    + (TRACELOOP_REQUEST_TYPE, LANGFUSE_TYPE, LANGFUSE_LEVEL, ERROR_TYPE, CALL_VALID, SERVICE_NAME)
)
"""Every attribute key costper reads; all others (content included) are skipped unread."""

INFERENCE_OPERATIONS = {
    "chat": "chat",
    "text_completion": "text_completion",
    "completion": "text_completion",
    "generate_content": "generate_content",
    "embeddings": "embeddings",
    "embedding": "embeddings",
    "responses": "chat",
}
_TRACELOOP_REQUEST_TYPES = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}
_OI_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}
_LANGFUSE_TYPES = {"generation": "chat", "embedding": "embeddings"}
_PROVIDER_ALIASES = {
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    "vertexai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "az.ai.openai": "azure.ai.openai",
}
_STATUS_ERROR = 2
_CLASS_REPR = re.compile(r"^<class '([^']+)'>$")

COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "session_id",
    "turn_id",
    "response_id",
    "feature",
    "provider",
    "model",
    "prompt_version",
    "operation",
    "service_name",
    "start_time",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "failed",
    "error_type",
    "reported_cost",
)
"""Columns `rows_from_requests` fills. Before defaults: `session_id`, `turn_id` (the
`costper.request.id`) and `feature` are null when no span says; `response_id`
and `reported_cost` feed `request_id` and pricing and are not stored."""


class BadSpan(ValueError):
    """A span that cannot become a call; the message says which field and value."""


@dataclass
class SpanRows:
    """Calls of one export request as column lists, plus spans rejected (index, reason)."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COLUMNS})
    rejected: list[tuple[int, str]] = field(default_factory=list)
    spans: int = 0
    starts: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns["span_id"])

    def line_of(self, index: int) -> int | None:
        """The line (or record) number of the request holding span `index`."""
        line = None
        for first_index, number in self.starts:
            if first_index > index:
                break
            line = number
        return line


def any_value(v: Any) -> Any:
    """The Python value of an OTLP AnyValue (arrays and maps as None: no field here uses them)."""
    kind = v.WhichOneof("value")
    if kind is None or kind == "array_value" or kind == "kvlist_value":
        return None
    return getattr(v, kind)


def known_attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    """Only the attributes costper reads: content keys are never even decoded."""
    out: dict[str, Any] = {}
    for kv in kvs:
        k = kv.key
        if k in WANTED:
            out[k] = any_value(kv.value)
    return out


def first(a: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = a.get(k)
        if v is not None and v != "":
            return v
    return None


def normalise_error_type(value: Any) -> str | None:
    """`<class 'openai.RateLimitError'>` (openai-v2's repr) becomes `openai.RateLimitError`."""
    if value is None:
        return None
    text = str(value).strip()
    m = _CLASS_REPR.match(text)
    if m:
        text = m.group(1)
    return text or None


def normalise_provider(value: Any) -> str | None:
    if value is None:
        return None
    p = str(value).strip().lower()
    return _PROVIDER_ALIASES.get(p, p) or None


def inference_operation(a: Mapping[str, Any]) -> str | None:
    """The call's operation if the span is one LLM inference, else None.

    A span that declares itself something else (agent, chain, tool, workflow)
    is never a call, whatever usage it carries: that usage is its children's.
    """
    op = a.get(OPERATION)
    kind = a.get(OI_KIND)
    lf_type = a.get(LANGFUSE_TYPE)
    if a.get(TRACELOOP_KIND) is not None:
        return None
    if kind is not None and str(kind).upper() not in _OI_KINDS:
        return None
    if lf_type is not None and str(lf_type).lower() not in _LANGFUSE_TYPES:
        return None
    if op is not None:
        return INFERENCE_OPERATIONS.get(str(op).lower())
    if kind is not None:
        return _OI_KINDS[str(kind).upper()]
    rt = a.get(TRACELOOP_REQUEST_TYPE)
    if rt is not None:
        return _TRACELOOP_REQUEST_TYPES.get(str(rt).lower())
    if lf_type is not None:
        return _LANGFUSE_TYPES[str(lf_type).lower()]
    if first(a, MODEL_KEYS) is not None and (
        first(a, INPUT_KEYS) is not None or first(a, OUTPUT_KEYS) is not None
    ):
        return "chat"
    return None


def _count(a: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for k in keys:
        v = a.get(k)
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            raise BadSpan(f"{k}: expected a token count, got {v!r}")
        if isinstance(v, int):
            n = v
        elif isinstance(v, float) and v.is_integer():
            n = int(v)
        elif isinstance(v, str) and v.strip().isdigit():
            n = int(v)
        else:
            raise BadSpan(f"{k}: expected a token count, got {v!r}")
        if n < 0:
            raise BadSpan(f"{k}: negative token count {n}")
        return n
    return None


def _money(key: str, v: Any) -> float:
    if isinstance(v, bool):
        raise BadSpan(f"{key}: expected a cost in USD, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise BadSpan(f"{key}: expected a cost in USD, got {v!r}") from None
    if not x >= 0 or x == float("inf"):
        raise BadSpan(f"{key}: expected a non-negative cost in USD, got {v!r}")
    return x


def _json_object(key: str, v: Any) -> dict[str, Any]:
    try:
        d = json.loads(v) if isinstance(v, str) else None
    except ValueError:
        d = None
    if not isinstance(d, dict):
        raise BadSpan(f"{key}: expected a JSON object, got {str(v)[:80]!r}")
    return d


def _langfuse_usage(a: dict[str, Any]) -> None:
    """Langfuse usage details are disjoint buckets; fold them into the OTel GenAI totals."""
    d = _json_object(LANGFUSE_USAGE, a[LANGFUSE_USAGE])
    inp = out = cr = cw = rs = 0
    for k, v in d.items():
        n = _count({k: v}, (k,)) or 0
        lk = k.lower()
        if "cache_read" in lk or "cached" in lk:
            cr += n
            inp += n
        elif "cache_creation" in lk or "cache_write" in lk:
            cw += n
            inp += n
        elif lk.startswith("input") or lk.startswith("prompt"):
            inp += n
        elif "reasoning" in lk:
            rs += n
            out += n
        elif lk.startswith("output") or lk.startswith("completion"):
            out += n
    a.setdefault("gen_ai.usage.input_tokens", inp)
    a.setdefault("gen_ai.usage.output_tokens", out)
    if cr:
        a.setdefault("gen_ai.usage.cache_read.input_tokens", cr)
    if cw:
        a.setdefault("gen_ai.usage.cache_creation.input_tokens", cw)
    if rs:
        a.setdefault("gen_ai.usage.reasoning.output_tokens", rs)


def _reported_cost(a: Mapping[str, Any]) -> float | None:
    for k in COST_KEYS:
        v = a.get(k)
        if v is not None and v != "":
            return _money(k, v)
    v = a.get(LANGFUSE_COST)
    if v is not None:
        d = _json_object(LANGFUSE_COST, v)
        if "total" in d:
            return _money(f"{LANGFUSE_COST}.total", d["total"])
        return sum(_money(f"{LANGFUSE_COST}.{k}", x) for k, x in d.items())
    return None


def tokens(a: dict[str, Any]) -> tuple[int | None, int | None, int | None, int | None, int | None]:
    """(input, output, cache_read, cache_write, reasoning), input counting cached input.

    Cache counts larger than the input count mean the instrumentation reported
    uncached input (Anthropic's API does); they are added back so the store
    keeps one meaning. Likewise reasoning beyond the output count.
    """
    if LANGFUSE_USAGE in a and first(a, INPUT_KEYS + OUTPUT_KEYS) is None:
        _langfuse_usage(a)
    inp = _count(a, INPUT_KEYS)
    out = _count(a, OUTPUT_KEYS)
    cr = _count(a, CACHE_READ_KEYS)
    cw = _count(a, CACHE_WRITE_KEYS)
    rs = _count(a, REASONING_KEYS)
    if inp is None or out is None:
        total = _count(a, TOTAL_KEYS)
        if total is not None:
            if inp is None and out is not None:
                inp = max(total - out, 0)
            elif out is None and inp is not None:
                out = max(total - inp, 0)
            elif inp is None and out is None:
                inp = total
    if inp is not None and (cr or 0) + (cw or 0) > inp:
        inp += (cr or 0) + (cw or 0)
    if out is not None and rs is not None and rs > out:
        out += rs
    return inp, out, cr, cw, rs


def _failure(a: Mapping[str, Any], span: Any) -> tuple[bool, str | None]:
    err = normalise_error_type(a.get(ERROR_TYPE))
    valid = a.get(CALL_VALID)
    invalid = valid is False or (isinstance(valid, str) and valid.strip().lower() == "false")
    level = a.get(LANGFUSE_LEVEL)
    status_error = span.status.code == _STATUS_ERROR or (
        level is not None and str(level).upper() == "ERROR"
    )
    if err is None and status_error:
        for ev in span.events:
            if ev.name == "exception":
                for kv in ev.attributes:
                    if kv.key == "exception.type":
                        err = normalise_error_type(any_value(kv.value))
                        break
                break
        err = err or "_OTHER"
    if err is None and invalid:
        err = "invalid_output"
    return (err is not None or status_error or invalid), err


def _tag(a: Mapping[str, Any]) -> tuple[Any, Any, Any, Any] | None:
    t = (
        first(a, SESSION_KEYS),
        first(a, FEATURE_KEYS),
        first(a, PROMPT_VERSION_KEYS),
        first(a, REQUEST_ID_KEYS),
    )
    return t if any(x is not None for x in t) else None


def rows_from_requests(
    requests: Iterable[ExportTraceServiceRequest], starts: Iterable[int] | None = None
) -> SpanRows:
    """Map export requests' spans to call columns (unpriced), rejecting bad spans.

    `starts` numbers the requests (file lines) so a rejection can name its line.
    """
    rows = SpanRows()
    parent_of: dict[bytes, bytes] = {}
    tags: dict[bytes, tuple[Any, Any, Any, Any]] = {}
    call_ids: list[bytes] = []
    index = -1
    numbers = iter(starts) if starts is not None else None
    for request in requests:
        if numbers is not None:
            rows.starts.append((index + 1, next(numbers)))
        _map_request(request, rows, parent_of, tags, call_ids, index)
        index = rows.spans - 1
    if len(call_ids) > 1 or tags:
        _resolve_tree(rows, call_ids, parent_of, tags)
    return rows


def _map_request(
    request: ExportTraceServiceRequest,
    rows: SpanRows,
    parent_of: dict[bytes, bytes],
    tags: dict[bytes, tuple[Any, Any, Any, Any]],
    call_ids: list[bytes],
    index: int,
) -> None:
    cols = rows.columns
    for rs in request.resource_spans:
        res = known_attributes(rs.resource.attributes)
        service = res.get(SERVICE_NAME)
        service = str(service) if service not in (None, "") else "unknown_service"
        res_tags = {k: v for k, v in res.items() if k != SERVICE_NAME}
        for ss in rs.scope_spans:
            for span in ss.spans:
                index += 1
                sid = span.span_id
                parent = span.parent_span_id
                if parent:
                    parent_of[sid] = parent
                a = known_attributes(span.attributes)
                if not a:
                    continue
                if res_tags:
                    a = {**res_tags, **a}
                op = inference_operation(a)
                if op is None:
                    t = _tag(a)
                    if t is not None:
                        tags[sid] = t
                    continue
                try:
                    _append(cols, span, a, op, service)
                except BadSpan as e:
                    rows.rejected.append((index, f"span {sid.hex() or '?'}: {e}"))
                    continue
                call_ids.append(sid)
                t = _tag(a)
                if t is not None:
                    tags[sid] = t
    rows.spans = index + 1


def _append(
    cols: dict[str, list[Any]], span: Any, a: dict[str, Any], op: str, service: str
) -> None:
    tid = span.trace_id
    sid = span.span_id
    if len(tid) != 16 or not any(tid):
        raise BadSpan(f"trace_id: expected 16 non-zero bytes, got {tid.hex()!r}")
    if len(sid) != 8 or not any(sid):
        raise BadSpan(f"span_id: expected 8 non-zero bytes, got {sid.hex()!r}")
    start = span.start_time_unix_nano
    if start == 0:
        raise BadSpan("start_time_unix_nano: missing (0)")
    end = span.end_time_unix_nano
    inp, out, cr, cw, rs = tokens(a)
    cost = _reported_cost(a)
    failed, err = _failure(a, span)
    trace_hex = tid.hex()
    session = first(a, SESSION_KEYS)
    request_id = first(a, REQUEST_ID_KEYS)
    feature = first(a, FEATURE_KEYS)
    model = first(a, MODEL_KEYS)
    prompt = first(a, PROMPT_VERSION_KEYS)
    cols["trace_id"].append(trace_hex)
    cols["span_id"].append(sid.hex())
    cols["parent_span_id"].append(span.parent_span_id.hex() or None)
    cols["session_id"].append(str(session) if session is not None else None)
    cols["turn_id"].append(str(request_id) if request_id is not None else None)
    cols["response_id"].append(_str(first(a, RESPONSE_ID_KEYS)))
    cols["feature"].append(str(feature) if feature is not None else None)
    cols["provider"].append(normalise_provider(first(a, PROVIDER_KEYS)))
    cols["model"].append(str(model) if model is not None else None)
    cols["prompt_version"].append(str(prompt) if prompt is not None else None)
    cols["operation"].append(op)
    cols["service_name"].append(service)
    cols["start_time"].append(start // 1000)
    cols["duration_ms"].append((end - start) / 1e6 if end >= start else None)
    cols["input_tokens"].append(inp)
    cols["output_tokens"].append(out)
    cols["cache_read_tokens"].append(cr)
    cols["cache_write_tokens"].append(cw)
    cols["reasoning_tokens"].append(rs)
    cols["failed"].append(failed)
    cols["error_type"].append(err)
    cols["reported_cost"].append(cost)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _resolve_tree(
    rows: SpanRows,
    call_ids: list[bytes],
    parent_of: dict[bytes, bytes],
    tags: dict[bytes, tuple[Any, Any, Any, Any]],
) -> None:
    """Drop calls that wrap another call; fill missing tags from the nearest tagged ancestor."""
    cols = rows.columns
    is_call = set(call_ids)
    wrappers: set[bytes] = set()
    tag_cols = ("session_id", "feature", "prompt_version", "turn_id")
    for i, sid in enumerate(call_ids):
        p = parent_of.get(sid)
        depth = 0
        missing = [j for j, c in enumerate(tag_cols) if cols[c][i] is None]
        found_call = False
        while p is not None and depth < 64:
            if not found_call and p in is_call:
                wrappers.add(p)
                found_call = True
            if missing and p in tags:
                t = tags[p]
                still = []
                for j in missing:
                    if t[j] is not None:
                        cols[tag_cols[j]][i] = str(t[j])
                    else:
                        still.append(j)
                missing = still
            if found_call and not missing:
                break
            p = parent_of.get(p)
            depth += 1
    if wrappers:
        keep = [sid not in wrappers for sid in call_ids]
        for c in COLUMNS:
            cols[c] = [v for v, k in zip(cols[c], keep, strict=True) if k]
