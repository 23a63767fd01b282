"""Compatibility: provider SDKs other than OpenAI's and Anthropic's, each with a real
instrumentation, against the fake upstream, in every batching mode.

* AWS Bedrock through boto3 (OpenLLMetry's bedrock instrumentor): Converse and
  InvokeModel, whose input counts leave out the cache reads and writes;
* Google Gemini through google-genai (OpenInference), whose prompt count
  includes the cached tokens;
* Mistral through mistralai 1.x (OpenLLMetry), whose SDK also traces itself:
  each call is recorded by two spans, one inside the other.

Expected costs are genai-prices' for the scripted usage, with the provider's
own token semantics turned into genai-prices' (input counts all input).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compat_harness import COMPLETION, PROMPT, all_modes, app_span, captured, price, provider
from fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.compat

# Uncached input larger than the cache counts: the input's meaning cannot be
# guessed from the counts alone.
EXCLUSIVE = {  # Bedrock: input tokens leave out cache reads and writes
    "a1": Reply(
        prompt_tokens=1500,
        cached_tokens=1000,
        cache_write_tokens=200,
        completion_tokens=120,
        text=COMPLETION,
    ),
    "b1": Reply(prompt_tokens=500, completion_tokens=80, text=COMPLETION),
    "limited": Reply(status=429),
}
INCLUSIVE = {  # Gemini, Mistral: the prompt count includes the cached tokens
    "a1": Reply(prompt_tokens=1500, cached_tokens=1000, completion_tokens=120, text=COMPLETION),
    "b1": Reply(prompt_tokens=500, completion_tokens=80, text=COMPLETION),
    "limited": Reply(status=429),
}


def check(
    calls: list[dict[str, Any]],
    *,
    provider_name: str,
    model: str | set[str],
    tokens: list[tuple[int, int, int, int]],
    costs: list[float],
) -> None:
    """Four calls: a1 twice and a refused one in s-1 (support), b1 in s-2 (billing)."""
    summary = [(c["operation"], c["input_tokens"], c["model"], c["trace_id"][:6]) for c in calls]
    assert len(calls) == 4, summary
    assert [c["session_id"] for c in calls] == ["s-1", "s-1", "s-1", "s-2"]
    assert [c["feature"] for c in calls] == ["support", "support", "support", "billing"]
    assert [c["failed"] for c in calls] == [False, False, True, False]
    assert {c["provider"] for c in calls} == {provider_name}
    assert {c["model"] for c in calls} == (model if isinstance(model, set) else {model})
    ok = [c for c in calls if not c["failed"]]
    got = [
        (c["input_tokens"], c["output_tokens"], c["cache_read_tokens"] or 0)
        + (c["cache_write_tokens"] or 0,)
        for c in ok
    ]
    assert got == tokens
    assert [c["estimated_cost"] for c in ok] == pytest.approx(costs)
    assert all(c["cost_source"] == "catalog" for c in calls)
    refused = calls[2]
    assert refused["input_tokens"] in (None, 0) and refused["estimated_cost"] == 0.0


def expected(replies: dict[str, Reply], script: str, model: str, prov: str, *, inclusive: bool):
    """(input, output, cache read, cache write) in costper's meaning, and genai-prices' cost."""
    r = replies[script]
    extra = 0 if inclusive else r.cached_tokens + r.cache_write_tokens
    counts = (r.prompt_tokens + extra, r.completion_tokens, r.cached_tokens, r.cache_write_tokens)
    cost = price(
        model,
        prov,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_read=counts[2],
        cache_write=counts[3],
    )
    return counts, float(cost)


def _plan(replies: dict[str, Reply], model: str, prov: str, inclusive: bool) -> dict[str, Any]:
    scripts = ("a1", "a1", "b1")
    found = [expected(replies, s, model, prov, inclusive=inclusive) for s in scripts]
    return {"tokens": [f[0] for f in found], "costs": [f[1] for f in found]}


BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def test_bedrock_boto3_openllmetry(tmp_path: Path) -> None:
    """Converse (with cache reads and writes) and InvokeModel with an Anthropic body."""
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("opentelemetry.instrumentation.bedrock")
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import ClientError
    from opentelemetry.instrumentation.bedrock import BedrockInstrumentor

    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(EXCLUSIVE) as api, captured() as spans:
            client = boto3.client(
                "bedrock-runtime",
                region_name="us-east-1",
                endpoint_url=api.url.removesuffix("/v1"),
                aws_access_key_id="AKIAFAKE",
                aws_secret_access_key="fake",
                config=BotoConfig(retries={"total_max_attempts": 1}),
            )

            def converse(script: str) -> None:
                text = f"{PROMPT} SCRIPT:{script}"
                client.converse(
                    modelId=BEDROCK_MODEL,
                    messages=[{"role": "user", "content": [{"text": text}]}],
                )

            with app_span("s-1", "support"):
                converse("a1")
                converse("a1")
                with pytest.raises(ClientError):
                    converse("limited")
            with app_span("s-2", "billing"):
                body = {
                    "anthropic_version": "bedrock-2023-05-31",
                    "max_tokens": 100,
                    "messages": [{"role": "user", "content": f"{PROMPT} SCRIPT:b1"}],
                }
                client.invoke_model(modelId=BEDROCK_MODEL, body=json.dumps(body))
    finally:
        instrumentor.uninstrument()
    calls = all_modes(spans, tmp_path)
    plan = _plan(EXCLUSIVE, BEDROCK_MODEL, "aws", inclusive=False)
    # Converse spans name the requested model id (its vendor prefix cut), InvokeModel's
    # the model of Anthropic's response body: both price as Claude 3.5 Haiku on Bedrock.
    models = {"claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022"}
    check(calls, provider_name="aws.bedrock", model=models, **plan)


def test_gemini_google_genai_openinference(tmp_path: Path) -> None:
    pytest.importorskip("google.genai")
    pytest.importorskip("openinference.instrumentation.google_genai")
    from google import genai
    from google.genai import errors, types
    from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

    model = "gemini-2.0-flash"
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(INCLUSIVE, model=model) as api, captured() as spans:
            client = genai.Client(
                api_key="fake",
                http_options=types.HttpOptions(base_url=api.url.removesuffix("/v1")),
            )

            def ask(script: str) -> None:
                client.models.generate_content(model=model, contents=f"{PROMPT} SCRIPT:{script}")

            with app_span("s-1", "support"):
                ask("a1")
                ask("a1")
                with pytest.raises(errors.ClientError):
                    ask("limited")
            with app_span("s-2", "billing"):
                ask("b1")
    finally:
        instrumentor.uninstrument()
    plan = _plan(INCLUSIVE, model, "google", inclusive=True)
    check(all_modes(spans, tmp_path), provider_name="google", model=model, **plan)


def test_mistral_openllmetry(tmp_path: Path) -> None:
    """mistralai 1.x traces each HTTP call itself, inside the instrumentor's span."""
    mistralai = pytest.importorskip("mistralai")
    pytest.importorskip("opentelemetry.instrumentation.mistralai")
    from opentelemetry.instrumentation.mistralai import MistralAiInstrumentor

    model = "mistral-small-latest"
    instrumentor = MistralAiInstrumentor()
    instrumentor.instrument(tracer_provider=provider())
    try:
        with FakeOpenAI(INCLUSIVE, model=model) as api, captured() as spans:
            client = mistralai.Mistral(api_key="fake", server_url=api.url.removesuffix("/v1"))

            def ask(script: str) -> None:
                client.chat.complete(
                    model=model, messages=[{"role": "user", "content": f"{PROMPT} SCRIPT:{script}"}]
                )

            with app_span("s-1", "support"):
                ask("a1")
                ask("a1")
                with pytest.raises(mistralai.models.SDKError):
                    ask("limited")
            with app_span("s-2", "billing"):
                ask("b1")
    finally:
        instrumentor.uninstrument()
    plan = _plan(INCLUSIVE, model, "mistral", inclusive=True)
    check(all_modes(spans, tmp_path), provider_name="mistral_ai", model=model, **plan)
