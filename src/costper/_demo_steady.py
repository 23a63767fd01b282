"""The demo's steady model: a batch pipeline whose gpt-4o traffic is worth committing to.

Calls arrive at a regular cadence (a deterministic running count of a rate
that is 0.6x the mean at night, 00:00-08:00 UTC, and 1.2x by day), each
with about 24,000 prompt tokens of which a quarter are cached and about
1,000 response tokens, so Azure's PTU formula sees about 22,000 normalized
tokens a call. One session per hour's batch; 23 of each day's 24 succeed. It
draws from its own random stream, so the article's arms are unchanged.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from costper._demo import PROVIDER, _exact, _hex
from costper.pricing import _lookup as pricing
from costper.store._store import Store

FEATURE, MODEL, PROMPT = "doc-summaries", "gpt-4o", "sum-v1"
PROMPT_TOKENS, CACHED_SHARE, RESPONSE_TOKENS = 24_000, 0.25, 1_000
SUCCESS = 0.97
_PREFIX = 0x5D000000


def _rates() -> tuple[float, float, float]:
    r = pricing.unit_prices(f"{PROVIDER}/{MODEL}", {}, datetime(2026, 1, 1))
    cache = r.cache_read.base if r.cache_read is not None else r.input.base
    return r.input.base, cache, r.output.base


def cadence(calls: int, minutes: int) -> np.ndarray:
    """Calls per minute: a running count of the daily profile, scaled to `calls` in all."""
    hour = (np.arange(minutes) // 60) % 24
    rate = np.where(hour < 8, 0.6, 1.2)
    rate = rate * calls / rate.sum()
    running = np.floor(np.cumsum(rate) + 1e-9).astype(np.int64)
    return np.diff(np.concatenate([[0], running]))


def write_steady(
    store: Store, calls: int, seed: int, end: datetime, days: int, written: dict[str, int]
) -> None:
    rng = np.random.default_rng([seed, 0x5D])
    minutes = days * 1440
    per_minute = cadence(calls, minutes)
    first = np.datetime64(end.replace(tzinfo=None), "us") - np.timedelta64(minutes, "m")
    p_in, p_cache, p_out = _rates()
    for day in range(days):
        counts = per_minute[day * 1440 : (day + 1) * 1440]
        n = int(counts.sum())
        if n == 0:
            continue
        minute = np.repeat(np.arange(day * 1440, (day + 1) * 1440), counts)
        slot = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        offset_s = minute * 60 + (slot * 60) // np.repeat(counts, counts)
        start = first + (offset_s * 1_000_000).astype("timedelta64[us]")
        idx = int(per_minute[: day * 1440].sum()) + np.arange(n)
        batch = minute // 60
        noise = rng.lognormal(-0.02, 0.2, size=(2, n))
        inp = np.maximum(1, np.rint(PROMPT_TOKENS * noise[0])).astype(np.int64)
        cached = np.rint(inp * CACHED_SHARE).astype(np.int64)
        out = np.maximum(1, np.rint(RESPONSE_TOKENS * noise[1])).astype(np.int64)
        cost = (inp - cached) * p_in + cached * p_cache + out * p_out
        trace = _hex(_PREFIX | seed, idx, 32)
        sessions = [f"demo-{seed}-batch-{b}" for b in batch.tolist()]
        calls_t = pa.table(
            {
                "trace_id": trace, "span_id": _hex(_PREFIX | seed, idx, 16),
                "session_id": sessions, "turn_id": trace, "feature": [FEATURE] * n,
                "provider": [PROVIDER] * n, "model": [MODEL] * n, "prompt_version": [PROMPT] * n,
                "operation": ["chat"] * n, "service_name": ["demo-batch"] * n,
                "start_time": pa.array(start), "duration_ms": rng.gamma(4.0, 900.0, size=n),
                "input_tokens": inp, "output_tokens": out, "cache_read_tokens": cached,
                "failed": np.zeros(n, dtype=bool), "error_type": pa.nulls(n, pa.string()),
                "estimated_cost": cost, "estimate_source": ["catalog"] * n, "cost": cost,
                "cost_source": ["catalog"] * n, "infra_cost": np.zeros(n),
            }
        )  # fmt: skip
        batches, last = np.unique(batch[::-1], return_index=True)
        last_start = start[::-1][last]
        ok = _exact(rng, np.full(len(batches), SUCCESS))
        outcomes = pa.table(
            {
                "record_id": [f"demo-{seed}-batch-{b}-o" for b in batches.tolist()],
                "session_id": [f"demo-{seed}-batch-{b}" for b in batches.tolist()],
                "at": pa.array(last_start + np.timedelta64(300, "s")),
                "success": ok, "escalated": np.zeros(len(batches), dtype=bool),
                "reviewed": np.zeros(len(batches), dtype=bool),
                "signal": np.where(ok, "batch_ok", "batch_failed").tolist(),
                "source": ["explicit"] * len(batches),
            }
        )  # fmt: skip
        new = store.insert_many({"calls": calls_t, "outcomes": outcomes})
        for k in written:
            written[k] += new[k]
