"""A real HTTP server on 127.0.0.1 (uvicorn in a thread) and hand-made data.

The server shares the test's `Store`, so a test can write to the store while
the server runs and see the cache expire. The data builders fill in ids so
each test states only what its expected numbers depend on.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
import uvicorn

from costper.config import Config
from costper.server.app import create_app
from costper.store._schema import CALLS, OUTCOMES
from costper.store._store import Store


class LiveServer:
    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self.app = create_app(config, store)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def calls(rows: list[dict[str, Any]]) -> pa.Table:
    """Calls from short dicts; each needs session_id, feature, start_time, cost."""
    out = []
    for i, r in enumerate(rows):
        row = {
            "trace_id": f"{r['session_id']}-t{i}",
            "span_id": f"s{i:04d}",
            "turn_id": r.get("turn_id", f"{r['session_id']}-t{i}"),
            "provider": "openai",
            "model": "m-a",
            "operation": "chat",
            "input_tokens": 1000,
            "output_tokens": 250,
            "cache_read_tokens": 0,
            "failed": False,
            "cost_source": "config",
            "estimate_source": "config",
            "infra_cost": 0.0,
            "duration_ms": 800.0,
            **r,
        }
        row["estimated_cost"] = row["cost"]
        if row["cost"] is None:
            row["cost_source"] = row["estimate_source"] = "unpriced"
        out.append(row)
    return pa.Table.from_pylist(out, schema=CALLS)


def outcomes(rows: list[dict[str, Any]]) -> pa.Table:
    out = [
        {"record_id": f"r{i}-{r['session_id']}", "source": "explicit", **r}
        for i, r in enumerate(rows)
    ]
    return pa.Table.from_pylist(out, schema=OUTCOMES)


XSS = "<script>alert(1)</script>"
DAY1 = datetime(2026, 1, 5, 9, 0)
DAY2 = datetime(2026, 1, 12, 9, 0)


def known_answer_data(store: Store) -> None:
    """Four billing-bot sessions whose figures are worked out by hand in tests,
    and one 'other' session a week later (for time filters).

    billing-bot: llm 1 + (0.5 failed + 1.5) + 3 + 4 = 10, one escalation (15),
    total 25 over 4 labeled sessions, 2 successes: cost per success 12.50,
    cost per intent 6.25; 5 calls × 1,250 tokens: 1,600 per 1M tokens.
    """
    m = timedelta(minutes=1)
    store.insert_many(
        {
            "calls": calls(
                [
                    {"session_id": "s1", "feature": "billing-bot", "start_time": DAY1, "cost": 1.0},
                    {
                        "session_id": "s2",
                        "feature": "billing-bot",
                        "start_time": DAY1 + m,
                        "cost": 0.5,
                        "failed": True,
                        "error_type": "InvalidJSON",
                    },
                    {
                        "session_id": "s2",
                        "feature": "billing-bot",
                        "start_time": DAY1 + 2 * m,
                        "cost": 1.5,
                    },
                    {
                        "session_id": "s3",
                        "feature": "billing-bot",
                        "start_time": DAY1 + 3 * m,
                        "cost": 3.0,
                        "model": "m-b",
                    },
                    {
                        "session_id": "s4",
                        "feature": "billing-bot",
                        "start_time": DAY1 + 4 * m,
                        "cost": 4.0,
                        "model": "m-b",
                    },
                    {"session_id": "s5", "feature": "other", "start_time": DAY2, "cost": 0.2},
                ]
            ),  # fmt: skip
            "outcomes": outcomes(
                [
                    {"session_id": "s1", "at": DAY1 + 10 * m, "success": True},
                    {
                        "session_id": "s2",
                        "at": DAY1 + 10 * m,
                        "success": False,
                        "signal": "thumbs_down",
                    },
                    {
                        "session_id": "s2",
                        "at": DAY1 + 20 * m,
                        "success": True,
                        "signal": "thumbs_up",
                    },
                    {
                        "session_id": "s3",
                        "at": DAY1 + 10 * m,
                        "escalated": True,
                        "signal": "ticket_created",
                    },
                    {"session_id": "s4", "at": DAY1 + 10 * m, "success": False},
                    {"session_id": "s5", "at": DAY2 + 10 * m, "success": True},
                ]
            ),  # fmt: skip
        }
    )


def same(value: object) -> object:
    """The expected JSON with floats compared to 1e-9: a parallel sum may add in
    another order."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    if isinstance(value, dict):
        return {k: same(v) for k, v in value.items()}
    if isinstance(value, list):
        return [same(v) for v in value]
    return value
