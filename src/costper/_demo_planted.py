"""The demo's planted feature, so `anomalies`, `diagnose` and the evals part show
something real at once (issue 15).

research-agent (openai/gpt-4o, one turn of 4 + Poisson(2) agent steps whose context
grows 30% a step) changes prompt half-way: research-v1 escalates 4% of sessions,
research-v2 14%. On one day (`INCIDENT_DAY` days before the end) a few sessions run
away: even ones re-send one request in a tight loop (same input size, 2 s apart),
odd ones blow their context up call after call. A fifth of sessions are judged by
an LLM (gpt-4o, operation `evals`): their cost is the feature's `evals` part.

It draws from its own random generator, after the calibrated arms, so the
article's figures of the other features are the same with or without it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

FEATURE = "research-agent"
MODEL = "gpt-4o"
JUDGE = "gpt-4o"
PROMPTS = ("research-v1", "research-v2")
ESCALATE = (0.04, 0.14)
FAIL = (0.08, 0.18)
INCIDENT_DAY = 5
JUDGED = 0.2


PLANT_FROM = 10_000
"""Planted only in demos of this many sessions or more (the default is 20,000), so
small demo stores (tests) stay as they were."""


def planted_size(sessions: int) -> tuple[int, int]:
    """(sessions of the feature, runaway sessions among them)."""
    if sessions < PLANT_FROM:
        return 0, 0
    n = min(600, sessions // 30)
    return n, n // 100


def runaway_ids(seed: int, sessions: int) -> list[str]:
    """The planted runaway sessions' ids (tests check they, and only they, are found)."""
    return [f"demo-{seed}-runaway-{k}" for k in range(planted_size(sessions)[1])]


def planted(
    seed: int, sessions: int, end: datetime, days: int, prices: dict[str, tuple[float, float]]
) -> tuple[pa.Table, pa.Table]:
    """Calls and outcome records of the planted feature."""
    rng = np.random.default_rng([seed, 15])
    n, k_run = planted_size(sessions)
    end0 = end.replace(tzinfo=None)
    half = end0 - timedelta(days=days / 2)
    calls: list[dict[str, object]] = []
    outcomes: list[dict[str, object]] = []
    p_in, p_out = prices[MODEL]
    j_in, j_out = prices[JUDGE]
    for i in range(n):
        sid = f"demo-{seed}-research-{i}"
        start = end0 - timedelta(seconds=float(rng.random() * (days - 1) * 86400 + 86400))
        arm = 0 if start < half else 1
        steps = 4 + int(rng.poisson(2))
        base = int(rng.integers(1200, 1800))
        for s in range(steps):
            inp = int(base * (1 + 0.3 * s) * rng.lognormal(0, 0.05))
            out = int(rng.integers(120, 280))
            calls.append(_call(sid, i, s, start + timedelta(seconds=8 * s), MODEL, PROMPTS[arm],
                               "chat", inp, out, inp * p_in + out * p_out, seed))  # fmt: skip
        if rng.random() < JUDGED:
            inp, out = int(rng.integers(2500, 3500)), int(rng.integers(30, 80))
            calls.append(_call(sid, i, steps, start + timedelta(seconds=8 * steps + 30), JUDGE,
                               "judge-v1", "evals", inp, out, inp * j_in + out * j_out, seed))  # fmt: skip
        u = rng.random()
        escalated = u < ESCALATE[arm]
        success = not escalated and u >= FAIL[arm]
        if rng.random() > 0.3:  # the rest resolve implicitly (or fail silently)
            outcomes.append(_outcome(sid, start, success, escalated, seed))
        elif not success:
            outcomes.append(_outcome(sid, start, success, escalated, seed))
    day = end0 - timedelta(days=INCIDENT_DAY) + timedelta(hours=9)
    for k in range(k_run):
        sid = f"demo-{seed}-runaway-{k}"
        start = day + timedelta(minutes=37 * k)
        if k % 2 == 0:  # the same request re-sent in a tight loop
            for s in range(150 + 25 * k):
                calls.append(_call(sid, n + k, s, start + timedelta(seconds=2 * s), MODEL, PROMPTS[1],
                                   "chat", 2400, 150, 2400 * p_in + 150 * p_out, seed))  # fmt: skip
        else:  # the context grows by the whole previous answer, call after call
            for s in range(80):
                inp = 1500 + 1500 * s
                calls.append(_call(sid, n + k, s, start + timedelta(seconds=4 * s), MODEL, PROMPTS[1],
                                   "chat", inp, 400, inp * p_in + 400 * p_out, seed))  # fmt: skip
        outcomes.append(_outcome(sid, start, False, False, seed))
    if not calls:
        return pa.table({}), pa.table({})
    return pa.Table.from_pylist(calls), pa.Table.from_pylist(outcomes)


def _call(
    sid: str, sidx: int, step: int, at: datetime, model: str, prompt: str, op: str,
    inp: int, out: int, cost: float, seed: int,
) -> dict[str, object]:  # fmt: skip
    trace = f"{seed:08x}f15{sidx:021x}"
    return {
        "trace_id": trace, "span_id": f"{step:016x}", "session_id": sid, "turn_id": trace,
        "feature": FEATURE, "provider": "openai", "model": model, "prompt_version": prompt,
        "operation": op, "service_name": "demo-app", "start_time": at,
        "duration_ms": 900.0 + inp / 10, "input_tokens": inp, "output_tokens": out,
        "cache_read_tokens": 0, "failed": False, "error_type": None,
        "estimated_cost": cost, "estimate_source": "catalog", "cost": cost,
        "cost_source": "catalog", "infra_cost": 0.0,
    }  # fmt: skip


def _outcome(
    sid: str, start: datetime, success: bool, escalated: bool, seed: int
) -> dict[str, object]:
    signal = "ticket_created" if escalated else "thumbs_up" if success else "thumbs_down"
    return {
        "record_id": f"{sid}-o", "session_id": sid, "at": start + timedelta(minutes=30),
        "success": success, "escalated": escalated, "reviewed": False, "signal": signal,
        "source": "explicit",
    }  # fmt: skip
