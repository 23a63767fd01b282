"""Pricing: hand-computed known answers, and agreement with genai-prices call by call."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price

from costper.config import Config, Price
from costper.pricing._prices import catalog_prices, price_calls

JUNE = datetime(2025, 6, 20, 12, 0)


def calls(*rows: dict[str, Any]) -> pa.Table:
    base = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "start_time": JUNE,
        "input_tokens": None,
        "output_tokens": None,
        "cache_read_tokens": None,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
        "failed": False,
        "reported_cost": None,
    }
    full = [{**base, **r} for r in rows]
    schema = pa.schema(
        [
            ("provider", pa.string()),
            ("model", pa.string()),
            ("start_time", pa.timestamp("us")),
            *[(f"{k}_tokens", pa.int64()) for k in ("input", "output", "cache_read")],
            *[(f"{k}_tokens", pa.int64()) for k in ("cache_write", "reasoning")],
            ("failed", pa.bool_()),
            ("reported_cost", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(full, schema=schema)


def priced(table: pa.Table, config: Config | None = None) -> list[tuple[Any, str]]:
    out = price_calls(table, config or Config())
    return list(zip(out["cost"].to_pylist(), out["cost_source"].to_pylist(), strict=True))


def test_gpt_4o_mini_by_hand() -> None:
    # $0.15 input, $0.075 cached input, $0.60 output per 1M; input counts the cached tokens
    ((cost, source),) = priced(
        calls({"input_tokens": 1000, "cache_read_tokens": 400, "output_tokens": 100})
    )
    assert source == "catalog"
    assert cost == pytest.approx((600 * 0.15 + 400 * 0.075 + 100 * 0.60) / 1e6, rel=1e-12)


def test_config_price_beats_the_catalog_and_reported_beats_both() -> None:
    cfg = Config(
        prices={
            "openai/my-finetune": Price(input=3.0, output=12.0, cache_read=1.5),
            "openai/gpt-4o-mini": Price(input=1.0, output=2.0),
        }
    )
    table = calls(
        {
            "model": "my-finetune",
            "input_tokens": 2000,
            "cache_read_tokens": 1000,
            "output_tokens": 500,
        },
        {"input_tokens": 1000, "cache_read_tokens": 400, "output_tokens": 100},
        {"input_tokens": 1000, "output_tokens": 100, "reported_cost": 0.25},
    )
    (ft, ft_src), (mini, mini_src), (rep, rep_src) = priced(table, cfg)
    assert ft_src == "config"
    assert ft == pytest.approx((1000 * 3.0 + 1000 * 1.5 + 500 * 12.0) / 1e6, rel=1e-12)
    assert mini_src == "config"  # no cache_read price: cached input paid at the input rate
    assert mini == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6, rel=1e-12)
    assert (rep, rep_src) == (0.25, "reported")


def test_unpriced_is_null_never_zero() -> None:
    table = calls(
        {"provider": "acme", "model": "secret-model", "input_tokens": 10, "output_tokens": 1},
        {"provider": "self", "model": "llama-3-8b", "input_tokens": 10, "output_tokens": 1},
        {"input_tokens": None, "output_tokens": None},  # no usage recorded: cost unknown
        {"input_tokens": None, "output_tokens": None, "failed": True},  # a refused call: free
        {"provider": None, "model": None, "input_tokens": 10},
    )
    assert priced(table) == [
        (None, "unpriced"),
        (None, "unpriced"),
        (None, "unpriced"),
        (0.0, "catalog"),
        (None, "unpriced"),
    ]


def test_prices_at_the_calls_time() -> None:
    # o3 was cut from $10/$40 to $2/$8 per 1M on 2025-06-10
    before, after = priced(
        calls(
            {"model": "o3", "start_time": datetime(2025, 6, 9, 23, 0), "input_tokens": 1_000_000},
            {"model": "o3", "start_time": datetime(2025, 6, 10, 1, 0), "input_tokens": 1_000_000},
        )
    )
    assert before[0] == pytest.approx(10.0) and after[0] == pytest.approx(2.0)


def test_time_of_day_prices_follow_the_half_hour() -> None:
    # deepseek-chat: standard rate 00:30-16:30 UTC, off-peak discount outside it
    table = calls(
        *[
            {
                "provider": "deepseek",
                "model": "deepseek-chat",
                "start_time": datetime(2025, 3, 1, h, m),
                "input_tokens": 1_000_000,
            }
            for h, m in ((0, 15), (0, 45), (16, 15), (16, 45))
        ]
    )
    got = [c for c, _ in priced(table)]
    want = [
        float(
            calc_price(
                Usage(input_tokens=1_000_000),
                "deepseek-chat",
                provider_id="deepseek",
                genai_request_timestamp=datetime(2025, 3, 1, h, m, tzinfo=UTC),
            ).total_price
        )
        for h, m in ((0, 15), (0, 45), (16, 15), (16, 45))
    ]
    assert got == pytest.approx(want, rel=1e-12)
    assert got[0] < got[1] and got[2] > got[3]


CASES = [
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4o"),
    ("openai", "o3"),
    ("openai", "gpt-4"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("gcp.vertex_ai", "gemini-2.5-pro"),
    ("google", "gemini-1.5-flash"),
    ("aws.bedrock", "amazon.nova-pro-v1:0"),
    ("mistral_ai", "mistral-large-latest"),
    ("deepseek", "deepseek-chat"),
    (None, "gpt-4o-mini"),
]


def test_agrees_with_genai_prices_call_by_call() -> None:
    rng = random.Random(7)
    rows = []
    for i in range(400):
        provider, model = CASES[i % len(CASES)]
        inp = rng.choice([0, 50, 5_000, 150_000, 250_000])
        rows.append(
            {
                "provider": provider,
                "model": model,
                "start_time": datetime(
                    2025, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
                ),
                "input_tokens": inp,
                "cache_read_tokens": rng.randint(0, inp // 2),
                "cache_write_tokens": rng.choice([0, inp // 10]),
                "output_tokens": rng.randint(0, 3000),
            }
        )
    ours = priced(calls(*rows))
    from costper.pricing._aliases import CATALOG_PROVIDERS  # the OTel names genai-prices lacks

    checked = 0
    for row, (cost, source) in zip(rows, ours, strict=True):
        pid = row["provider"]
        try:
            want = calc_price(
                Usage(
                    input_tokens=row["input_tokens"],
                    cache_read_tokens=row["cache_read_tokens"],
                    cache_write_tokens=row["cache_write_tokens"],
                    output_tokens=row["output_tokens"],
                ),
                row["model"],
                provider_id=CATALOG_PROVIDERS.get(pid, pid) if pid else None,
                genai_request_timestamp=row["start_time"].replace(tzinfo=UTC),
            ).total_price
        except LookupError:
            assert (cost, source) == (None, "unpriced")
            continue
        assert source == "catalog"
        assert cost == pytest.approx(float(want), rel=1e-9, abs=1e-15), row
        checked += 1
    assert checked >= 300


def test_distinct_provider_model_day_priced_once() -> None:
    catalog_prices.cache_clear()
    rows = [
        {"model": model, "start_time": datetime(2025, 7, day, hour), "input_tokens": 10}
        for model in ("gpt-4o-mini", "gpt-4o")
        for day in (1, 2, 3)
        for hour in range(24)
        for _ in range(50)
    ]
    out = price_calls(calls(*rows), Config())
    assert out.num_rows == 2 * 3 * 24 * 50
    assert catalog_prices.cache_info().misses == 2 * 3  # one catalog look-up per combination
