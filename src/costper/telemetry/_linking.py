"""Calls across requests: tags from late ancestors, and one record per real call.

A request is mapped on its own (`spans`), but a trace often arrives in
pieces: exporters send spans as they end, so the root span that carries the
session usually comes after its children, and with one export per span every
span comes alone. And one real call is often recorded by two instrumentation
layers (a framework and the SDK below it; an SDK that traces itself next to an
instrumentor), in one request or in several. After each batch of calls is
stored, `link_calls` settles both against what the store already holds, so
the result is the same whatever the batching, file or live:

* Tags. A call takes each tag (session, feature, prompt version, turn,
  tenant) from its own span, else from its nearest ancestor that sets it.
  The spans of a trace whose parent is missing from its request are kept in
  `span_tags` (ids, parent, own tags); every later request touching that
  trace re-resolves its calls with the same rule (`spans.inherit`). Of a
  trace that arrived whole, its tagged roots and call ancestors are kept, for
  a call that arrives later below them. A chain broken by a span never sent
  falls back to the trace root's tags. A call below another call (a wrapper)
  is dropped, as within one request.
* Duplicates. Two call records are one call when they carry the same
  response id; or when they come from different instrumentation scopes with
  the same model, input and output tokens and outcome, and are siblings
  one inside the other in time, or one is the root of its own trace lying inside
  the other in time (an SDK span its framework's context did not reach).
  Two calls from one scope are never merged, nor calls with different
  response ids: the same prompt sent twice is two calls. The record kept is
  the one inside the app's trace (it has a parent), then the most detailed
  (cache and reasoning counts); counts it lacks are taken from the other,
  and it is priced again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from costper.config import Config
from costper.pricing._aliases import canonical_model
from costper.pricing._prices import price_calls
from costper.store._call_edits import (
    calls_by_key,
    duplicate_pairs,
    has_span_tags,
    open_traces,
    replace_calls,
    retag_calls,
    span_tags_of,
)
from costper.store._schema import CALLS, SPAN_TAGS
from costper.store._store import Store
from costper.telemetry._span_attributes import NO_TAGS
from costper.telemetry._spans import SpanRows, inherit, merge_tags

_TAGS = ("session_id", "feature", "prompt_version", "turn_id", "tenant")
_DETAIL = ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_FILLED = (*_DETAIL, "response_id", "provider", "error_type", "tenant")


@dataclass
class LinkResult:
    retagged: int = 0
    dropped: int = 0
    """Calls removed: wrappers of a call, and duplicates merged into another record."""


def link_calls(store: Store, config: Config, rows: SpanRows, calls: pa.Table) -> LinkResult:
    """Settle a stored batch against the store: late tags, wrappers, duplicates."""
    result = LinkResult()
    tree = rows.tree
    traces: set[str] = set()
    with store.transaction():
        traces_seen = () if tree is None else (t.hex() for t in tree.trace_of.values())
        store.prefetch(traces_seen, calls)
        if tree is not None:
            traces = {t.hex() for t in tree.open}
            stored: set[str] = set()
            if has_span_tags(store):
                stored = open_traces(store, [t.hex() for t in set(tree.trace_of.values())])
                traces |= stored
            links = tree.link_rows({bytes.fromhex(t) for t in traces})
            if links["trace_id"]:
                # Rows are one per span of this batch's traces; when none of those traces
                # has rows stored, none can clash: the plain insert, no conflict probes.
                fresh = not stored
                store.insert("span_tags", pa.table(links, schema=SPAN_TAGS), fresh=fresh)
            if traces:
                retagged, dropped = _resolve_traces(store, traces)
                result.retagged += retagged
                result.dropped += dropped
        if calls.num_rows:
            siblings = bool(traces) or tree is None or tree.shared_parent
            result.dropped += _merge_duplicates(store, config, calls, siblings)
    return result


def _resolve_traces(store: Store, traces: Iterable[str]) -> tuple[int, int]:
    t = span_tags_of(store, traces).to_pydict()
    parents: dict[tuple[str, str], tuple[str, str]] = {}
    own: dict[tuple[str, str], tuple[Any, ...]] = {}
    calls: list[tuple[str, str]] = []
    roots: dict[str, Any] = {}
    for i, (tid, sid) in enumerate(zip(t["trace_id"], t["span_id"], strict=True)):
        key = (tid, sid)
        parent = t["parent_span_id"][i]
        if parent:
            parents[key] = (tid, parent)
        tags = tuple(t[c][i] for c in _TAGS)
        if any(v is not None for v in tags):
            own[key] = tags
            if not parent:
                roots[tid] = merge_tags(roots.get(tid, NO_TAGS), tags)
        if t["is_call"][i]:
            calls.append(key)
    known = set(zip(t["trace_id"], t["span_id"], strict=True))
    inherited, wrappers = inherit(parents, own.get, calls, known, lambda key: roots.get(key[0]))
    cols: dict[str, list[Any]] = {c: [] for c in ("trace_id", "span_id", *_TAGS)}
    for key, up in zip(calls, inherited, strict=True):
        if key in wrappers:
            continue
        mine = own.get(key, (None,) * len(_TAGS))
        cols["trace_id"].append(key[0])
        cols["span_id"].append(key[1])
        for name, x, y in zip(_TAGS, mine, up, strict=True):
            cols[name].append(x if x is not None else y)
    retagged = retag_calls(store, pa.table(cols, schema=_TAG_SCHEMA)) if calls else 0
    dropped = replace_calls(store, wrappers, None) if wrappers else 0
    return retagged, dropped


_TAG_SCHEMA = pa.schema([(c, pa.string()) for c in ("trace_id", "span_id", *_TAGS)])


def _same_model(a: Any, b: Any) -> bool:
    return a is None or b is None or canonical_model(a) == canonical_model(b)


def _merge_duplicates(store: Store, config: Config, calls: pa.Table, siblings: bool) -> int:
    pairs = duplicate_pairs(
        store,
        calls,
        siblings=siblings,
        roots=calls.column("parent_span_id").null_count > 0,
        response_ids=calls.column("response_id").null_count < calls.num_rows,
    )
    pairs = [p for p in pairs if _same_model(p[4], p[5])]
    if not pairs:
        return 0
    group: dict[tuple[str, str], tuple[str, str]] = {}

    def root(k: tuple[str, str]) -> tuple[str, str]:
        while group.get(k, k) != k:
            k = group[k]
        return k

    for a_t, a_s, b_t, b_s, *_ in pairs:
        ra, rb = root((a_t, a_s)), root((b_t, b_s))
        if ra != rb:
            group[max(ra, rb)] = min(ra, rb)
    members = {k for p in pairs for k in ((p[0], p[1]), (p[2], p[3]))}
    stored = calls_by_key(store, members).to_pylist()
    clusters: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in stored:
        clusters.setdefault(root((row["trace_id"], row["span_id"])), []).append(row)
    keep = [_merged(rows) for rows in clusters.values() if len(rows) > 1]
    if not keep:
        return 0
    drop = [
        (r["trace_id"], r["span_id"]) for rows in clusters.values() if len(rows) > 1 for r in rows
    ]
    table = pa.Table.from_pylist(keep, schema=CALLS)
    reported = pa.array([r["estimate_source"] == "reported" for r in keep])
    priced = price_calls(table.drop_columns(["estimated_cost", "estimate_source"]), config)
    for name in ("estimated_cost", "estimate_source", "cost", "cost_source"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.if_else(reported, table[name], priced[name]))
    return replace_calls(store, drop, table)


def _rank(row: dict[str, Any]) -> tuple[Any, ...]:
    detail = sum(row[c] is not None for c in _DETAIL)
    return (
        row["parent_span_id"] is not None,
        detail,
        row["response_id"] is not None,
        row["span_id"],
    )


def _merged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(rows, key=_rank, reverse=True)
    keep = dict(ordered[0])
    for other in ordered[1:]:
        for name in _FILLED:
            if keep[name] is None and other[name] is not None:
                keep[name] = other[name]
    if keep["request_id"] is None:
        keep["request_id"] = keep["response_id"]
    return keep
