"""Benchmark: `report --by feature` against hand-written DuckDB SQL of the same aggregation.

10 million calls in 3 million sessions over 5 features (sizes can be scaled
with --calls/--sessions). Both sides compute the same per-session roll-up,
outcome resolution, cost model and per-group sufficient statistics; the
ratio is median(costper) / median(SQL) over --repeat runs in this process.

costper keeps the per-session roll-up of calls materialised in the store and
catches it up incrementally, so three figures are printed: the first report
(which builds the roll-up: compare it with the SQL), reports once it is
current (the everyday case), and a report after 100,000 new calls arrive
(the incremental catch-up).

    python bench/report.py [--calls 10000000] [--sessions 3000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from costper.config import Config
from costper.engine._report import report
from costper.store._store import open_store

NOW = datetime(2026, 1, 31)

GENERATE_CALLS = """
INSERT INTO calls
SELECT
  lpad(printf('%x', r // 2), 32, '0') AS trace_id,
  lpad(printf('%x', r), 16, '0') AS span_id,
  NULL AS parent_span_id,
  'sess-' || (r % {sessions}) AS session_id,
  'turn-' || (r % {sessions}) || '-' || ((r // {sessions}) // 2) AS turn_id,
  NULL AS request_id,
  'feature-' || ((r % {sessions}) % 5) AS feature,
  'openai' AS provider,
  ['gpt-4o-mini', 'gpt-4o', 'gpt-4-turbo'][1 + (r % {sessions}) % 3] AS model,
  'v' || ((r % {sessions}) % 2) AS prompt_version,
  'chat' AS operation,
  'bench' AS service_name,
  TIMESTAMP '2026-01-01' + to_seconds(((r % {sessions}) % 2500000)::BIGINT)
    + to_minutes((r // {sessions})::BIGINT) AS start_time,
  100.0 AS duration_ms,
  (500 + hash(r) % 1000)::BIGINT AS input_tokens,
  (50 + hash(r + 1) % 200)::BIGINT AS output_tokens,
  0::BIGINT, 0::BIGINT, 0::BIGINT,
  hash(r + 2) % 20 = 0 AS failed,
  NULL AS error_type,
  (hash(r + 3) % 1000) / 100000.0 AS estimated_cost,
  'catalog',
  (hash(r + 3) % 1000) / 100000.0 AS cost,
  'catalog',
  0.0 AS infra_cost,
  1 AS seq,
  NULL AS tenant,
  NULL AS scope,
  NULL AS response_id,
  NULL AS service_tier
FROM range({calls}) t(r)
"""

GENERATE_OUTCOMES = """
INSERT INTO outcomes
SELECT 'o-' || s, 'sess-' || s, TIMESTAMP '2026-01-30',
  hash(s) % 10 < 8, hash(s) % 10 >= 8 AND hash(s + 7) % 2 = 0, hash(s + 9) % 20 = 0, 'thumbs', 'explicit'
FROM range({sessions}) t(s) WHERE hash(s + 11) % 10 < 7
"""

HAND_SQL = """
WITH s AS (
  SELECT session_id,
    arg_min(feature, start_time) AS feature,
    max(start_time) AS last_call,
    count(DISTINCT turn_id) AS turns,
    count(*) AS calls,
    sum(failed::INT) AS failed_calls,
    sum(coalesce(input_tokens, 0)) AS input_tokens,
    sum(coalesce(output_tokens, 0)) AS output_tokens,
    sum(coalesce(cache_read_tokens, 0)) AS cache_read_tokens,
    sum(coalesce(cost, 0)) AS llm,
    sum(CASE WHEN failed THEN coalesce(cost, 0) ELSE 0 END) AS retries,
    sum(coalesce(infra_cost, 0)) AS infra,
    sum((cost IS NULL)::INT) AS unpriced,
    sum((cost_source = 'billed')::INT) AS src_billed,
    sum((cost_source = 'reported')::INT) AS src_reported,
    sum((cost_source = 'config')::INT) AS src_config,
    sum((cost_source = 'catalog')::INT) AS src_catalog,
    sum((cost_source = 'unpriced')::INT) AS src_unpriced
  FROM calls GROUP BY session_id
), o AS (
  SELECT session_id,
    arg_max(success, "at") FILTER (WHERE success IS NOT NULL) AS success,
    arg_max(escalated, "at") FILTER (WHERE escalated IS NOT NULL) AS escalated,
    arg_max(reviewed, "at") FILTER (WHERE reviewed IS NOT NULL) AS reviewed
  FROM outcomes GROUP BY session_id
), j AS (
  SELECT s.*, coalesce(o.escalated, false) AS esc, coalesce(o.reviewed, false) AS rev,
    CASE WHEN coalesce(o.escalated, false) THEN false
         WHEN o.success IS NOT NULL THEN o.success
         WHEN s.last_call < TIMESTAMP '{cutoff}' THEN true END AS ok
  FROM s LEFT JOIN o USING (session_id)
), k AS (
  SELECT *, llm + CASE WHEN esc THEN 15.0 ELSE 0 END + CASE WHEN rev THEN 2.0 ELSE 0 END
    + calls * 0.0 + infra AS total
  FROM j
)
SELECT feature, count(*) AS sessions, count(ok) AS labeled, sum(ok::INT) AS successes,
  sum((ok IS NOT NULL AND esc)::INT) AS escalations, sum((ok IS NOT NULL AND rev)::INT) AS reviewed,
  sum(calls) FILTER (WHERE ok IS NOT NULL), sum(failed_calls) FILTER (WHERE ok IS NOT NULL),
  sum(turns) FILTER (WHERE ok IS NOT NULL), sum(unpriced),
  sum(input_tokens) FILTER (WHERE ok IS NOT NULL), sum(output_tokens) FILTER (WHERE ok IS NOT NULL),
  sum(cache_read_tokens) FILTER (WHERE ok IS NOT NULL),
  sum(llm) FILTER (WHERE ok IS NOT NULL), sum(retries) FILTER (WHERE ok IS NOT NULL),
  sum(infra) FILTER (WHERE ok IS NOT NULL), sum(total) FILTER (WHERE ok IS NOT NULL) AS total,
  sum(total * total) FILTER (WHERE ok IS NOT NULL) AS sum_cc, sum(total) FILTER (WHERE ok) AS sum_cs,
  sum(total * total * total) FILTER (WHERE ok IS NOT NULL) AS sum_ccc,
  sum(total * total) FILTER (WHERE ok) AS sum_ccs,
  max(total) FILTER (WHERE ok IS NOT NULL) AS max_c,
  sum(src_billed) FILTER (WHERE ok IS NOT NULL), sum(src_reported) FILTER (WHERE ok IS NOT NULL),
  sum(src_config) FILTER (WHERE ok IS NOT NULL), sum(src_catalog) FILTER (WHERE ok IS NOT NULL),
  sum(src_unpriced) FILTER (WHERE ok IS NOT NULL)
FROM k GROUP BY feature ORDER BY feature
"""


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--sessions", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", default=None, help="reuse a generated store")
    args = ap.parse_args()
    db = Path(args.db or Path(tempfile.mkdtemp()) / "bench.duckdb")
    store = open_store(db)
    if store.count("calls") == 0:
        t = time.perf_counter()
        store.sql(GENERATE_CALLS.format(calls=args.calls, sessions=args.sessions))
        store.sql(GENERATE_OUTCOMES.format(sessions=args.sessions))
        print(
            f"generated {args.calls:,} calls, {args.sessions:,} sessions in {time.perf_counter() - t:.1f} s"
        )
    cfg = Config(db=str(db))
    cutoff = NOW - cfg.implicit_success_after  # type: ignore[operator]
    cutoff_sql = cutoff.isoformat(sep=" ")
    t = time.perf_counter()
    report(store, ["feature"], config=cfg, now=NOW)
    cold = time.perf_counter() - t
    ours, hand = [], []
    result = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = report(store, ["feature"], config=cfg, now=NOW)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        baseline = store.sql(HAND_SQL.format(cutoff=cutoff_sql)).to_pylist()
        hand.append(time.perf_counter() - t)
    assert result is not None
    for g, b in zip(result.groups, baseline, strict=True):
        assert g.key["feature"] == b["feature"] and g.labeled_sessions == b["labeled"]
        assert abs(g.cost["total"] - b["total"]) < 1e-6 * max(1.0, b["total"]), (
            g.cost["total"],
            b["total"],
        )
    med_ours, med_hand = statistics.median(ours), statistics.median(hand)
    print(
        f"data: {store.count('calls'):,} calls, {sum(g.sessions for g in result.groups):,} sessions, "
        f"{len(result.groups)} features (same totals on both sides: checked)"
    )
    print(
        f"hand-written DuckDB SQL, same aggregation:        median {med_hand:.2f} s over {args.repeat} runs"
    )
    print(
        f"costper report --by feature, first (builds rollup): {cold:.2f} s  "
        f"ratio {cold / med_hand:.2f}x"
    )
    print(
        f"costper report --by feature, rollup current:        median {med_ours:.2f} s  "
        f"ratio {med_ours / med_hand:.2f}x"
    )
    extra = 100_000
    store.sql(
        GENERATE_CALLS.replace("FROM range({calls}) t(r)", "FROM range({start}, {end}) t(r)")
        .replace("1 AS seq", "2 AS seq")
        .format(calls=0, start=args.calls, end=args.calls + extra, sessions=args.sessions)
    )
    t = time.perf_counter()
    after = report(store, ["feature"], config=cfg, now=NOW)
    inc = time.perf_counter() - t
    check = store.sql(HAND_SQL.format(cutoff=cutoff_sql)).to_pylist()
    assert all(
        abs(g.cost["total"] - b["total"]) < 1e-6 * max(1.0, b["total"])
        for g, b in zip(after.groups, check, strict=True)
    )
    print(
        f"costper report after {extra:,} new calls (catch-up):  {inc:.2f} s  "
        f"ratio {inc / med_hand:.2f}x (totals checked against the SQL again)"
    )
    print(f"peak memory of this process: {peak_mib():,.0f} MiB")
    store.close()
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "costper", "report", "--db", str(db), "--format", "json"],
        check=True,
        capture_output=True,
    )
    print(
        f"`costper report --by feature --format json` as a new process (import + open + query): "
        f"{time.perf_counter() - t:.2f} s"
    )


if __name__ == "__main__":
    main()
