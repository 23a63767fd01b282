"""Benchmark: `whatif` repricing a feature's traffic at another model, against hand-written SQL.

`what_if(store, feature, [model])` reprices the incumbent's labeled sessions
at another model's rates (one aggregation over the session table) besides the
per-model report of the feature; the baseline is one hand-written DuckDB
query that rolls calls up to sessions, resolves outcomes, applies the cost
model and the new prices and returns the same sufficient statistics. Both
answers are checked equal. Ratio = median(costper) / median(SQL) over
--repeat runs in this process. `recommend` (every feature, every model) is
timed too.

    python bench/whatif.py [--calls 2000000] [--sessions 600000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from costper.config import Config, Price
from costper.planning._recommendation import recommend
from costper.planning._whatif import what_if
from costper.store._store import open_store

NOW = datetime(2026, 1, 31)
TARGET = "acme/bench-model"
PRICE = Price(input=2.0, output=8.0, cache_read=0.5)

COLUMNS = (
    "trace_id, span_id, session_id, turn_id, feature, provider, model, start_time, input_tokens, "
    "output_tokens, cache_read_tokens, failed, estimated_cost, estimate_source, cost, cost_source, "
    "infra_cost"
)
GENERATE_CALLS = f"""
INSERT INTO calls ({COLUMNS})
SELECT
  lpad(printf('%x', r // 2), 32, '0'), lpad(printf('%x', r), 16, '0'),
  'sess-' || (r % {{sessions}}), 'turn-' || (r % {{sessions}}) || '-' || ((r // {{sessions}}) // 2),
  'feature-' || ((r % {{sessions}}) % 5), 'openai',
  ['gpt-4o-mini', 'gpt-4o', 'gpt-4-turbo'][1 + ((r % {{sessions}}) // 5) % 3],
  TIMESTAMP '2026-01-01' + to_seconds(((r % {{sessions}}) % 2500000)::BIGINT)
    + to_minutes((r // {{sessions}})::BIGINT),
  (500 + hash(r) % 1000)::BIGINT, (50 + hash(r + 1) % 200)::BIGINT, (hash(r + 4) % 300)::BIGINT,
  hash(r + 2) % 20 = 0,
  (hash(r + 3) % 1000) / 100000.0, 'catalog', (hash(r + 3) % 1000) / 100000.0, 'catalog', 0.0
FROM range({{calls}}) t(r)
"""
GENERATE_OUTCOMES = """
INSERT INTO outcomes (record_id, session_id, "at", success, escalated, reviewed, signal, source)
SELECT 'o-' || s, 'sess-' || s, TIMESTAMP '2026-01-30',
  hash(s) % 10 < 8, hash(s) % 10 >= 8 AND hash(s + 7) % 2 = 0, hash(s + 9) % 20 = 0, 'thumbs',
  'explicit'
FROM range({sessions}) t(s) WHERE hash(s + 11) % 10 < 7
"""
HAND_SQL = """
WITH s AS (
  SELECT session_id, arg_min(feature, start_time) AS feature, arg_min(model, start_time) AS model,
    max(start_time) AS last_call, count(*) AS calls,
    sum(coalesce(input_tokens, 0)) AS tin, sum(coalesce(output_tokens, 0)) AS tout,
    sum(coalesce(cache_read_tokens, 0)) AS tcr, sum(coalesce(cost, 0)) AS llm,
    sum(coalesce(infra_cost, 0)) AS infra
  FROM calls WHERE feature = '{feature}' GROUP BY session_id
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
  SELECT ok, esc,
    greatest(tin - tcr, 0) * {r_in} + tcr * {r_cr} + tout * {r_out}
      + CASE WHEN esc THEN 15.0 ELSE 0 END + CASE WHEN rev THEN 2.0 ELSE 0 END + infra AS c
  FROM j WHERE ok IS NOT NULL AND model = '{model}'
)
SELECT count(*) AS n, sum(c) AS c, sum(ok::INT) AS s, sum(c * c) AS cc,
  sum(c) FILTER (WHERE ok) AS cs
FROM k
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2_000_000)
    ap.add_argument("--sessions", type=int, default=600_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", default=None, help="reuse a generated store")
    args = ap.parse_args()
    db = Path(args.db or Path(tempfile.mkdtemp()) / "bench-whatif.duckdb")
    store = open_store(db)
    if store.count("calls") == 0:
        t = time.perf_counter()
        store.sql(GENERATE_CALLS.format(calls=args.calls, sessions=args.sessions))
        store.sql(GENERATE_OUTCOMES.format(sessions=args.sessions))
        print(
            f"generated {args.calls:,} calls, {args.sessions:,} sessions "
            f"in {time.perf_counter() - t:.1f} s"
        )
    cfg = Config(db=str(db), prices={TARGET: PRICE})
    cutoff = (NOW - cfg.implicit_success_after).isoformat(sep=" ")  # type: ignore[operator]
    w = what_if(store, "feature-0", [TARGET], config=cfg, now=NOW)
    incumbent_model = w.incumbent.split("/", 1)[1]
    sql = HAND_SQL.format(
        feature="feature-0",
        cutoff=cutoff,
        model=incumbent_model,
        r_in=PRICE.input / 1e6,
        r_cr=PRICE.cache_read / 1e6,  # type: ignore[operator]
        r_out=PRICE.output / 1e6,
    )
    ours, hand, recs = [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        w = what_if(store, "feature-0", [TARGET], config=cfg, now=NOW)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        base = store.sql(sql).to_pylist()[0]
        hand.append(time.perf_counter() - t)
        t = time.perf_counter()
        recommend(store, config=cfg, now=NOW)
        recs.append(time.perf_counter() - t)
    est = next(e for e in w.estimates if e.model == TARGET).sums
    assert est.n == base["n"] and est.s == base["s"], (est, base)
    for mine, theirs in ((est.c, base["c"]), (est.cc, base["cc"]), (est.cs, base["cs"])):
        assert abs(mine - theirs) <= 1e-9 * max(1.0, abs(theirs)), (mine, theirs)
    m_ours, m_hand, m_rec = (statistics.median(x) for x in (ours, hand, recs))
    print(
        f"data: {store.count('calls'):,} calls; feature-0 incumbent {w.incumbent}, "
        f"{est.n:,} labeled sessions repriced at {TARGET} (same sums on both sides: checked)"
    )
    print(
        f"hand-written DuckDB SQL, repricing only:          median {m_hand:.3f} s "
        f"over {args.repeat} runs"
    )
    print(
        f"costper what_if (per-model report + repricing):   median {m_ours:.3f} s  "
        f"ratio {m_ours / m_hand:.2f}x"
    )
    print(
        f"costper recommend (every feature x model):        median {m_rec:.3f} s  "
        f"ratio {m_rec / m_hand:.2f}x"
    )
    store.close()


if __name__ == "__main__":
    main()
