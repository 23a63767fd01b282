"""One spelling per provider and per model, shared by telemetry, pricing and billing.

Spans, SDKs, bills and the price catalog each name providers their own way
(`az.ai.openai`, `Azure OpenAI`, `vertexai`, `bedrock`) and models with dates,
regions and versions (`anthropic.claude-3-5-sonnet-20240620-v1:0`). A call
and the bill line that paid for it only meet if both sides go through the
same table, so this module is the only place those spellings live.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LLM_PROVIDERS = frozenset(
    {
        "openai", "anthropic", "aws.bedrock", "azure.ai.openai", "azure.ai.inference",
        "gcp.vertex_ai", "gcp.gemini", "gcp.gen_ai", "mistral_ai", "cohere", "deepseek", "groq",
        "x_ai", "perplexity", "ibm.watsonx.ai",
    }
)  # fmt: skip
"""The `gen_ai.provider.name` values of the OTel GenAI conventions."""

PROVIDER_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure_openai": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "openai.chat": "openai",
    "openai.responses": "openai",
    "openai.completion": "openai",
    "openai.embedding": "openai",
    "anthropic.messages": "anthropic",
    "google.generative-ai": "gcp.gemini",
    "google.vertex": "gcp.vertex_ai",
    "mistral.chat": "mistral_ai",
    "amazon-bedrock": "aws.bedrock",
    "azure-openai": "azure.ai.openai",
    "azure.chat": "azure.ai.openai",
}
"""Other spellings (deprecated `gen_ai.system` values, SDK and bill names, the Vercel AI
SDK's `provider.api` ids) of a provider."""

FRAMEWORKS = frozenset(
    {
        "strands-agents", "langchain", "langgraph", "llamaindex", "llama_index", "crewai",
        "pydantic-ai", "pydantic_ai", "smolagents", "haystack", "autogen", "google_adk",
        "openai-agents", "ai",
    }
)  # fmt: skip
"""Agent frameworks that put their own name where the provider goes (Strands Agents'
`gen_ai.system`): no provider, so the model alone prices the call."""

CATALOG_PROVIDERS = {
    "x_ai": "xai",
    "gcp.gen_ai": "google",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
}
"""Canonical providers the genai-prices catalog knows under another id."""

CANON_PATTERNS = (
    r"^(.*/)?((us|eu|apac|global|jp|au)\.)?"
    r"((anthropic|meta|amazon|cohere|ai21|mistral|deepseek|openai|qwen|writer|stability)\.)?",
    r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-v\d+@\d{8}|@\d{8}|-\d{3,4})?(-latest|-preview)?"
    r"(-v\d+:\d+|:\d+)?$",
)
"""Prefixes (path, region, vendor) then suffixes (date, alias, version), applied
in order to a lower-cased model name, by Python here and by Ibis in the
billing join, so a bill's `anthropic.claude-3-5-sonnet-20240620-v1:0` and a
span's `claude-3-5-sonnet-20240620` both read `claude-3-5-sonnet`; Vertex's
`gemini-2.0-flash-001` and `claude-3-5-sonnet-v2@20241022`, OpenAI's
`gpt-3.5-turbo-0125` drop their version the same way. No lookaheads: DuckDB's
RE2 runs them too."""


def normalise_provider(value: object) -> str | None:
    """A provider as its `gen_ai.provider.name` value; a framework's name is no provider
    (None); unknown names lower-cased as given."""
    if value is None:
        return None
    p = str(value).strip().lower()
    if p in FRAMEWORKS:
        return None
    return PROVIDER_ALIASES.get(p, p) or None


def catalog_provider(provider: str | None) -> str | None:
    """The genai-prices provider id for a canonical provider."""
    return CATALOG_PROVIDERS.get(provider, provider) if provider else None


def canonical_model(model: str | None) -> str | None:
    """A model name without vendor prefix, region, date or version suffix."""
    if model is None:
        return None
    m = model.strip().lower()
    for pattern in CANON_PATTERNS:
        m = re.sub(pattern, "", m)
    return m or None


def split_ref(
    ref: str, normalise: Callable[[str], str | None] = normalise_provider
) -> tuple[str | None, str]:
    """'provider/model' as (canonical provider, model); a bare model has no provider.

    Config keys (`[prices."acme/X-1"]`), `--model` values and bill tags all
    read through here, so `Bedrock/X-1` and `aws.bedrock/x-1` are one model.
    """
    if "/" in ref:
        p, m = ref.split("/", 1)
        return normalise(p), m
    return None, ref


def ref_key(ref: str) -> str:
    """The spelling two refs share when they name the same model: 'provider/model', lower case."""
    provider, model = split_ref(ref.strip())
    return f"{provider or ''}/{model.strip().lower()}"
