"""Service tiers: a call served by OpenAI's flex or priority tier, or by a batch API,
is priced at that tier's catalog price, and the tier is stored and shown.

Expected costs are genai-prices' own, computed here with its price context for
the tier at the call's start time; the standard price is computed too, to show
the tier changed the figure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from test_linking import spans_of

from costper.config import Config
from costper.engine._session_detail import session_detail
from costper.store._store import open_store
from costper.telemetry._traces import ingest_request

MODEL = "gpt-5-mini"


def genai_price(
    span: Any, context: dict[str, str] | None, inp: int = 2000, cached: int = 500, out: int = 400
) -> float:
    usage = Usage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out)
    at = datetime.fromtimestamp(span.start_time / 1e9, tz=UTC)
    calc = calc_price(
        usage, MODEL, provider_id="openai", genai_request_timestamp=at, price_context=context
    )
    return float(calc.total_price)


def tiered_spans() -> list[Any]:
    def build(tp: Any) -> None:
        tracer = tp.get_tracer("opentelemetry.instrumentation.openai.v1")
        base = {
            "gen_ai.system": "openai",
            "gen_ai.request.model": MODEL,
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.cache_read_input_tokens": 500,
            "gen_ai.usage.output_tokens": 400,
            "session.id": "s-1",
        }
        tiers = (
            {"openai.response.service_tier": "flex", "openai.request.service_tier": "flex"},
            {"gen_ai.openai.response.service_tier": "priority"},
            {"openai.request.service_tier": "auto", "openai.response.service_tier": "default"},
            {"costper.service_tier": "batch"},
            {},
        )
        for i, extra in enumerate(tiers):
            with tracer.start_as_current_span(f"openai.chat-{i}", attributes={**base, **extra}):
                pass

    return spans_of(build)


def test_tiers_priced_from_the_catalog_and_shown(tmp_path: Path) -> None:
    spans = tiered_spans()
    contexts = (
        {"service_tier": "flex"},
        {"service_tier": "priority"},
        None,
        {"processing": "batch"},
        None,
    )
    want = [genai_price(s, c) for s, c in zip(spans, contexts, strict=True)]
    standard = genai_price(spans[0], None)
    assert want[0] < standard < want[1] and want[3] < standard  # the tiers differ

    db = tmp_path / "tiers.duckdb"
    with open_store(db) as store:
        ingest_request(store, Config(db=str(db)), encode_spans(spans))
        rows = store.sql(
            "SELECT service_tier, estimated_cost, cost_source FROM calls ORDER BY start_time"
        ).to_pylist()
        detail = session_detail(store, Config(db=str(db)), "s-1")
    assert [r["service_tier"] for r in rows] == ["flex", "priority", "default", "batch", None]
    assert [r["estimated_cost"] for r in rows] == pytest.approx(want)
    assert {r["cost_source"] for r in rows} == {"catalog"}
    assert detail is not None
    assert [c["service_tier"] for c in detail["calls"]] == [
        "flex", "priority", "default", "batch", None,
    ]  # fmt: skip


@pytest.mark.compat
def test_openllmetry_openai_flex_response(tmp_path: Path) -> None:
    """The real OpenAI client and OpenLLMetry: the response says it was served by flex."""
    pytest.importorskip("opentelemetry.instrumentation.openai")
    import openai
    from compat_harness import PROMPT, all_modes, app_span, captured, provider
    from fake_openai import FakeOpenAI, Reply
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    replies = {
        "flex": Reply(
            prompt_tokens=2000, cached_tokens=500, completion_tokens=400, service_tier="flex"
        ),
        "std": Reply(prompt_tokens=2000, cached_tokens=500, completion_tokens=400),
    }
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(replies, model=MODEL) as api, captured() as spans:
            client = openai.OpenAI(base_url=api.url, api_key="sk-fake", max_retries=0)
            with app_span("s-1", "support"):
                for script, tier in (("flex", "flex"), ("std", "auto")):
                    client.chat.completions.create(
                        model=MODEL,
                        service_tier=tier,  # type: ignore[arg-type]
                        messages=[{"role": "user", "content": f"{PROMPT} SCRIPT:{script}"}],
                    )
    finally:
        instrumentor.uninstrument()
    calls = all_modes(spans, tmp_path)
    llm = [s for s in spans if s.name != "turn"]
    assert [c["session_id"] for c in calls] == ["s-1", "s-1"]
    assert [c["service_tier"] for c in calls] == ["flex", "default"]
    assert [c["estimated_cost"] for c in calls] == pytest.approx(
        [genai_price(llm[0], {"service_tier": "flex"}), genai_price(llm[1], None)]
    )
