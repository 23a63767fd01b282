"""Compatibility: the Anthropic SDK, which traces itself through the global tracer
provider, alone and under OpenLLMetry's and OpenInference's instrumentors.

With an instrumentor, each call is recorded twice: the SDK's own
`anthropic.messages.create`-style span and the instrumentor's span, siblings
with the same response id. Each call must be stored once, with the cache reads
and writes Anthropic reports apart from the input tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compat_harness import COMPLETION, PROMPT, all_modes, app_span, captured, price, provider
from fake_openai import FakeOpenAI, Reply

anthropic = pytest.importorskip("anthropic")
pytestmark = pytest.mark.compat

MODEL = "claude-3-5-haiku-20241022"
REPLIES = {
    # Anthropic's input_tokens leave out cache reads and writes.
    "a1": Reply(
        prompt_tokens=300,
        cached_tokens=1000,
        cache_write_tokens=200,
        completion_tokens=120,
        text=COMPLETION,
    ),
    "b1": Reply(prompt_tokens=500, completion_tokens=80, text=COMPLETION),
    "limited": Reply(status=429),
}


def scenario(api: FakeOpenAI) -> None:
    client = anthropic.Anthropic(
        base_url=api.url.removesuffix("/v1"), api_key="sk-ant-fake", max_retries=0
    )

    def ask(script: str) -> None:
        client.messages.create(
            model=MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": f"{PROMPT} SCRIPT:{script}"}],
        )

    with app_span("s-1", "support", **{"enduser.id": "acme"}):
        ask("a1")
        ask("a1")
        with pytest.raises(anthropic.RateLimitError):
            ask("limited")
    with app_span("s-2", "billing"):
        ask("b1")


def cost(script: str) -> float:
    r = REPLIES[script]
    total_input = r.prompt_tokens + r.cached_tokens + r.cache_write_tokens
    return float(
        price(
            MODEL,
            "anthropic",
            input_tokens=total_input,
            output_tokens=r.completion_tokens,
            cache_read=r.cached_tokens,
            cache_write=r.cache_write_tokens,
        )
    )


def check(calls: list[dict[str, Any]]) -> None:
    assert len(calls) == 4, [(c["operation"], c["input_tokens"]) for c in calls]
    assert [c["session_id"] for c in calls] == ["s-1", "s-1", "s-1", "s-2"]
    assert [c["feature"] for c in calls] == ["support", "support", "support", "billing"]
    assert [c["tenant"] for c in calls] == ["acme", "acme", "acme", None]
    assert [c["failed"] for c in calls] == [False, False, True, False]
    assert {c["provider"] for c in calls} == {"anthropic"}
    assert all(c["model"].startswith("claude-3-5-haiku") for c in calls)
    ok = [calls[0], calls[1], calls[3]]
    assert [(c["input_tokens"], c["output_tokens"]) for c in ok] == [
        (1500, 120),
        (1500, 120),
        (500, 80),
    ]
    assert [(c["cache_read_tokens"], c["cache_write_tokens"]) for c in calls[:2]] == [
        (1000, 200),
        (1000, 200),
    ]
    assert calls[0]["estimated_cost"] == pytest.approx(cost("a1"))
    assert calls[1]["estimated_cost"] == pytest.approx(cost("a1"))
    assert calls[3]["estimated_cost"] == pytest.approx(cost("b1"))
    assert calls[2]["estimated_cost"] in (0.0, None)


def run(instrumentor: Any | None) -> list[Any]:
    if instrumentor is not None:
        instrumentor.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(REPLIES) as api, captured() as spans:
            scenario(api)
    finally:
        if instrumentor is not None:
            instrumentor.uninstrument()
    return spans


def test_anthropic_sdk_own_spans(tmp_path: Path) -> None:
    spans = run(None)
    assert any("anthropic" in s.instrumentation_scope.name for s in spans)
    check(all_modes(spans, tmp_path))


def test_openllmetry_anthropic(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.instrumentation.anthropic")
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    spans = run(AnthropicInstrumentor())
    scopes = {s.instrumentation_scope.name for s in spans}
    assert len(scopes - {"compat-app"}) == 2, scopes  # the SDK's and the instrumentor's
    check(all_modes(spans, tmp_path))


def test_openinference_anthropic(tmp_path: Path) -> None:
    pytest.importorskip("openinference.instrumentation.anthropic")
    from openinference.instrumentation.anthropic import AnthropicInstrumentor

    spans = run(AnthropicInstrumentor())
    check(all_modes(spans, tmp_path))
