"""OTLP spans to `calls` rows: which spans are LLM calls, and what they say.

Only inference spans become calls. Agent, chain, tool, workflow and HTTP spans
carry aggregated or no usage; counting them would count money twice. When a
framework's LLM span wraps the SDK's LLM span for the same request (LangChain
over OpenAI, both instrumented) the innermost one is kept. Tags set on an
ancestor span (a session on the request's root span) are inherited by the
calls below it when the ancestor arrives in the same group of requests.

This loop is the ingest hot path. It reads lean requests (`otlp_wire`), tests
each attribute by its serialized key prefix, decodes only known attributes
and keeps one list per call; the field logic is in `span_attributes`.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from costper.pricing._aliases import normalise_provider
from costper.telemetry import _span_attributes as _sa
from costper.telemetry._attribute_keys import SERVICE_NAME, SESSION_KEYS, TAG_KEYS, WANTED
from costper.telemetry._otlp_wire import key_prefixes, kv_pairs, kv_value, lean
from costper.telemetry._span_attributes import (
    FEATURE,
    MODEL,
    NO_TAGS,
    NOT_CALL_VALUES,
    PROMPT,
    PROVIDER,
    REQUEST,
    RESPONSE,
    SESSION,
    STATUS_ERROR,
    TENANT,
    TIER,
    BadSpan,
    Tags,
    expand_json,
    failure,
    inference_operation,
    pick,
    reported_cost,
    tag,
    tokens,
    use_keys,
)

__all__ = [
    "COLUMNS",
    "SESSION_KEYS",
    "BadSpan",
    "SpanMapper",
    "SpanRows",
    "any_value",
    "inherit",
    "merge_tags",
    "paused_cycle_collection",
    "rows_from_requests",
]

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
    "tenant",
    "scope",
    "service_tier",
)
"""Columns `rows_from_requests` fills. Before defaults: `session_id`, `turn_id` (the
`costper.request.id`) and `feature` are null when no span says; `response_id`
and `reported_cost` feed `request_id` and pricing and are not stored."""

_PREFIXES = key_prefixes(WANTED)
_TAG_KEYS = TAG_KEYS
_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {}


def use_attributes(attributes: Mapping[str, tuple[str, ...]]) -> None:
    """Read the configured `[attributes]` keys too (first), from now on in this process."""
    global _PREFIXES, _TAG_KEYS, _ATTRIBUTES
    if attributes == _ATTRIBUTES:
        return
    extra = use_keys(attributes)
    _PREFIXES = key_prefixes(WANTED | extra)
    _TAG_KEYS = TAG_KEYS | extra
    _DECODED.clear()
    _ATTRIBUTES = dict(attributes)


_NOT_CALLS = frozenset(
    KeyValue(key=key, value=AnyValue(string_value=value)).SerializeToString()
    for key, values in NOT_CALL_VALUES.items()
    for value in values
)
"""Serialized attributes that by themselves say a span is no call (a CHAIN, a tool...):
such spans are passed over without decoding, kept only as possible tag carriers."""
_TAG_POSITIONS = tuple(
    COLUMNS.index(c) for c in ("session_id", "feature", "prompt_version", "turn_id", "tenant")
)


@dataclass
class SpanRows:
    """Calls of some export requests (one list per call, in COLUMNS order), plus spans
    rejected (index, reason)."""

    records: list[list[Any]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    spans: int = 0
    starts: list[tuple[int, int]] = field(default_factory=list)
    tree: _Tree | None = None
    """The spans' links and own tags, for traces that continue in other requests."""

    def __len__(self) -> int:
        return len(self.records)

    @property
    def columns(self) -> dict[str, list[Any]]:
        if not self.records:
            return {c: [] for c in COLUMNS}
        return {c: list(v) for c, v in zip(COLUMNS, zip(*self.records, strict=True), strict=True)}

    def line_of(self, index: int) -> int | None:
        """The line (or record) number of the request holding span `index`."""
        line = None
        for first_index, number in self.starts:
            if first_index > index:
                break
            line = number
        return line


def any_value(v: Any) -> Any:
    """The Python value of an OTLP AnyValue message (arrays and maps as None)."""
    kind = v.WhichOneof("value")
    if kind is None or kind == "array_value" or kind == "kvlist_value":
        return None
    return getattr(v, kind)


def _known(attributes: Any) -> list[bytes]:
    """The serialized KeyValues whose key costper reads, found by their first bytes."""
    prefixes = _PREFIXES
    try:
        return [kv for kv in attributes if kv[: 2 + kv[1]] in prefixes]
    except IndexError:
        return [kv for kv in attributes if len(kv) > 1 and kv[: 2 + kv[1]] in prefixes]


_DECODED: dict[bytes, tuple[str, Any]] = {}
"""Decoded (key, value) of serialized KeyValues seen lately: provider, model, kind and
most token counts repeat across spans, and a dict hit is cheaper than decoding."""
_DECODED_MAX = 200_000


def _decode(hits: list[bytes]) -> dict[str, Any]:
    cache = _DECODED
    out = {}
    for kv in hits:
        pair = cache.get(kv)
        if pair is None:
            if len(cache) >= _DECODED_MAX:
                cache.clear()
            end = 2 + kv[1]
            pair = cache[kv] = (_PREFIXES[kv[:end]], kv_value(kv, end))
        out[pair[0]] = pair[1]
    return out


def known_attributes(attributes: Iterable[bytes]) -> dict[str, Any]:
    """Decode only the attributes costper reads from serialized KeyValues."""
    return _decode(_known(attributes))


class SpanMapper:
    """Maps requests one at a time (each can be dropped once added); `finish` then drops
    wrapping calls and passes ancestors' tags down across all of them."""

    def __init__(self, attributes: Mapping[str, tuple[str, ...]] | None = None) -> None:
        use_attributes(attributes or {})
        self.rows = SpanRows()
        self._tree = _Tree()

    def add(self, request: Any, line: int | None = None) -> None:
        if line is not None:
            self.rows.starts.append((self.rows.spans, line))
        with paused_cycle_collection():
            _map_request(lean(request), self.rows, self._tree)

    def finish(self) -> SpanRows:
        tree = self._tree
        with paused_cycle_collection():
            tree.find_open()
            tree.find_siblings()
            tree.records = self.rows.records
            if len(tree.calls) > 1 or tree.sources or tree.open:
                tree.resolve(self.rows)
        self.rows.tree = tree
        return self.rows


def rows_from_requests(
    requests: Iterable[Any],
    starts: Iterable[int] | None = None,
    attributes: Mapping[str, tuple[str, ...]] | None = None,
) -> SpanRows:
    """Map export requests' spans to call columns (unpriced), rejecting bad spans.

    Requests may be generated ExportTraceServiceRequests or lean ones. `starts`
    numbers the requests (file lines) so that a rejection can name its line.
    """
    mapper = SpanMapper(attributes)
    numbers = iter(starts) if starts is not None else None
    for request in requests:
        mapper.add(request, next(numbers) if numbers is not None else None)
    return mapper.finish()


@contextmanager
def paused_cycle_collection() -> Iterator[None]:
    """The mapping makes many small acyclic objects; the cycle collector would walk them
    again and again for nothing (about 15% of the time). Paused, then restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _map_request(request: Any, rows: SpanRows, tree: _Tree) -> None:
    records = rows.records
    index = rows.spans - 1
    parent_of = tree.parent_of
    trace_of = tree.trace_of
    sources = tree.sources
    json_parents = _sa.JSON_PARENTS
    for rs in request.resource_spans:
        res = known_attributes(rs.resource.attributes)
        service = res.pop(SERVICE_NAME, None)
        service = str(service) if service not in (None, "") else "unknown_service"
        for ss in rs.scope_spans:
            scope = ss.scope.name or None
            for span in ss.spans:
                index += 1
                sid = span.span_id
                trace_of[sid] = span.trace_id
                parent = span.parent_span_id
                if parent:
                    parent_of[sid] = parent
                hits = _known(span.attributes)
                if not hits and not res:
                    continue
                if not res and not _NOT_CALLS.isdisjoint(hits):
                    sources[sid] = hits
                    continue
                a = _decode(hits)
                if res:
                    a = {**res, **a}
                if (
                    "metadata" in a
                    or ("llm.invocation_parameters" in a and MODEL_KEY not in a)
                    or (json_parents and not json_parents.isdisjoint(a))
                ):
                    expand_json(a)
                op = inference_operation(a)
                if op is None:
                    if not _TAG_KEYS.isdisjoint(a):
                        sources[sid] = a
                    continue
                try:
                    records.append(_record(span, a, op, service, scope))
                except BadSpan as e:
                    rows.rejected.append((index, f"span {sid.hex() or '?'}: {e}"))
                    continue
                tree.calls.append(sid)
    rows.spans = index + 1


def _exception_type(span: Any) -> Any:
    for ev in span.events:
        if ev.name == "exception":
            return kv_pairs(ev.attributes).get("exception.type")
    return None


def _text(found: tuple[str, Any] | None) -> str | None:
    if found is None:
        return None
    v = found[1]
    if type(v) is str:
        return unquote(v) if v[:1] == '"' else v
    return str(v)


def unquote(value: Any) -> str:
    """A tag as text; a JSON string (Langfuse writes its metadata values JSON-encoded:
    `"support"` with the quotes) is decoded."""
    text = str(value)
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return decoded if isinstance(decoded, str) else text
    return text


_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
MODEL_KEY = "llm.model_name"


def _record(span: Any, a: dict[str, Any], op: str, service: str, scope: str | None) -> list[Any]:
    tid = span.trace_id
    sid = span.span_id
    if len(tid) != 16 or tid == _ZERO_TRACE:
        raise BadSpan(f"trace_id: expected 16 non-zero bytes, got {tid.hex()!r}")
    if len(sid) != 8 or sid == _ZERO_SPAN:
        raise BadSpan(f"span_id: expected 8 non-zero bytes, got {sid.hex()!r}")
    start = span.start_time_unix_nano
    if start == 0:
        raise BadSpan("start_time_unix_nano: missing (0)")
    end = span.end_time_unix_nano
    p = pick(a)
    inp, out, cr, cw, rs = tokens(a, p, scope)
    cost = reported_cost(a, p)
    code = span.status.code
    failed, err = failure(a, code, _exception_type(span) if code == STATUS_ERROR else None)
    provider = p[PROVIDER]
    return [
        tid.hex(),
        sid.hex(),
        span.parent_span_id.hex() or None,
        _text(p[SESSION]),
        _text(p[REQUEST]),
        _text(p[RESPONSE]),
        _text(p[FEATURE]),
        None if provider is None else normalise_provider(provider[1]),
        _text(p[MODEL]),
        _text(p[PROMPT]),
        op,
        service,
        start // 1000,
        (end - start) / 1e6 if end >= start else None,
        inp,
        out,
        cr,
        cw,
        rs,
        failed,
        err,
        cost,
        _text(p[TENANT]),
        scope,
        None if p[TIER] is None else _text(p[TIER]).strip().lower(),  # type: ignore[union-attr]
    ]


class _Tree:
    """Parent links and tag-carrying spans of a group of requests, for `resolve`."""

    def __init__(self) -> None:
        self.parent_of: dict[bytes, bytes] = {}
        """Every span's parent (roots absent)."""
        self.trace_of: dict[bytes, bytes] = {}
        """Every span's trace."""
        self.sources: dict[bytes, dict[str, Any] | list[bytes]] = {}
        """Spans that may carry tags: decoded attributes, or (not-call spans) raw KeyValues."""
        self.calls: list[bytes] = []
        self.open: set[bytes] = set()
        """Traces with a span whose parent is not here: they continue in other requests."""
        self.records: list[list[Any]] = []
        """The calls' records (in `calls` order, wrappers included)."""
        self.own: dict[bytes, Tags] = {}
        """Calls' own tags, kept by `resolve` before it fills a record's missing ones."""
        self.shared_parent = False
        """Whether two calls have the same parent (or are both roots): siblings to compare."""
        self._tags: dict[bytes, Tags | None] = {}
        self._roots: dict[bytes, Tags] | None = None

    def find_siblings(self) -> None:
        parent_of = self.parent_of
        self.shared_parent = len({parent_of.get(sid) for sid in self.calls}) < len(self.calls)

    def find_open(self) -> None:
        trace_of = self.trace_of
        self.open = {
            trace_of[sid] for sid, parent in self.parent_of.items() if parent not in trace_of
        }

    def tags_of(self, sid: bytes) -> Tags | None:
        found = self._tags.get(sid, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        source = self.sources.get(sid)
        if source is None:
            return None
        if isinstance(source, list):
            source = _decode(source)
            if "metadata" in source or (
                _sa.JSON_PARENTS and not _sa.JSON_PARENTS.isdisjoint(source)
            ):
                expand_json(source)
        tags = self._tags[sid] = tag(source)
        return tags

    def root_tags(self, sid: bytes) -> Tags | None:
        """The tags of the root span(s) of `sid`'s trace: what a call whose chain of
        ancestors is broken (a span never exported) inherits."""
        if self._roots is None:
            roots: dict[bytes, Tags] = {}
            parent_of, tags_of = self.parent_of, self.tags_of
            for span, trace in self.trace_of.items():
                if span not in parent_of:
                    t = tags_of(span)
                    if t is not None:
                        roots[trace] = merge_tags(roots.get(trace, NO_TAGS), t)
            self._roots = roots
        return self._roots.get(self.trace_of[sid])

    def resolve(self, rows: SpanRows) -> None:
        """Drop calls that wrap another call; fill missing tags from the nearest tagged ancestor."""
        records = rows.records
        resolved, wrappers = inherit(
            self.parent_of, self.tags_of, self.calls, self.trace_of, self.root_tags
        )
        own = self.own
        for record, sid, tags in zip(records, self.calls, resolved, strict=True):
            if tags is not NO_TAGS:
                for position, value in zip(_TAG_POSITIONS, tags, strict=True):
                    if value is not None and record[position] is None:
                        if sid not in own:
                            own[sid] = _own_tags(record)
                        record[position] = unquote(value)
        if wrappers:
            rows.records = [
                r for r, sid in zip(records, self.calls, strict=True) if sid not in wrappers
            ]

    def link_rows(self, traces: set[bytes]) -> dict[str, list[Any]]:
        """`span_tags` columns (own tags only) for every span of these traces, and for
        the tagged spans of the others that are roots or ancestors of a call: a span
        arriving later below them (its ancestors never sent again) inherits their
        tags all the same, through them or, its chain broken, from the root.

        Complete traces are the ingest hot path: their spans' tags were decoded by
        `resolve` already (ancestors of calls), only untagged-looking roots are
        decoded here, none of their rows is a call, and the columns are built whole."""
        parent_of, trace_of, tags_of = self.parent_of, self.trace_of, self.tags_of
        decoded = self._tags
        if traces:
            rest = [
                sid for sid, t in decoded.items() if t is not None and trace_of[sid] not in traces
            ]
            roots = [
                sid
                for sid in self.sources
                if sid not in parent_of and sid not in decoded and trace_of[sid] not in traces
            ]
        else:
            rest = [sid for sid, t in decoded.items() if t is not None]
            roots = [sid for sid in self.sources if sid not in parent_of and sid not in decoded]
        rest += [sid for sid in roots if tags_of(sid) is not None]
        spans: list[bytes] = []
        tags: list[Tags | None] = []
        is_call: list[bool] = []
        if traces:
            calls = set(self.calls)
            own = {  # calls' own tags, before `resolve` filled them (which a later request needs)
                sid: self.own.get(sid) or _own_tags(r)
                for r, sid in zip(self.records, self.calls, strict=True)
                if trace_of[sid] in traces
            }
            spans = [sid for sid, tid in trace_of.items() if tid in traces]
            tags = [own.get(sid) if sid in calls else tags_of(sid) for sid in spans]
            is_call = [sid in calls for sid in spans]
        tags += [decoded[sid] for sid in rest]
        is_call += [False] * len(rest)
        spans += rest
        cols: dict[str, list[Any]] = {
            "trace_id": [t.hex() for t in map(trace_of.__getitem__, spans)],
            "span_id": [sid.hex() for sid in spans],
            "parent_span_id": [p.hex() or None if p else None for p in map(parent_of.get, spans)],
            "is_call": is_call,
        }
        columns = zip(*(NO_TAGS if t is None else t for t in tags), strict=True)  # tag columns
        for name, values in zip(_LINK_COLUMNS[4:], columns, strict=False):
            if values.count(None) == len(values):
                cols[name] = list(values)
            else:
                cols[name] = [
                    v if v is None or (type(v) is str and v[:1] != '"') else unquote(v)
                    for v in values
                ]
        for name in _LINK_COLUMNS[4:]:
            cols.setdefault(name, [])
        return cols


_own_tags = itemgetter(*_TAG_POSITIONS)
"""A record's tag columns as a tuple (there are several, so itemgetter gives a tuple)."""

_LINK_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "is_call",
    "session_id", "feature", "prompt_version", "turn_id", "tenant",
)  # fmt: skip


_UNSEEN = object()


def merge_tags(below: Tags, above: Tags) -> Tags:
    """Each tag from `below` (the nearer span), else from `above`."""
    return tuple(x if x is not None else y for x, y in zip(below, above, strict=True))


def inherit(
    parents: dict[Any, Any],
    tags_of: Any,
    calls: list[Any],
    known: Any = None,
    root_tags: Any = None,
) -> tuple[list[Tags], set[Any]]:
    """Per call, its ancestors' tags merged nearest first (NO_TAGS when none); and the
    calls that have a call below them (wrappers of the same request: dropped).

    `parents` maps a span to its parent (falsy or absent for a root); ids may be bytes
    or hex, the rule is the same for a request in memory and for a trace re-read
    from the store. When a call's chain of ancestors is broken (an ancestor not in
    `known`: never exported, as an agent span left open when its run raised, or
    not kept), `root_tags(call)` (its trace's root span's tags) fills what the
    chain did not say.
    """
    is_call = set(calls)
    memo: dict[Any, tuple[Any, Tags, bool]] = {}
    start = (None, NO_TAGS, False)

    def above(sid: Any) -> tuple[Any, Tags, bool]:
        chain: list[Any] = []
        while sid and sid not in memo and len(chain) < 64:
            chain.append(sid)
            sid = parents.get(sid)
        if sid:
            state = memo.get(sid, start)
        else:
            broken = known is not None and bool(chain) and chain[-1] not in known
            state = (None, NO_TAGS, broken)
        for q in reversed(chain):
            call, tags, broken = state
            t = tags_of(q)
            if t is not None:
                tags = t if tags is NO_TAGS else merge_tags(t, tags)
            state = memo[q] = (q if q in is_call else call, tags, broken)
        return state

    resolved: list[Tags] = []
    wrappers: set[Any] = set()
    for sid in calls:
        wrapper, tags, broken = above(parents.get(sid))
        if wrapper is not None:
            wrappers.add(wrapper)
        if broken and root_tags is not None:
            fallback = root_tags(sid)
            if fallback is not None:
                tags = merge_tags(tags, fallback)
        resolved.append(tags)
    return resolved, wrappers
