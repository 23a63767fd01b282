"""A warehouse's calls placed in their span tree: innermost wins, tags inherited (`warehouse`).

Ingest's `spans.inherit` as joins over the parent ids, `depth` levels up.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from costper.telemetry._span_attributes import TAG_COLUMNS
from costper.telemetry._warehouse_spans import blank_null

__all__ = ["innermost_calls"]


def innermost_calls(traces: ir.Table, spans: ir.Table, depth: int) -> ir.Table:
    """Calls without wrappers, each tag inherited: ingest's `spans.inherit` as joins.

    The parent chain is walked on the bare ids (`depth` cheap self-joins), giving
    each span its ancestors by level; the mapped spans are joined to that once,
    so an engine that inlines subqueries (ClickHouse) expands the attribute
    reading a few times, not once per level. A chain is broken where a parent is
    named but not stored, or still goes on at `depth`: such calls take what they
    miss from the trace's root spans.
    """
    edges = traces.select(  # nullable, so an unmatched left join reads null on ClickHouse too
        tid=blank_null(traces.TraceId).lower(),
        sid=blank_null(traces.SpanId).lower(),
        pid=blank_null(traces.ParentSpanId).lower(),
    )
    walk = edges.select("tid", "sid", up_0=edges.pid)
    for k in range(1, depth + 1):
        e = edges.select(**{f"tid_{k}": edges.tid, f"id_{k}": edges.sid, f"up_{k}": edges.pid})
        walk = walk.left_join(
            e, (walk.tid == e[f"tid_{k}"]) & (walk[f"up_{k - 1}"] == e[f"id_{k}"])
        ).drop(f"tid_{k}")
    broken = walk[f"up_{depth}"].notnull()
    for k in range(1, depth + 1):
        broken = broken | (walk[f"up_{k - 1}"].notnull() & walk[f"id_{k}"].isnull())
    walk = walk.mutate(broken=broken)
    ids = [f"id_{k}" for k in range(1, depth + 1)]
    up = walk.select("tid", "sid", *ids).pivot_longer(
        ids,
        names_to="level",
        names_pattern=r"id_(\d+)",
        names_transform=int,
        values_to="anc",
    )
    up = up.filter(up.anc.notnull())
    chains = walk.select("tid", "sid", "broken")
    nodes = spans.select(
        "trace_id", "span_id", "parent_span_id", *TAG_COLUMNS, is_call=spans.operation.notnull()
    )
    calls = spans.filter(spans.operation.notnull())
    call_ids = calls.select(c_tid=calls.trace_id, c_sid=calls.span_id)
    above = up.join(call_ids, (up.tid == call_ids.c_tid) & (up.sid == call_ids.c_sid))
    above = above.join(nodes, (above.tid == nodes.trace_id) & (above.anc == nodes.span_id))
    wrappers = above.filter(above.is_call).select(w_tid=above.tid, w_sid=above.anc).distinct()
    tagged = above.filter(~above.is_call)
    inherited = tagged.group_by(i_tid=tagged.tid, i_sid=tagged.sid).aggregate(
        **{
            f"up_{tag}": tagged[tag].argmin(tagged.level, where=tagged[tag].notnull())
            for tag in TAG_COLUMNS
        }
    )
    roots = nodes.filter(nodes.parent_span_id.isnull() & ~nodes.is_call)
    root_tags = roots.group_by(r_tid="trace_id").aggregate(
        **{f"root_{tag}": roots[tag].min() for tag in TAG_COLUMNS}
    )
    calls = calls.anti_join(
        wrappers, (calls.trace_id == wrappers.w_tid) & (calls.span_id == wrappers.w_sid)
    )
    j = calls.left_join(
        inherited, (calls.trace_id == inherited.i_tid) & (calls.span_id == inherited.i_sid)
    ).drop("i_tid", "i_sid")
    j = j.left_join(chains, (j.trace_id == chains.tid) & (j.span_id == chains.sid))
    j = j.drop("tid", "sid")
    j = j.left_join(root_tags, j.trace_id == root_tags.r_tid).drop("r_tid")
    fallback = j.broken.fill_null(False)
    tags = {
        tag: ibis.coalesce(
            j[tag], j[f"up_{tag}"], fallback.ifelse(j[f"root_{tag}"], ibis.null("string"))
        )
        for tag in TAG_COLUMNS
    }
    return j.select(*[c for c in calls.columns if c not in TAG_COLUMNS], **tags)
