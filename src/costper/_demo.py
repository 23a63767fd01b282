"""A synthetic data set calibrated to the article, written through the store.

It exists so that a new user sees the whole product in one command, and so
tests can check the engine against the article's figures:

- support-chat: an A/B test. openai/gpt-4o-mini takes 5 turns, resolves 70%
  and 30% escalate (token cost about 0.0019 per intent); openai/gpt-4-turbo
  takes 1 turn, resolves 95%, 5% escalate (about 0.014 per intent).
- invoice-extraction: prompt v1 on gpt-4o-mini with a 35% retry rate and 10%
  human review; prompt v2 on gpt-4-turbo with 10% retries and 2% review.
- assistant: a multi-turn assistant (gpt-4o) whose 1-, 3- and 5+-turn
  sessions succeed about 95%, 88%, 68% at about 0.015, 0.041, 0.089 in tokens;
  failures do not escalate, so its cost per intent is its token cost.
- sql-helper: a young feature (70 sessions) with too few sessions to conclude
  anything; it keeps that size whatever `sessions` is.
- research-agent: with 10,000 sessions or more, 600 sessions besides `sessions`
  (`_demo_planted.py`): runaway sessions on one day, a prompt change that raised
  escalations, LLM-judge evals.
- doc-summaries: with 10,000 sessions or more (the default is 20,000), a
  steady batch pipeline on gpt-4o (80,000 calls, about 2 a minute, more by
  day, one session per hour's batch, a quarter of each prompt cached), so
  `costper commit` has a commitment-worthy model (`_demo_steady.py`). It draws
  from its own random stream, so the arms above come out the same with or
  without it, and small demo stores (tests) stay as they were.

Prices come from the genai-prices catalog (each model priced once), so calls
carry `cost_source = "catalog"`. About a third of successes leave no outcome
record and resolve as implicit successes; a few recent sessions stay pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from costper import _demo_planted
from costper.pricing import _lookup as pricing
from costper.store._store import Store


@dataclass(frozen=True)
class Arm:
    feature: str
    model: str
    prompt_version: str
    share: float
    turns: tuple[tuple[int, float], ...]
    cost_by_turns: dict[int, float]
    success_by_turns: dict[int, float]
    escalate_when_failed: float
    review_rate: float
    call_fail_rate: float
    review_means_failure: bool = False
    fixed: int = 0


ARMS = (
    Arm(
        "support-chat",
        "gpt-4o-mini",
        "chat-v3",
        0.20,
        ((5, 1.0),),
        {5: 0.0019},
        {5: 0.70},
        1.0,
        0.0,
        0.05,
    ),
    Arm(
        "support-chat",
        "gpt-4-turbo",
        "chat-v3",
        0.20,
        ((1, 1.0),),
        {1: 0.014},
        {1: 0.95},
        1.0,
        0.0,
        0.02,
    ),
    Arm(
        "invoice-extraction",
        "gpt-4o-mini",
        "v1",
        0.12,
        ((1, 1.0),),
        {1: 0.0006},
        {1: 0.90},
        0.0,
        0.10,
        0.35,
        review_means_failure=True,
    ),
    Arm(
        "invoice-extraction",
        "gpt-4-turbo",
        "v2",
        0.12,
        ((1, 1.0),),
        {1: 0.035},
        {1: 0.98},
        0.0,
        0.02,
        0.10,
        review_means_failure=True,
    ),
    Arm(
        "assistant",
        "gpt-4o",
        "assist-v1",
        0.355,
        ((1, 0.40), (2, 0.15), (3, 0.20), (4, 0.10), (5, 0.08), (6, 0.04), (7, 0.03)),
        {1: 0.015, 2: 0.028, 3: 0.041, 4: 0.065, 5: 0.089, 6: 0.089, 7: 0.089},
        {1: 0.95, 2: 0.91, 3: 0.88, 4: 0.80, 5: 0.68, 6: 0.68, 7: 0.68},
        0.0,
        0.0,
        0.03,
    ),
    Arm(
        "sql-helper",
        "gpt-4.1-mini",
        "sql-v1",
        0,
        ((2, 1.0),),
        {2: 0.004},
        {2: 0.80},
        0.5,
        0.0,
        0.05,
        fixed=40,
    ),
    Arm(
        "sql-helper",
        "gpt-4.1",
        "sql-v1",
        0,
        ((1, 1.0),),
        {1: 0.02},
        {1: 0.90},
        0.5,
        0.0,
        0.02,
        fixed=30,
    ),
)
PROVIDER = "openai"
OUTPUT_SHARE = 0.4
IMPLICIT_SHARE = 0.35
PENDING_SHARE = 0.01
STEADY_FROM, STEADY_CALLS = 10_000, 80_000


def unit_prices(model: str) -> tuple[float, float]:
    """Catalog price per token (input, output), asked once per model."""
    rates = pricing.unit_prices(f"{PROVIDER}/{model}", {}, datetime.now(UTC))
    return rates.input.base, rates.output.base


def _hex(prefix: int, values: np.ndarray, width: int) -> list[str]:
    return [f"{prefix:08x}{v:0{width - 8}x}" for v in values.tolist()]


def _exact(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """True with probability p, but with the exact expected count per distinct p.

    Calibration data should sit on the article's figures, not two standard
    errors off them by the luck of a seed; shuffling a fixed number of
    successes keeps the sessions random and the rates exact.
    """
    out = np.zeros(len(p), dtype=bool)
    for value in np.unique(p):
        idx = np.flatnonzero(p == value)
        k = int(round(value * len(idx)))
        out[rng.permutation(idx)[:k]] = True
    return out


def _arm_chunk(
    arm: Arm, n: int, first: int, rng: np.random.Generator, end: datetime, days: int, seed: int
) -> tuple[pa.Table, pa.Table]:
    sid = np.arange(first, first + n, dtype=np.int64)
    choices, probs = zip(*arm.turns, strict=True)
    turns = rng.choice(np.array(choices), size=n, p=np.array(probs) / sum(probs))
    p_success = np.vectorize(arm.success_by_turns.__getitem__)(turns)
    target = np.vectorize(arm.cost_by_turns.__getitem__)(turns)
    if arm.review_means_failure:
        reviewed = _exact(rng, np.full(n, 1 - p_success))
        success = ~reviewed
    else:
        success = _exact(rng, p_success)
        reviewed = _exact(rng, np.full(n, arm.review_rate))
    escalated = np.zeros(n, dtype=bool)
    failed_idx = np.flatnonzero(~success)
    escalated[failed_idx] = _exact(rng, np.full(len(failed_idx), arm.escalate_when_failed))
    pending = rng.random(n) < PENDING_SHARE
    offset = rng.random(n) * (days - 1) * 86400 + 86400
    offset[pending] = rng.random(int(pending.sum())) * 6 * 3600
    start = np.datetime64(end.replace(tzinfo=None), "us") - (offset * 1e6).astype("timedelta64[us]")

    t_sess = np.repeat(np.arange(n), turns)
    turn_no = np.arange(len(t_sess)) - np.repeat(np.cumsum(turns) - turns, turns)
    fails = rng.geometric(1 - arm.call_fail_rate, size=len(t_sess)) - 1
    c_turn = np.repeat(np.arange(len(t_sess)), fails + 1)
    c_idx = np.arange(len(c_turn)) - np.repeat(np.cumsum(fails + 1) - (fails + 1), fails + 1)
    c_sess = t_sess[c_turn]
    failed = c_idx < fails[c_turn]
    calls_per_turn = 1 / (1 - arm.call_fail_rate)
    per_call = target[c_sess] / (turns[c_sess] * calls_per_turn)
    p_in, p_out = unit_prices(arm.model)
    noise = rng.lognormal(-0.045, 0.3, size=len(c_sess))
    out_tok = np.maximum(1, np.rint(per_call * noise * OUTPUT_SHARE / p_out)).astype(np.int64)
    in_tok = np.maximum(1, np.rint(per_call * noise * (1 - OUTPUT_SHARE) / p_in)).astype(np.int64)
    cost = in_tok * p_in + out_tok * p_out
    cstart = start[c_sess] + ((turn_no[c_turn] * 60 + c_idx * 3) * 1e6).astype("timedelta64[us]")

    trace = _hex(seed, (sid[t_sess] << 8) | turn_no, 32)
    session_ids = [f"demo-{seed}-{v}" for v in sid.tolist()]
    calls = pa.table(
        {
            "trace_id": pa.array([trace[i] for i in c_turn.tolist()]),
            "span_id": _hex(seed, (sid[c_sess] << 16) | (turn_no[c_turn] << 8) | c_idx, 16),
            "session_id": pa.array([session_ids[i] for i in c_sess.tolist()]),
            "turn_id": pa.array([trace[i] for i in c_turn.tolist()]),
            "feature": pa.array([arm.feature] * len(c_sess)),
            "provider": pa.array([PROVIDER] * len(c_sess)),
            "model": pa.array([arm.model] * len(c_sess)),
            "prompt_version": pa.array([arm.prompt_version] * len(c_sess)),
            "operation": pa.array(["chat"] * len(c_sess)),
            "service_name": pa.array(["demo-app"] * len(c_sess)),
            "start_time": pa.array(cstart),
            "duration_ms": pa.array(rng.gamma(4.0, 300.0, size=len(c_sess))),
            "input_tokens": pa.array(in_tok),
            "output_tokens": pa.array(out_tok),
            "cache_read_tokens": pa.array(np.zeros(len(c_sess), dtype=np.int64)),
            "failed": pa.array(failed),
            "error_type": pa.array(["invalid_json" if f else None for f in failed.tolist()]),
            "estimated_cost": pa.array(cost),
            "estimate_source": pa.array(["catalog"] * len(c_sess)),
            "cost": pa.array(cost),
            "cost_source": pa.array(["catalog"] * len(c_sess)),
            "infra_cost": pa.array(np.zeros(len(c_sess))),
        }
    )
    last = start + ((turns - 1) * 60 * 1e6).astype("timedelta64[us]")
    implicit = success & (rng.random(n) < IMPLICIT_SHARE)
    record = ~pending & ~implicit
    signal = np.where(escalated, "ticket_created", np.where(success, "thumbs_up", "thumbs_down"))
    signal = np.where(reviewed, "human_review", signal)
    keep = np.flatnonzero(record)
    outcomes = pa.table(
        {
            "record_id": pa.array([f"demo-{seed}-{v}-o" for v in sid[keep].tolist()]),
            "session_id": pa.array([session_ids[i] for i in keep.tolist()]),
            "at": pa.array(last[keep] + np.timedelta64(300, "s")),
            "success": pa.array(success[keep]),
            "escalated": pa.array(escalated[keep]),
            "reviewed": pa.array(reviewed[keep]),
            "signal": pa.array(signal[keep].tolist()),
            "source": pa.array(["explicit"] * len(keep)),
        }
    )
    return calls, outcomes


def generate(
    store: Store,
    sessions: int = 20_000,
    seed: int = 1,
    *,
    end: datetime | None = None,
    days: int = 28,
    chunk: int = 25_000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write `sessions` synthetic sessions; returns rows new to the store per table.

    Deterministic for a given seed and `end` (default: today 00:00 UTC), and
    written in chunks so memory stays flat and a progress bar can move.
    """
    if sessions < 1:
        raise ValueError("sessions must be at least 1")
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(seed)
    fixed = [min(a.fixed, max(1, sessions // 50)) for a in ARMS]
    shares = np.array([a.share for a in ARMS])
    counts = rng.multinomial(max(0, sessions - sum(fixed)), shares / shares.sum()) + np.array(fixed)
    written = {"calls": 0, "outcomes": 0}
    prices = {m: unit_prices(m) for m in (_demo_planted.MODEL, _demo_planted.JUDGE)}
    extra_calls, extra_outcomes = _demo_planted.planted(seed, sessions, end, days, prices)
    with store.transaction():  # all or nothing: Ctrl-C leaves the store as it was
        _write_arms(store, counts.tolist(), rng, end, days, seed, chunk, progress, written)
        if extra_calls.num_rows:
            new = store.insert_many({"calls": extra_calls, "outcomes": extra_outcomes})
            for k in written:
                written[k] += new[k]
        from costper._demo_steady import write_steady

        if sessions >= STEADY_FROM:
            write_steady(store, STEADY_CALLS, seed, end, days, written)
    return written


def _write_arms(
    store: Store,
    counts: list[int],
    rng: np.random.Generator,
    end: datetime,
    days: int,
    seed: int,
    chunk: int,
    progress: Callable[[int], None] | None,
    written: dict[str, int],
) -> None:
    first = 0
    for arm, count in zip(ARMS, counts, strict=True):
        done = 0
        while done < count:
            n = min(chunk, count - done)
            calls, outcomes = _arm_chunk(arm, n, first, rng, end, days, seed)
            new = store.insert_many({"calls": calls, "outcomes": outcomes})
            for k in written:
                written[k] += new[k]
            first += n
            done += n
            if progress:
                progress(n)
