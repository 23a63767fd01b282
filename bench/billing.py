"""Benchmark: the billing cost join, 1 million FOCUS lines x 10 million calls.

The join is costjoin's Ibis expression written into the store
(`store.update_calls_from(costjoin.allocations(store))`: pools, pairs,
weights, per-call sums, and the UPDATE of 10M rows). Two hand-written DuckDB
SQL baselines compute the same allocation and the same UPDATE:

- `sql-range`: the join as one writes it, calls JOIN pools ON model AND
  start_time within the charge period (DuckDB plans a hash join on the model
  with the period as a residual filter);
- `sql-hours`: the same query with costper's trick written by hand: each pool
  expanded into the hours it covers, joined on (model, hour), then filtered.

Each variant runs in a fresh process (so peak RSS is its own), alternating,
--repeat times; medians are printed with ratios against costper. Every run
checks it allocated the same total to the same number of calls.

Data (generated inside DuckDB): 10 models of 6 providers, 1000 hours from
2025-01-01; 9 API models billed per (sub-account, model, token kind, hour)
across 53 sub-accounts, monthly credits, 50,000 gateway lines with request
ids, and two GPU instances billed hourly for a self-hosted model.

    python bench/billing.py [--calls 10000000] [--accounts 53] [--hours 1000] [--repeat 3]
                            [--variants costper,sql-hours,sql-range] [--db FILE]

`--ingest ROWS` measures `costper ingest billing` of one FOCUS CSV of ROWS lines
instead (the public FOCUS 1.0 sample repeated, each copy its own account so
every line is distinct; about 750 bytes a line): seconds, rows/s and peak RSS,
against a plain DuckDB `read_csv` of the same file into a table, each in a
fresh process, medians of --repeat runs.

    python bench/billing.py --ingest 1000000 [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from costper.billing import _join as costjoin
from costper.billing._ingest import ingest_billing
from costper.config import Config
from costper.pricing._aliases import CANON_PATTERNS
from costper.store._store import open_store

MODELS = [
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4.1", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku"),
    ("aws.bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("aws.bedrock", "amazon.nova-pro-v1:0", "nova-pro"),
    ("gcp.vertex_ai", "gemini-2.5-flash", "gemini-2.5-flash"),
    ("azure.ai.openai", "gpt-4o", "gpt-4o"),
    ("vllm", "meta-llama/Llama-3-8B", None),
]


def _list(values: list[str | None]) -> str:
    return "[" + ", ".join("NULL" if v is None else f"'{v}'" for v in values) + "]"


CALLS_SQL = """
INSERT INTO calls (trace_id, span_id, session_id, turn_id, request_id, feature, provider, model,
  prompt_version, operation, service_name, start_time, duration_ms, input_tokens, output_tokens,
  cache_read_tokens, failed, estimated_cost, estimate_source, cost, cost_source, infra_cost, seq)
SELECT lpad(printf('%x', r // 3), 32, '0'), lpad(printf('%x', r), 16, '0'), 'sess-' || (r // 3),
  'turn-' || (r // 3), CASE WHEN r % 200 = 7 THEN 'req-' || r END, 'feature-' || (r % 5),
  {providers}[1 + r % 10], {models}[1 + r % 10], 'v1', 'chat', 'bench',
  TIMESTAMP '2025-01-01' + to_microseconds((hash(r) % ({hours} * 3600000000))::BIGINT), 100.0,
  (200 + hash(r + 1) % 2000)::BIGINT, (20 + hash(r + 2) % 500)::BIGINT, 0, false,
  CASE WHEN r % 10 = 9 THEN NULL ELSE (hash(r + 3) % 1000 + 1) / 100000.0 END,
  CASE WHEN r % 10 = 9 THEN 'unpriced' ELSE 'catalog' END,
  CASE WHEN r % 10 = 9 THEN NULL ELSE (hash(r + 3) % 1000 + 1) / 100000.0 END,
  CASE WHEN r % 10 = 9 THEN 'unpriced' ELSE 'catalog' END, 0.0, 1
FROM range({calls}) t(r)
"""

LINE_COLUMNS = (
    "row_hash, source_file, row_number, focus_version, allocation, provider, model, token_kind, "
    "request_id, ServiceProviderName, ServiceName, ChargeCategory, ChargePeriodStart, "
    "ChargePeriodEnd, BillingCurrency, BilledCost, EffectiveCost, ListCost"
)

LINES_SQL = """
INSERT INTO billing ({cols})
SELECT 'u' || h || '-' || m || '-' || k || '-' || a, 'bench', 0, '1.2', 'model',
  {providers}[1 + m], {billed}[1 + m], ['input', 'output'][1 + k], NULL, 'bench', 'bench', 'Usage',
  TIMESTAMP '2025-01-01' + to_hours(h), TIMESTAMP '2025-01-01' + to_hours(h + 1), 'USD',
  (hash(h, m, k, a) % 1000) / 10000.0, (hash(h, m, k, a) % 1000) / 12000.0, 0
FROM range({hours}) t(h), range(9) u(m), range(2) v(k), range({accounts}) w(a);
INSERT INTO billing ({cols})
SELECT 'c' || m || '-' || mo, 'bench', 0, '1.2', 'model', {providers}[1 + m], {billed}[1 + m], NULL,
  NULL, 'bench', 'bench', 'Credit', TIMESTAMP '2025-01-01' + to_months(mo),
  TIMESTAMP '2025-01-01' + to_months(mo + 1), 'USD', -5.0, -5.0, 0
FROM range(9) u(m), range(2) v(mo);
INSERT INTO billing ({cols})
SELECT 'r' || r, 'bench', 0, '1.2', 'model', {providers}[1 + r % 10], {billed}[1 + r % 10], NULL,
  'req-' || r, 'bench', 'bench', 'Usage', TIMESTAMP '2025-01-01', TIMESTAMP '2025-03-01', 'USD',
  0.01, 0.01, 0
FROM range(7, {calls}, 200) t(r);
INSERT INTO billing ({cols})
SELECT 'g' || h || '-' || g, 'bench', 0, '1.2', 'infra', 'self', 'llama-3-8b', NULL, NULL, 'bench',
  'bench', 'Usage', TIMESTAMP '2025-01-01' + to_hours(h), TIMESTAMP '2025-01-01' + to_hours(h + 1),
  'USD', 2.0, 2.0, 2.0
FROM range({hours}) t(h), range(2) u(g);
"""

CANON = "regexp_replace(regexp_replace(lower({col}), '{p1}', '', 'g'), '{p2}', '', 'g')"

HAND_SQL = """
CREATE OR REPLACE TEMP TABLE _hand_costs AS
WITH c AS (
  SELECT trace_id, span_id, request_id, start_time, estimated_cost AS est,
    (coalesce(input_tokens, 0) + coalesce(output_tokens, 0))::DOUBLE AS tokens,
    lower(provider) AS pkey, {canon_calls} AS mkey,
    floor(epoch(start_time) / 3600)::BIGINT AS hour
  FROM calls
), l AS (
  SELECT *, {canon_lines} AS mkey FROM billing
  WHERE allocation IS NOT NULL AND ChargeCategory IN ('Usage', 'Purchase', 'Credit', 'Adjustment')
), ex AS (
  SELECT request_id, sum(EffectiveCost) AS pool_cost, -row_number() OVER (ORDER BY request_id) AS pool
  FROM l WHERE request_id IS NOT NULL GROUP BY request_id
), pools AS (
  SELECT *, row_number() OVER (ORDER BY kind, pkey, mkey, s, e) AS pool FROM (
    SELECT allocation AS kind, provider AS pkey, mkey, ChargePeriodStart AS s, ChargePeriodEnd AS e,
      sum(EffectiveCost) AS pool_cost
    FROM l WHERE request_id IS NULL GROUP BY ALL)
), pairs AS (
  SELECT 'exact' AS kind, ex.pool, ex.pool_cost, c.trace_id, c.span_id, c.est, c.tokens
  FROM c JOIN ex ON c.request_id = ex.request_id
  UNION ALL
  SELECT p.kind, p.pool, p.pool_cost, c.trace_id, c.span_id, c.est, c.tokens
  FROM (SELECT * FROM c ANTI JOIN ex ON c.request_id = ex.request_id) c
  JOIN {pools} p ON {join_on}
  WHERE (c.pkey = p.pkey OR (p.kind = 'infra' AND p.pkey = 'self'))
    AND c.start_time >= p.s AND c.start_time < p.e
), w AS (
  SELECT *, sum(est) OVER (PARTITION BY pool) AS est_sum,
    sum(tokens) FILTER (WHERE est IS NOT NULL) OVER (PARTITION BY pool) AS priced_tokens,
    sum(tokens) OVER (PARTITION BY pool) AS token_sum, count(*) OVER (PARTITION BY pool) AS n
  FROM pairs
), w2 AS (
  SELECT *, coalesce(est, tokens * est_sum / nullif(priced_tokens, 0), 0.0) AS weight FROM w
), w3 AS (
  SELECT *, sum(weight) OVER (PARTITION BY pool) AS weight_sum FROM w2
), a AS (
  SELECT trace_id, span_id, kind, pool_cost * CASE
      WHEN kind <> 'infra' AND weight_sum > 0 THEN weight / weight_sum
      WHEN token_sum > 0 THEN tokens / token_sum ELSE 1.0 / n END AS alloc
  FROM w3
)
SELECT trace_id, span_id,
  CASE WHEN count(*) FILTER (WHERE kind <> 'infra') > 0
       THEN coalesce(sum(alloc) FILTER (WHERE kind <> 'infra'), 0.0) ELSE 0.0 END AS cost,
  'billed' AS cost_source, coalesce(sum(alloc) FILTER (WHERE kind = 'infra'), 0.0) AS infra_cost
FROM a GROUP BY trace_id, span_id
"""

HOURS_POOLS = (
    "(SELECT *, unnest(range(floor(epoch(s) / 3600)::BIGINT, ceil(epoch(e) / 3600)::BIGINT)) AS hour "
    "FROM pools)"
)
RESET = (
    "UPDATE calls SET cost = estimated_cost, cost_source = estimate_source, infra_cost = 0 "
    "WHERE cost_source = 'billed' OR infra_cost <> 0"
)
APPLY = (
    "UPDATE calls SET cost = h.cost, cost_source = h.cost_source, infra_cost = h.infra_cost "
    "FROM _hand_costs h WHERE calls.trace_id = h.trace_id AND calls.span_id = h.span_id"
)


def hand_sql(variant: str) -> str:
    p1, p2 = CANON_PATTERNS
    return HAND_SQL.format(
        canon_calls=CANON.format(col="model", p1=p1, p2=p2),
        canon_lines=CANON.format(col="model", p1=p1, p2=p2),
        pools=HOURS_POOLS if variant == "sql-hours" else "pools",
        join_on="c.mkey = p.mkey AND c.hour = p.hour"
        if variant == "sql-hours"
        else "c.mkey = p.mkey",
    )


def generate(db: Path, calls: int, hours: int, accounts: int) -> None:
    store = open_store(db)
    providers = _list([m[0] for m in MODELS])
    store.sql(
        CALLS_SQL.format(
            providers=providers, models=_list([m[1] for m in MODELS]), hours=hours, calls=calls
        )
    )
    for stmt in LINES_SQL.format(
        cols=LINE_COLUMNS, providers=providers, billed=_list([m[2] for m in MODELS]),
        hours=hours, accounts=accounts, calls=calls,
    ).split(";"):  # fmt: skip
        if stmt.strip():
            store.sql(stmt)
    store.close()


def run_one(db: Path, variant: str) -> dict[str, float]:
    """One timed join-and-write in this process: what the parent process prints."""
    store = open_store(db)
    t0 = time.perf_counter()
    if variant == "costper":
        store.update_calls_from(costjoin.allocations(store))
    else:
        with store.transaction():
            store.sql(RESET)
            store.sql(hand_sql(variant))
            store.sql(APPLY)
            store.sql("DROP TABLE _hand_costs")
    seconds = time.perf_counter() - t0
    check = store.sql(
        "SELECT count(*) n, sum(cost + infra_cost) total FROM calls WHERE cost_source = 'billed'"
    ).to_pylist()[0]
    store.sql(RESET)
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak, "billed": check["n"], "total": check["total"]}


SAMPLE = Path(__file__).parent.parent / "tests/data/focus-samples/FOCUS-1.0/focus_sample.csv"


def focus_csv(path: Path, rows: int) -> None:
    """The public sample, copy i of it billed to account '<id>-i', `rows` lines in all."""
    copies = -(-rows // 1000)
    with open_store(":memory:") as s:
        s.sql(
            f"COPY (SELECT * REPLACE (BillingAccountId || '-' || i AS BillingAccountId) "
            f"FROM read_csv('{SAMPLE}', all_varchar=true), range({copies}) r(i) "
            f"LIMIT {rows}) TO '{path}' (HEADER, DELIMITER ',')"
        )


def run_ingest(csv: Path, db: Path, variant: str) -> dict[str, float]:
    """One ingest (costper) or plain read (read_csv) of the file into a fresh store file."""
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with open_store(db) as store:
        if variant == "costper":
            n = ingest_billing(store, [csv], Config()).lines
        else:
            store.sql(f"CREATE TABLE plain AS SELECT * FROM read_csv('{csv}', all_varchar=true)")
            n = int(store.sql("SELECT count(*) n FROM plain").column(0)[0].as_py())
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mib": peak_mib(), "rows": n}


def peak_mib() -> float:
    """This process's peak RSS. Linux's VmHWM, not getrusage: ru_maxrss survives
    fork and exec, so a child would report its parent's peak (the CSV generator's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ingest(rows: int, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    csv = tmp / "focus.csv"
    # In a child process: this one stays small, so the runs it starts measure their own peak.
    subprocess.run(
        [sys.executable, __file__, "--write-csv", str(csv), "--rows", str(rows)], check=True
    )
    print(f"{rows:,} FOCUS lines, {csv.stat().st_size / 2**20:.0f} MiB CSV")
    results: dict[str, list[dict[str, float]]] = {"costper": [], "read_csv": []}
    for i in range(repeat):
        for v in results:
            out = subprocess.run(
                [sys.executable, __file__, "--run", f"ingest:{v}", "--db", str(tmp / f"{v}.duckdb"),
                 "--csv", str(csv)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            assert r["rows"] == rows, r
            results[v].append(r)
            print(f"  run {i + 1} {v:9s} {r['seconds']:8.2f} s  peak {r['peak_mib']:7.0f} MiB")
    med = {
        v: (
            statistics.median(r["seconds"] for r in rs),
            statistics.median(r["peak_mib"] for r in rs),
        )
        for v, rs in results.items()
    }
    (cs, cm), (bs, bm) = med["costper"], med["read_csv"]
    print(f"\nmedians over {repeat} run(s)")
    print(f"  costper ingest  {cs:8.2f} s  {rows / cs:10,.0f} rows/s  peak RSS {cm:7.0f} MiB")
    print(f"  plain read_csv  {bs:8.2f} s  {rows / bs:10,.0f} rows/s  peak RSS {bm:7.0f} MiB")
    print(f"  ratio           {cs / bs:8.2f}x time                      {cm / bm:7.2f}x memory")
    print(
        f"  targets at 1M rows: <= 3x time ({'met' if cs / bs <= 3 else 'NOT met'}), "
        f"< 1 GB peak ({'met' if cm < 1024 else 'NOT met'})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--hours", type=int, default=1000)
    ap.add_argument("--accounts", type=int, default=53)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", default="costper,sql-hours,sql-range")
    ap.add_argument("--db", default=None, help="reuse a generated store")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--csv", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ingest", type=int, default=None, help="FOCUS lines to ingest instead")
    ap.add_argument("--write-csv", default=None, help="only write the --rows line FOCUS CSV here")
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    if args.write_csv:
        focus_csv(Path(args.write_csv), args.rows)
        return
    if args.run and args.run.startswith("ingest:"):
        print(json.dumps(run_ingest(Path(args.csv), Path(args.db), args.run.split(":", 1)[1])))
        return
    if args.ingest:
        bench_ingest(args.ingest, args.repeat)
        return
    if args.run:
        print(json.dumps(run_one(Path(args.db), args.run)))
        return
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "billing-bench.duckdb"
    if not db.exists():
        t0 = time.perf_counter()
        generate(db, args.calls, args.hours, args.accounts)
        print(f"generated {db} in {time.perf_counter() - t0:.0f} s")
    store = open_store(db)
    n_calls, n_lines = store.count("calls"), store.count("billing")
    store.close()
    print(f"{n_calls:,} calls, {n_lines:,} billing lines")
    variants = [v.strip() for v in args.variants.split(",")]
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for i in range(args.repeat):
        for v in variants:
            out = subprocess.run(
                [sys.executable, __file__, "--db", str(db), "--run", v],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[v].append(r)
            print(f"  run {i + 1} {v:10s} {r['seconds']:8.2f} s  peak {r['peak_mib']:7.0f} MiB  "
                  f"{r['billed']:,} calls billed, {r['total']:.4f} allocated")  # fmt: skip
    ref = results[variants[0]][0]
    for v in variants:
        for r in results[v]:
            assert r["billed"] == ref["billed"], (v, r, ref)
            assert abs(r["total"] - ref["total"]) <= 1e-6 * abs(ref["total"]), (v, r, ref)
    base = statistics.median(r["seconds"] for r in results[variants[0]])
    base_mem = statistics.median(r["peak_mib"] for r in results[variants[0]])
    print(f"\nmedians over {args.repeat} run(s); ratios are variant / {variants[0]}")
    for v in variants:
        s = statistics.median(r["seconds"] for r in results[v])
        m = statistics.median(r["peak_mib"] for r in results[v])
        print(
            f"  {v:10s} {s:8.2f} s ({s / base:5.2f}x)   peak RSS {m:7.0f} MiB ({m / base_mem:5.2f}x)"
        )


if __name__ == "__main__":
    main()
