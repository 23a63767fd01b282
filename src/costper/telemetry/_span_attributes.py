"""What a span's attributes say about an LLM call, whichever convention wrote them.

Instrumentations disagree on names, so every field is read from a list of
attribute keys (`attribute_keys`), first present wins. Only those keys are
ever decoded, so message and prompt content on the same spans never reaches
the store.

Functions here take the small dict of known attributes of one span and are
pure; `spans.py` runs them over requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from costper.telemetry._attribute_keys import (
    CACHE_READ_KEYS,
    CACHE_WRITE_KEYS,
    CALL_KIND,
    CALL_VALID,
    COST_KEYS,
    ERROR_TYPE,
    FEATURE_KEYS,
    INPUT_KEYS,
    JSON_KEYS,
    LANGFUSE_COST,
    LANGFUSE_LEVEL,
    LANGFUSE_TYPE,
    LANGFUSE_USAGE,
    MODEL_KEYS,
    OI_KIND,
    OPERATION,
    OUTPUT_KEYS,
    PROMPT_VERSION_KEYS,
    PROVIDER_KEYS,
    REASONING_KEYS,
    REQUEST_ID_KEYS,
    RESPONSE_ID_KEYS,
    SERVICE_TIER_KEYS,
    SESSION_KEYS,
    TENANT_KEYS,
    TOTAL_KEYS,
    TRACELOOP_KIND,
    TRACELOOP_REQUEST_TYPE,
    VERCEL_OPERATION,
)

INFERENCE_OPERATIONS = {
    "chat": "chat",
    "text_completion": "text_completion",
    "completion": "text_completion",
    "generate_content": "generate_content",
    "embeddings": "embeddings",
    "embedding": "embeddings",
    "responses": "chat",
    "evaluate": "evals",
    "evaluation": "evals",
}
TRACELOOP_REQUEST_TYPES = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}
OI_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}
VERCEL_CALLS = {
    "ai.generateText.doGenerate": "chat",
    "ai.streamText.doStream": "chat",
    "ai.generateObject.doGenerate": "chat",
    "ai.streamObject.doStream": "chat",
    "ai.embed.doEmbed": "embeddings",
    "ai.embedMany.doEmbed": "embeddings",
}
"""The Vercel AI SDK's spans of one provider call (`ai.operationId`); its other spans
(`ai.generateText`, tool calls) wrap or follow them and are no calls."""
NOT_CALL_VALUES = {
    OI_KIND: ("CHAIN", "TOOL", "AGENT", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR"),
    OPERATION: ("execute_tool", "invoke_agent", "create_agent", "invoke_workflow"),
    TRACELOOP_KIND: ("workflow", "task", "agent", "tool"),
    LANGFUSE_TYPE: ("span", "event", "agent", "tool", "chain", "retriever", "evaluator"),
}
"""Common attribute values that make a span no call whatever else it carries; the
hot path recognises them without decoding (`inference_operation` agrees)."""
LANGFUSE_TYPES = {"generation": "chat", "embedding": "embeddings"}
STATUS_ERROR = 2
_CLASS_REPR = re.compile(r"^<class '([^']+)'>$")


class BadSpan(ValueError):
    """A span that cannot become a call; the message says which field and value."""


def first(a: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = a.get(k)
        if v is not None and v != "":
            return v
    return None


def expand_json(a: dict[str, Any]) -> dict[str, Any]:
    """Top-level scalar fields of JSON object attributes as `key.field` (a metadata
    attribute's `feature` is read as `metadata.feature`). The invocation parameters are
    read only for a model no other attribute names. Unreadable JSON is ignored: it
    is the app's free-form metadata, not usage."""
    for key in (*JSON_KEYS, *JSON_PARENTS):
        raw = a.get(key)
        if raw is None or (key == JSON_KEYS[1] and first(a, MODEL_KEYS) is not None):
            continue
        try:
            d = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            continue
        if isinstance(d, dict):
            for k, v in d.items():
                if isinstance(v, str | int | float) and not isinstance(v, bool):
                    a.setdefault(f"{key}.{k}", v)
    return a


def normalise_error_type(value: Any) -> str | None:
    """`<class 'openai.RateLimitError'>` (openai-v2's repr) becomes `openai.RateLimitError`."""
    if value is None:
        return None
    text = str(value).strip()
    m = _CLASS_REPR.match(text)
    if m:
        text = m.group(1)
    return text or None


def inference_operation(a: Mapping[str, Any]) -> str | None:
    """The call's operation if the span is one LLM inference, else None; `evals` for an
    inference made to evaluate another (`gen_ai.operation.name=evaluate`, or
    `costper.call.kind=eval` on any inference span).

    A span that declares itself something else (agent, chain, tool, workflow)
    is never a call, whatever usage it carries: that usage is its children's.
    """
    op = _inference_operation(a)
    if op is not None and CALL_KIND in a and str(a[CALL_KIND]).lower() in EVAL_KINDS:
        return "evals"
    return op


EVAL_KINDS = frozenset({"eval", "evals", "evaluation", "evaluate"})


def _inference_operation(a: Mapping[str, Any]) -> str | None:
    vercel = a.get(VERCEL_OPERATION)
    if vercel is not None:
        return VERCEL_CALLS.get(str(vercel))
    op = a.get(OPERATION)
    kind = a.get(OI_KIND)
    lf_type = a.get(LANGFUSE_TYPE)
    if a.get(TRACELOOP_KIND) is not None:
        return None
    if kind is not None and str(kind).upper() not in OI_KINDS:
        return None
    if lf_type is not None and str(lf_type).lower() not in LANGFUSE_TYPES:
        return None
    if op is not None:
        return INFERENCE_OPERATIONS.get(str(op).lower())
    if kind is not None:
        return OI_KINDS[str(kind).upper()]
    rt = a.get(TRACELOOP_REQUEST_TYPE)
    if rt is not None:
        return TRACELOOP_REQUEST_TYPES.get(str(rt).lower())
    if lf_type is not None:
        return LANGFUSE_TYPES[str(lf_type).lower()]
    if first(a, MODEL_KEYS) is not None and (
        first(a, INPUT_KEYS) is not None or first(a, OUTPUT_KEYS) is not None
    ):
        return "chat"
    return None


def _count(a: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for k in keys:
        v = a.get(k)
        if v is not None and v != "":
            return _as_count((k, v))
    return None


def _as_count(found: tuple[str, Any] | None) -> int | None:
    if found is None:
        return None
    k, v = found
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, float) and v.is_integer():
        n = int(v)
    elif isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        n = int(v)
    else:
        raise BadSpan(f"{k}: expected a token count, got {v!r}")
    if n < 0:
        raise BadSpan(f"{k}: negative token count {n}")
    if n > MAX_TOKENS:
        raise BadSpan(f"{k}: token count {v!r} is beyond any call (more than {MAX_TOKENS:,})")
    return n


MAX_TOKENS = 10**12
"""No call has a trillion tokens; above it a count is a broken exporter (and would
overflow the store's 64-bit sums)."""


def _money(key: str, v: Any) -> float:
    if isinstance(v, bool):
        raise BadSpan(f"{key}: expected a cost in USD, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise BadSpan(f"{key}: expected a cost in USD, got {v!r}") from None
    if not x >= 0 or x == float("inf"):
        raise BadSpan(f"{key}: expected a non-negative cost in USD, got {v!r}")
    return x


def _json_object(key: str, v: Any) -> dict[str, Any]:
    try:
        d = json.loads(v) if isinstance(v, str) else None
    except (ValueError, RecursionError):
        d = None
    if not isinstance(d, dict):
        raise BadSpan(f"{key}: expected a JSON object, got {str(v)[:80]!r}")
    return d


def _usage_kind(key: str) -> str | None:
    k = key.lower()
    if "total" in k:
        return None
    if "cache_read" in k or "cached" in k:
        return "cache_read"
    if "cache_creation" in k or "cache_write" in k:
        return "cache_write"
    if "reasoning" in k:
        return "reasoning"
    if k.startswith(("input", "prompt")):
        return "input"
    if k.startswith(("output", "completion")):
        return "output"
    return None


def _langfuse_usage(a: dict[str, Any]) -> None:
    """Fold Langfuse usage details into the OTel GenAI totals.

    Top-level entries are Langfuse's disjoint buckets (`input`, `input_cached_tokens`,
    or a provider's raw usage such as Anthropic's, whose input leaves the cache out),
    so cache and reasoning buckets add to input and output. Nested objects are a
    provider's breakdown of the count above them (OpenAI's
    `prompt_tokens_details.cached_tokens` is part of `prompt_tokens`): they give
    the cache and reasoning counts only. Entries costper has no use for (totals,
    audio, a service tier) are skipped, whatever their value.
    """
    key = LANGFUSE_USAGE
    d = _json_object(key, a[key])
    top = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "reasoning": 0}
    nested = {"cache_read": 0, "cache_write": 0, "reasoning": 0}
    for k, v in d.items():
        if isinstance(v, dict):
            for leaf, path in _leaves(v, f"{key}.{k}"):
                kind = _usage_kind(path.rsplit(".", 1)[-1]) or _usage_kind(k)
                if kind in nested:
                    nested[kind] += _count({path: leaf}, (path,)) or 0
            continue
        kind = _usage_kind(k)
        if kind is not None:
            top[kind] += _count({f"{key}.{k}": v}, (f"{key}.{k}",)) or 0
    inp = top["input"] + top["cache_read"] + top["cache_write"]
    out = top["output"] + top["reasoning"]
    cr = max(top["cache_read"], nested["cache_read"])
    cw = max(top["cache_write"], nested["cache_write"])
    rs = max(top["reasoning"], nested["reasoning"])
    a.setdefault("gen_ai.usage.input_tokens", inp)
    a.setdefault("gen_ai.usage.output_tokens", out)
    if cr:
        a.setdefault("gen_ai.usage.cache_read.input_tokens", cr)
    if cw:
        a.setdefault("gen_ai.usage.cache_creation.input_tokens", cw)
    if rs:
        a.setdefault("gen_ai.usage.reasoning.output_tokens", rs)


def _leaves(d: dict[str, Any], path: str) -> list[tuple[Any, str]]:
    out: list[tuple[Any, str]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.extend(_leaves(v, f"{path}.{k}"))
        elif v is not None:
            out.append((v, f"{path}.{k}"))
    return out


(SESSION, FEATURE, PROMPT, REQUEST, RESPONSE, PROVIDER, MODEL) = range(7)
(INPUT, OUTPUT, TOTAL, CACHE_READ, CACHE_WRITE, REASONING, COST, TENANT, TIER) = range(7, 16)
FIELDS = (
    SESSION_KEYS,
    FEATURE_KEYS,
    PROMPT_VERSION_KEYS,
    REQUEST_ID_KEYS,
    RESPONSE_ID_KEYS,
    PROVIDER_KEYS,
    MODEL_KEYS,
    INPUT_KEYS,
    OUTPUT_KEYS,
    TOTAL_KEYS,
    CACHE_READ_KEYS,
    CACHE_WRITE_KEYS,
    REASONING_KEYS,
    COST_KEYS,
    TENANT_KEYS,
    SERVICE_TIER_KEYS,
)
_FIELD_RANK = {key: (f, rank) for f, keys in enumerate(FIELDS) for rank, key in enumerate(keys)}
CONFIG_FIELDS = {
    "session": (SESSION, 0),
    "feature": (FEATURE, 1),
    "prompt_version": (PROMPT, 2),
    "request_id": (REQUEST, 3),
    "tenant": (TENANT, 4),
}
"""`[attributes]` names: (index in `FIELDS`, index in `TAG_GROUPS`)."""
TAG_COLUMNS = ("session_id", "feature", "prompt_version", "turn_id", "tenant")
"""The `calls` columns `TAG_GROUPS` fill, in the same order."""
JSON_PARENTS: frozenset[str] = frozenset()
"""JSON object attributes named by configured keys (`app.feature` → `app`), expanded too."""


def tag_groups(custom: Mapping[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`TAG_GROUPS` with each tag's configured keys (`[attributes]`) ranked first."""
    groups = list(TAG_GROUPS)
    for name, keys in custom.items():
        _, g = CONFIG_FIELDS[name]
        groups[g] = (*keys, *groups[g])
    return groups


def use_keys(custom: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    """Rank the configured keys of each tag before the built-in ones (`[attributes]`);
    returns every key to decode. The tables are process-wide: one config at a time."""
    global _FIELD_RANK, _TAG_RANK, JSON_PARENTS
    fields = [list(keys) for keys in FIELDS]
    groups = tag_groups(custom)
    extra: set[str] = set()
    for name, keys in custom.items():
        f, _ = CONFIG_FIELDS[name]
        fields[f] = [*keys, *fields[f]]
        extra.update(keys)
    _FIELD_RANK = {
        k: (f, r) for f, keys in enumerate(fields) for r, k in reversed(list(enumerate(keys)))
    }
    _TAG_RANK = {
        k: (g, r) for g, keys in enumerate(groups) for r, k in reversed(list(enumerate(keys)))
    }
    JSON_PARENTS = frozenset(k.rsplit(".", 1)[0] for k in extra if "." in k) - set(JSON_KEYS)
    return frozenset(extra | JSON_PARENTS)


def pick(a: Mapping[str, Any]) -> list[tuple[str, Any] | None]:
    """Per field (SESSION ... TENANT), the (key, value) that wins by precedence, in one pass.

    The same answer as `first` field by field; one walk over a span's dozen
    known attributes is cheaper than probing every key of every list.
    """
    best: list[tuple[str, Any] | None] = [None] * len(FIELDS)
    ranks = [99] * len(FIELDS)
    rank_of = _FIELD_RANK
    for k, v in a.items():
        fr = rank_of.get(k)
        if fr is None or v is None or v == "":
            continue
        f, r = fr
        if r < ranks[f]:
            ranks[f] = r
            best[f] = (k, v)
    return best


def reported_cost(
    a: Mapping[str, Any], picked: list[tuple[str, Any] | None] | None = None
) -> float | None:
    found = (picked or pick(a))[COST]
    if found is not None:
        return _money(*found)
    v = a.get(LANGFUSE_COST)
    if v is not None:
        d = _json_object(LANGFUSE_COST, v)
        if "total" in d:
            return _money(f"{LANGFUSE_COST}.total", d["total"])
        return sum(_money(f"{LANGFUSE_COST}.{k}", x) for k, x in d.items())
    return None


UNCACHED_INPUT_SCOPES = frozenset({"opentelemetry.instrumentation.bedrock"})
"""Instrumentations known to pass on an API's input count that leaves out the cache
reads and writes, with nothing in the span to tell (OpenLLMetry's bedrock writes a
total of input + output it computed itself): Bedrock's Converse and Anthropic bodies."""


def tokens(
    a: dict[str, Any],
    picked: list[tuple[str, Any] | None] | None = None,
    scope: str | None = None,
) -> tuple[int | None, int | None, int | None, int | None, int | None]:
    """(input, output, cache_read, cache_write, reasoning), input counting cached input.

    Cache counts larger than the input count, or a total that counts them beside
    input and output, mean the instrumentation reported uncached input (Anthropic's
    and Bedrock's APIs do), as does an instrumentation known to pass such counts on
    (`UNCACHED_INPUT_SCOPES`); they are added back so the store keeps one meaning.
    Likewise reasoning beyond the output count.
    """
    p = picked or pick(a)
    if LANGFUSE_USAGE in a and p[INPUT] is None and p[OUTPUT] is None:
        _langfuse_usage(a)
        p = pick(a)
    inp = _as_count(p[INPUT])
    out = _as_count(p[OUTPUT])
    cr = _as_count(p[CACHE_READ])
    cw = _as_count(p[CACHE_WRITE])
    rs = _as_count(p[REASONING])
    cached = (cr or 0) + (cw or 0)
    total = _as_count(p[TOTAL]) if inp is None or out is None or cached else None
    if inp is None or out is None:
        if total is not None:
            if inp is None and out is not None:
                inp = max(total - out, 0)
            elif out is None and inp is not None:
                out = max(total - inp, 0)
            elif inp is None and out is None:
                inp = total
    if (
        inp is not None
        and cached
        and (
            cached > inp
            or (out is not None and total == inp + out + cached)
            or scope in UNCACHED_INPUT_SCOPES
        )
    ):
        inp += cached
    if out is not None and rs is not None and rs > out:
        out += rs
    return inp, out, cr, cw, rs


def failure(
    a: Mapping[str, Any], status_code: int, exception_type: Any = None
) -> tuple[bool, str | None]:
    """(failed, error type): status ERROR, `error.type`, or `costper.call.valid=false`.

    A span in error without `error.type` takes its exception event's type,
    else OTel's catch-all `_OTHER`.
    """
    err = normalise_error_type(a.get(ERROR_TYPE))
    valid = a.get(CALL_VALID)
    invalid = valid is False or (isinstance(valid, str) and valid.strip().lower() == "false")
    level = a.get(LANGFUSE_LEVEL)
    status_error = status_code == STATUS_ERROR or (
        level is not None and str(level).upper() == "ERROR"
    )
    if err is None and status_error:
        err = normalise_error_type(exception_type) or "_OTHER"
    if err is None and invalid:
        err = "invalid_output"
    return (err is not None or status_error or invalid), err


TAG_GROUPS = (SESSION_KEYS, FEATURE_KEYS, PROMPT_VERSION_KEYS, REQUEST_ID_KEYS, TENANT_KEYS)
_TAG_RANK = {
    key: (group, rank) for group, keys in enumerate(TAG_GROUPS) for rank, key in enumerate(keys)
}
Tags = tuple[Any, Any, Any, Any, Any]
NO_TAGS: Tags = (None, None, None, None, None)


def tag(a: Mapping[str, Any]) -> Tags | None:
    """(session, feature, prompt version, request id, tenant) a span sets itself.

    One pass over the span's few known attributes, each key ranked within its group.
    """
    best: list[Any] = [None, None, None, None, None]
    ranks = [99, 99, 99, 99, 99]
    for k, v in a.items():
        gr = _TAG_RANK.get(k)
        if gr is None or v is None or v == "":
            continue
        g, r = gr
        if r < ranks[g]:
            ranks[g] = r
            best[g] = v
    if ranks == [99, 99, 99, 99, 99]:
        return None
    return (best[0], best[1], best[2], best[3], best[4])
