"""Benchmark: the dashboard's overview page over 3 million sessions, cached vs uncached.

The page is fetched over real HTTP from the costper app (uvicorn on
127.0.0.1). Figures printed, medians over --repeat runs in this process:

- first load: a cold process, including building the store's session rollup;
- uncached render (the baseline): the result cache emptied before each
  request, so every report behind the page is recomputed;
- cached render: the same URL again at the same data version;
- ratio: uncached median / cached median.

Data: the same SQL-generated calls and outcomes as bench/report.py (default
6 million calls in 3 million sessions over 5 features and 29 days).

    python bench/dashboard.py [--calls 6000000] [--sessions 3000000] [--repeat 5] [--db FILE]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from costper.config import Config
from costper.server.app import create_app
from costper.store import Store, open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import GENERATE_CALLS, GENERATE_OUTCOMES  # noqa: E402


def serve(store: Store, cfg: Config) -> tuple[str, uvicorn.Server, object]:
    app = create_app(cfg, store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, app


def fetch(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - t
    r.raise_for_status()
    assert "<svg" in r.text and "Cost per success" in r.text
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=6_000_000)
    ap.add_argument("--sessions", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=5)
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
    cfg = Config(db=str(db))
    base, server, app = serve(store, cfg)
    client = httpx.Client(timeout=600)
    pages = {
        "overview": "/",
        "overview, by day": "/?period=day",
        "feature page": "/features/feature-1",
    }
    try:
        first = fetch(client, base + "/")
        sessions = client.get(base + "/api/report", params={"by": ""}).json()["groups"][0][
            "sessions"
        ]
        print(f"data: {store.count('calls'):,} calls, {sessions:,} sessions")
        print(f"overview, first load (cold process, builds the session rollup): {first:.2f} s")
        for name, path in pages.items():
            uncached, cached = [], []
            for _ in range(args.repeat):
                app.state.result_cache.clear()
                uncached.append(fetch(client, base + path))
                cached.append(fetch(client, base + path))
            for _ in range(20):
                cached.append(fetch(client, base + path))
            mu, mc = statistics.median(uncached), statistics.median(cached)
            print(
                f"{name:17s} uncached render (baseline): median {mu * 1000:8.1f} ms over {len(uncached)}"
            )
            print(f"{name:17s} cached render:              median {mc * 1000:8.1f} ms over {len(cached)}"
                  f"   ratio {mu / mc:,.0f}x faster")  # fmt: skip
            if name == "overview":
                verdict = "under" if mc < 1.0 else "NOT under"
                print(f"overview after the first load: {mc * 1000:.1f} ms, {verdict} one second")
    finally:
        client.close()
        server.should_exit = True
        time.sleep(0.3)
        store.close()


if __name__ == "__main__":
    main()
