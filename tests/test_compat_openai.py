"""Compatibility: OpenAI SDK instrumentations (OTel openai-v2, OpenInference, OpenLLMetry).

Each instrumentor traces the real `openai` client calling the fake upstream
inside the app's own spans (which carry session, feature and tenant, and end
after the calls); every batching mode must store the same four calls: the
same prompt sent twice is two calls, the rate-limited one is a failed call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from compat_harness import COMPLETION, PROMPT, all_modes, app_span, captured, price, provider
from fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.compat

REPLIES = {
    "a1": Reply(prompt_tokens=1200, cached_tokens=1024, completion_tokens=300, text=COMPLETION),
    "b1": Reply(prompt_tokens=800, completion_tokens=150, text=COMPLETION),
    "limited": Reply(status=429),
}


def scenario(api: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=api.url, api_key="sk-fake", max_retries=0)

    def ask(script: str) -> None:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"{PROMPT} SCRIPT:{script}"}],
        )

    with app_span("s-1", "support", **{"enduser.id": "acme"}):
        ask("a1")
        ask("a1")  # the same prompt again: a second call, never merged
        with pytest.raises(openai.RateLimitError):
            ask("limited")
    with app_span("s-2", "billing"):
        ask("b1")


def expected_cost(script: str) -> float:
    r = REPLIES[script]
    return float(
        price(
            "gpt-4o-mini",
            "openai",
            input_tokens=r.prompt_tokens,
            output_tokens=r.completion_tokens,
            cache_read=r.cached_tokens,
        )
    )


def check(
    calls: list[dict[str, Any]], *, cache_counts: bool = True, failed_source: str = "catalog"
) -> None:
    assert len(calls) == 4
    assert [c["session_id"] for c in calls] == ["s-1", "s-1", "s-1", "s-2"]
    assert [c["feature"] for c in calls] == ["support", "support", "support", "billing"]
    assert [c["tenant"] for c in calls] == ["acme", "acme", "acme", None]
    assert [c["failed"] for c in calls] == [False, False, True, False]
    assert {c["provider"] for c in calls} == {"openai"}
    assert all(c["model"].startswith("gpt-4o-mini") for c in calls)
    assert [(c["input_tokens"], c["output_tokens"]) for c in calls] == [
        (1200, 300),
        (1200, 300),
        (None, None),
        (800, 150),
    ]
    costs = [c["estimated_cost"] for c in calls]
    if cache_counts:
        assert [c["cache_read_tokens"] for c in calls][:2] == [1024, 1024]
        assert costs[0] == pytest.approx(expected_cost("a1"))
        assert costs[1] == pytest.approx(expected_cost("a1"))
    # A refused call has no usage: the catalog prices its zero tokens at zero.
    assert costs[2] == 0.0 and calls[2]["cost_source"] == failed_source
    assert costs[3] == pytest.approx(expected_cost("b1"))


def run(instrumentor: Any) -> list[Any]:
    instrumentor.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(REPLIES) as api, captured() as spans:
            scenario(api)
    finally:
        instrumentor.uninstrument()
    return spans


def test_openinference_openai(tmp_path: Path) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    check(all_modes(run(OpenAIInstrumentor()), tmp_path))


def test_openllmetry_openai(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.instrumentation.openai")
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    check(all_modes(run(OpenAIInstrumentor()), tmp_path))


def test_otel_openai_v2(tmp_path: Path) -> None:
    """openai-v2 sends no cache counts: its cost is the uncached price (it says no more)."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    calls = all_modes(run(OpenAIInstrumentor()), tmp_path)
    check(calls, cache_counts=False)
