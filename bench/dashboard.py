"""Benchmark: the dashboard's overview page over 3 million sessions, cached vs uncached.

Pages are fetched over HTTP from real `costper serve` processes on
127.0.0.1. For each page, --repeat times: start a server (its cache is
empty), fetch the page once (cold: includes the process's first queries),
10 more times (cached: same URL, same data version), then once with a new
`since` filter (uncached in a warm process: the baseline), and stop the
server. Medians and the ratio uncached/cached are printed; first, in
process, the overview's data as one engine report per view against one
report whose coarser views are derived (`group_rollup.coarsen`).

Data: the same SQL-generated calls and outcomes as bench/report.py (default
6 million calls in 3 million sessions over 5 features and 29 days), kept in
--db between runs.

    python bench/dashboard.py [--calls 6000000] [--sessions 3000000] [--repeat 3] [--db FILE]
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from costper.config import Config
from costper.engine._report import report
from costper.engine._rollup import coarsen
from costper.store._store import Store, open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import GENERATE_CALLS, GENERATE_OUTCOMES  # noqa: E402

PAGES = {"overview": "/", "overview, by day": "/?period=day", "feature page": "/features/feature-1"}


class Serve:
    """A real `costper serve` process: its cache starts empty, as after a restart."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "costper", "serve", "--db", str(db), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"costper serve did not start: {line!r}")
        self.url = m.group(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/healthz", timeout=5)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("costper serve never answered /healthz")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def fetch(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - t
    r.raise_for_status()
    assert "<svg" in r.text and 'id="stale"' not in r.text
    return elapsed


def sessions(store: Store) -> int:
    row = store.sql("SELECT count(DISTINCT session_id) AS n FROM calls").to_pylist()[0]
    return int(row["n"])


def one_query_per_chart(store: Store, repeat: int) -> None:
    """The overview's three views (per feature, overall, per feature and week) as
    three engine reports, against one report coarsened twice (what the page does)."""
    cfg = Config()
    report(store, ["feature"], config=cfg)  # brings the session rollup up to date
    apart, derived = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        for keys in (["feature"], [], ["feature", "week"]):
            report(store, keys, config=cfg)
        apart.append(time.perf_counter() - t)
        t = time.perf_counter()
        fine = report(store, ["feature", "week"], config=cfg).groups
        coarsen(fine, ["feature"], cfg), coarsen(fine, [], cfg)
        derived.append(time.perf_counter() - t)
    ma, md = statistics.median(apart), statistics.median(derived)
    print("overview data, in process:")
    print(f"  three engine reports (one per view, baseline): median {ma * 1000:8.1f} ms")
    print(f"  one report, coarser views derived:             median {md * 1000:8.1f} ms"
          f"   ratio {ma / md:.1f}x")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=6_000_000)
    ap.add_argument("--sessions", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", default=None, help="reuse a generated store")
    args = ap.parse_args()
    db = Path(args.db or Path(tempfile.mkdtemp()) / "dashboard.duckdb")
    store = open_store(db)
    if store.count("calls") == 0:
        t = time.perf_counter()
        store.sql(GENERATE_CALLS.format(calls=args.calls, sessions=args.sessions))
        store.sql(GENERATE_OUTCOMES.format(sessions=args.sessions))
        print(f"generated {args.calls:,} calls in {args.sessions:,} sessions in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    print(f"data: {store.count('calls'):,} calls in {sessions(store):,} sessions")
    one_query_per_chart(store, args.repeat)
    store.close()
    client = httpx.Client(timeout=900)
    for name, path in PAGES.items():
        cold, warm, cached = [], [], []
        for r in range(args.repeat):
            server = Serve(db)
            try:
                cold.append(fetch(client, server.url + path))
                cached += [fetch(client, server.url + path) for _ in range(10)]
                sep = "&" if "?" in path else "?"
                warm.append(fetch(client, f"{server.url}{path}{sep}since=2026-01-0{r + 2}"))
            finally:
                server.stop()
        mk, mw, mc = (statistics.median(x) for x in (cold, warm, cached))
        print(f"{name}:")
        print(
            f"  first request after start (cold process):  median {mk * 1000:8.1f} ms over {len(cold)}"
        )
        print(
            f"  uncached in a warm process (new filter):    median {mw * 1000:8.1f} ms over {len(warm)}"
        )
        print(
            f"  cached (same URL and data version):         median {mc * 1000:8.1f} ms over {len(cached)}"
        )
        print(f"  ratio uncached/cached: {mw / mc:,.0f}x (cold/cached: {mk / mc:,.0f}x)")
        if name == "overview":
            verdict = "under" if mc < 1.0 else "NOT under"
            print(f"  overview after the first load: {mc * 1000:.1f} ms, {verdict} one second")
    client.close()


if __name__ == "__main__":
    main()
