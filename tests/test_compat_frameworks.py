"""Compatibility: agent frameworks over the OpenAI SDK (LangChain with OpenInference,
Pydantic AI, smolagents), against the fake upstream, in every batching mode.

LangChain with both OpenInference instrumentors is the hard case: the
`ChatOpenAI` span sits in the app's trace, while the OpenAI instrumentor's
`ChatCompletion` span of the same call starts a trace of its own. One call
must be stored per request sent, in the app's session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compat_harness import PROMPT, all_modes, app_span, captured, provider
from fake_openai import FakeOpenAI, Reply
from test_compat_openai import REPLIES, expected_cost
from test_compat_openai import check as check_four

pytestmark = pytest.mark.compat


def check(calls: list[dict[str, Any]], *, provider_name: str | None = "openai") -> None:
    assert len(calls) == 3, [(c["operation"], c["input_tokens"], c["trace_id"]) for c in calls]
    assert [c["session_id"] for c in calls] == ["s-1", "s-1", "s-2"]
    assert [c["feature"] for c in calls] == ["support", "support", "billing"]
    assert [c["failed"] for c in calls] == [False, False, False]
    assert {c["provider"] for c in calls} == {provider_name}
    assert all(c["model"].startswith("gpt-4o-mini") for c in calls)
    assert [(c["input_tokens"], c["output_tokens"]) for c in calls] == [
        (1200, 300),
        (1200, 300),
        (800, 150),
    ]
    assert [c["cache_read_tokens"] for c in calls][:2] == [1024, 1024]
    assert [c["estimated_cost"] for c in calls] == pytest.approx(
        [expected_cost("a1"), expected_cost("a1"), expected_cost("b1")]
    )


def test_langchain_with_openinference_langchain_and_openai(tmp_path: Path) -> None:
    pytest.importorskip("langchain_openai")
    pytest.importorskip("openinference.instrumentation.langchain")
    from langchain_openai import ChatOpenAI
    from openinference.instrumentation.langchain import LangChainInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    instrumentors = [LangChainInstrumentor(), OpenAIInstrumentor()]
    for i in instrumentors:
        i.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(REPLIES) as api, captured() as spans:
            llm = ChatOpenAI(
                model="gpt-4o-mini", base_url=api.url, api_key="sk-fake", max_retries=0
            )
            with app_span("s-1", "support"):
                llm.invoke(f"{PROMPT} SCRIPT:a1")
                llm.invoke(f"{PROMPT} SCRIPT:a1")
            with app_span("s-2", "billing"):
                llm.invoke(f"{PROMPT} SCRIPT:b1")
    finally:
        for i in instrumentors:
            i.uninstrument()
    scopes = {s.instrumentation_scope.name for s in spans if s.name != "turn"}
    assert len(scopes) == 2, scopes  # each call recorded by both layers
    check(all_modes(spans, tmp_path))


def test_pydantic_ai(tmp_path: Path) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    """Session from the run's `conversation_id`, feature from the run's metadata."""
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider()))
    try:
        with FakeOpenAI(REPLIES) as api, captured() as spans:
            model = OpenAIChatModel(
                "gpt-4o-mini", provider=OpenAIProvider(base_url=api.url, api_key="sk-fake")
            )
            agent = Agent(model)
            for session, feature, script in (
                ("s-1", "support", "a1"),
                ("s-1", "support", "a1"),
                ("s-2", "billing", "b1"),
            ):
                agent.run_sync(
                    f"{PROMPT} SCRIPT:{script}",
                    conversation_id=session,
                    metadata={"feature": feature},
                )
    finally:
        Agent.instrument_all(False)
    check(all_modes(spans, tmp_path))


def test_smolagents_with_openinference_smolagents_and_openai(tmp_path: Path) -> None:
    """A CodeAgent's run: its AGENT span and the model's span both carry the run's
    token counts, and the OpenAI instrumentor's span below them the call's own
    (with the cache reads). One call per request sent; a refused call is failed."""
    smolagents = pytest.importorskip("smolagents")
    pytest.importorskip("openinference.instrumentation.smolagents")
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor

    code = "Thought: done\n<code>\nfinal_answer('ok')\n</code>"
    replies = {k: Reply(**{**r.__dict__, "text": code}) for k, r in REPLIES.items()}
    instrumentors = [SmolagentsInstrumentor(), OpenAIInstrumentor()]
    for i in instrumentors:
        i.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(replies) as api, captured() as spans:
            model = smolagents.OpenAIServerModel(
                model_id="gpt-4o-mini",
                api_base=api.url,
                api_key="sk-fake",
                client_kwargs={"max_retries": 0},
                retry=False,  # smolagents waits a minute and more between rate-limit retries
            )

            def run(script: str) -> None:
                agent = smolagents.CodeAgent(tools=[], model=model, max_steps=1, verbosity_level=0)
                agent.run(f"{PROMPT} SCRIPT:{script}")

            with app_span("s-1", "support", **{"enduser.id": "acme"}):
                run("a1")
                run("a1")
                with pytest.raises(smolagents.utils.AgentGenerationError):
                    run("limited")
            with app_span("s-2", "billing"):
                run("b1")
    finally:
        for i in instrumentors:
            i.uninstrument()
    kinds = {s.attributes.get("openinference.span.kind") for s in spans}
    assert {"AGENT", "LLM", "CHAIN"} <= kinds, kinds
    check_four(all_modes(spans, tmp_path))
