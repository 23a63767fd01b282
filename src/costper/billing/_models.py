"""Which model, if any, a FOCUS line bills, and what telemetry calls it.

Bills name models every which way (`ModelId` in `SkuPriceDetails`, a tag, a
meter called "Claude Sonnet 4 Input Tokens", a dated id in telemetry), so
both sides are brought to one form: providers to the `gen_ai.provider.name`
values, models to a canonical name without vendor prefix, region, version or
date suffix. A line is read in the order DESIGN.md gives: `SkuPriceDetails`,
`Tags`, config rules, then known model names in `SkuMeter`, `SkuId`,
`ChargeDescription`, `ResourceName`. Self-hosted hardware (`[[infra]]`
resources) comes first of all: a GPU is infra whatever its SKU says.

Rows are not walked one by one: the columns that decide are joined into one
key per row, and only the distinct keys (and distinct `Tags`) are read in
Python.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pyarrow as pa
import pyarrow.compute as pc

from costper.billing._columns import KNOWN_COLUMNS
from costper.config import Config
from costper.errors import ConfigError
from costper.pricing._aliases import LLM_PROVIDERS, PROVIDER_ALIASES, canonical_model, split_ref

BUILTIN_MODELS = (
    "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o",
    "gpt-4o-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo", "o1", "o1-mini", "o3", "o3-mini",
    "o4-mini", "text-embedding-3-small", "text-embedding-3-large", "claude-opus-4-1",
    "claude-opus-4", "claude-sonnet-4", "claude-sonnet-4-5", "claude-haiku-4-5",
    "claude-3-7-sonnet", "claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-opus",
    "claude-3-haiku", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-1.5-pro", "gemini-1.5-flash", "llama-3-8b", "llama-3-70b", "llama-3.1-8b",
    "llama-3.1-70b", "llama-3.1-405b", "mistral-large", "mistral-small", "command-r",
    "command-r-plus", "titan-text-express", "nova-pro", "nova-lite", "nova-micro", "nova-premier",
    "mistral-7b", "mixtral-8x7b", "llama-3.2-1b", "llama-3.2-3b", "llama-3.3-70b",
    "deepseek-chat", "deepseek-reasoner",
)  # fmt: skip

DECIDING = (
    "ServiceProviderName", "ServiceName", "ServiceCategory", "SkuPriceDetails", "SkuMeter",
    "SkuId", "ChargeDescription", "ResourceName", "ResourceId", "ConsumedUnit", "PricingUnit",
    "x_UsageType", "x_SkuMeterName", "x_SkuMeterSubcategory", "x_ServiceTier",
)  # fmt: skip
# Where clouds put the model: meters (Azure "gpt-4o 1120 Inp glbl Tokens", Google
# "Gemini 2.0 Flash Text Input - Predictions"), AWS usage types
# ("USE1-Claude3.5Sonnet-input-tokens") and Marketplace service names ("Claude 3.5
# Sonnet (Amazon Bedrock Edition)"), cost exports' line items ("evals | gpt-4o-mini").
TEXT_FIELDS = (
    "SkuMeter", "x_SkuMeterName", "x_UsageType", "SkuId", "ChargeDescription", "ServiceName",
    "ResourceName",
)  # fmt: skip
MODEL_TAGS = (
    "costper.model",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "model",
    "modelid",
    "model_id",
)
PROVIDER_TAGS = ("costper.provider", "gen_ai.provider.name", "provider", "custom_llm_provider")
REQUEST_TAGS = (
    "request_id",
    "requestid",
    "x_requestid",
    "costper.request.id",
    "gen_ai.response.id",
)
_SEP = "\x1f"
_NULL = "\x00"


@dataclass(frozen=True)
class Identity:
    allocation: str | None
    provider: str | None
    model: str | None
    token_kind: str | None
    usage_kind: str | None = None


def bill_provider(name: str | None, service: str | None = None) -> str | None:
    """A provider's name on a bill (and its service) as a `gen_ai.provider.name` value."""
    if not name and not service:
        return None
    n = (name or "").strip().lower()
    s = (service or "").strip().lower()
    both = f"{n} {s}"
    if n in LLM_PROVIDERS:
        return n
    if n.replace(" ", "_") in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[n.replace(" ", "_")]
    if "bedrock" in both:
        return "aws.bedrock"
    if ("azure" in both or "microsoft" in n) and "openai" in both:
        return "azure.ai.openai"
    if "azure" in both or "microsoft" in n:
        return "azure.ai.inference" if ("foundry" in s or "ai inference" in s) else "azure"
    if "google" in n or "gcp" in n:
        if "vertex" in s:
            return "gcp.vertex_ai"
        return "gcp.gemini" if ("gemini" in s or "generative language" in s) else "gcp"
    if n in ("aws", "amazon", "amazon web services") or n.startswith("amazon web services"):
        return "aws"
    for needle, value in (
        ("openai", "openai"), ("anthropic", "anthropic"), ("mistral", "mistral_ai"),
        ("cohere", "cohere"), ("deepseek", "deepseek"), ("groq", "groq"), ("x.ai", "x_ai"),
        ("xai", "x_ai"), ("perplexity", "perplexity"), ("watsonx", "ibm.watsonx.ai"),
    ):  # fmt: skip
        if needle in both:
            return value
    return re.sub(r"\s+", "_", n) or None


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORDS = re.compile(r"[a-z0-9]+")
_CLAUDE = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+(?:-\d+)?)$")


def _words(text: str) -> list[str]:
    """Lower-case alphanumeric runs, CamelCase split: 'USE1-Claude3.5Sonnet' ->
    use1 claude 3 5 sonnet; '4o', '70b' stay whole; a '+' is 'plus' (AWS
    Marketplace's "Cohere Command R+ (Amazon Bedrock Edition)")."""
    return _WORDS.findall(_CAMEL.sub(" ", text.replace("+", " plus ")).lower())


class ModelNames:
    """Finds the longest known model name inside free text such as a meter name.

    Names and text are compared as runs of whole words with separators dropped,
    so `gpt-4.1-nano` is found in Azure's "gpt 4.1 nano cached Inp glbl Tokens",
    `claude-3-5-sonnet` in "USE1-Claude3.5Sonnet-input-tokens", and `o3` never
    inside another word. Anthropic's newer names also read in the order AWS
    usage types write them (`Claude4.5Sonnet` is `claude-sonnet-4-5`).
    """

    _SPAN = 8

    def __init__(self, names: Iterable[str]) -> None:
        by_key: dict[str, str] = {}
        for n in names:
            c = canonical_model(n)
            if not c:
                continue
            words = _words(c)
            by_key.setdefault("".join(words), c)
            if len(words) > 2 and words[-1] == "instruct":
                # Bedrock's usage types drop it: "USE1-Llama4-Maverick-17B-input-tokens".
                by_key.setdefault("".join(words[:-1]), c)
            m = _CLAUDE.match(c)
            if m:
                by_key.setdefault("".join(_words(f"claude-{m[2]}-{m[1]}")), c)
        self._canon = by_key

    def find(self, text: str | None) -> str | None:
        if not text:
            return None
        words = _words(text)
        best: tuple[int, int, str] | None = None
        for i in range(len(words)):
            key = ""
            for j in range(i, min(i + self._SPAN, len(words))):
                key += words[j]
                hit = self._canon.get(key)
                if hit and (best is None or len(key) > best[0]):
                    best = (len(key), -i, hit)
        return best[2] if best else None


def _json_object(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        v = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return {str(k).lower(): val for k, val in v.items()} if isinstance(v, dict) else {}


def _first(d: Mapping[str, object], keys: Iterable[str]) -> str | None:
    for k in keys:
        v = d.get(k)
        if v not in (None, ""):
            return str(v)
    return None


_INPUT = {"input", "inp", "inpt", "prompt"}
_OUTPUT = {"output", "outp", "outpt", "opt", "completion", "generated"}


def token_kind(details: Mapping[str, object], *texts: str | None) -> str | None:
    """input, output, cache_read or cache_write, from SkuPriceDetails or the meter's words.

    Meter words as the clouds write them: Azure "Inp"/"Outp"/"cached Inp",
    Bedrock "-cache-read-input-token-count"/"-cache-write-...", Google "Text
    Input"/"Input Text Caching", Anthropic "uncached_input_tokens".
    """
    cache = str(details.get("tokencacheaction") or details.get("x_tokencacheaction") or "")
    direction = str(
        details.get("tokendirection")
        or details.get("tokentype")
        or details.get("x_tokendirection")
        or details.get("x_tokentype")
        or ""
    ).lower()
    if cache.lower() in ("read", "hit"):
        return "cache_read"
    if cache.lower() in ("write", "creation"):
        return "cache_write"
    if direction in ("input", "output"):
        return direction
    words = set(_words(" ".join(x for x in texts if x)))
    if words & {"cache", "cached", "caching"}:
        return "cache_write" if words & {"write", "creation", "storage"} else "cache_read"
    if words & _OUTPUT:
        return "output"
    if words & (_INPUT | {"uncached"}):
        return "input"
    return None


USAGE_KINDS = {
    "batch": "batch",
    "evals": "evals",
    "eval": "evals",
    "evaluation": "evals",
    "finetune": "fine_tuning",
    "finetuned": "fine_tuning",
    "finetuning": "fine_tuning",
    "training": "fine_tuning",
    "ft": "fine_tuning",
    "storage": "storage",
    "hosting": "storage",
    "vectorstore": "storage",
}
"""Words of a meter or line item naming usage other than inference; a line with
one only goes onto calls whose operation is of that kind."""


def usage_kind(*texts: str | None) -> str:
    """inference, or the kind of other usage a line's words name (first found)."""
    words = _words(" ".join(x for x in texts if x))
    pairs = [a + b for a, b in zip(words, words[1:], strict=False)]
    for w in words + pairs:
        if w in USAGE_KINDS:
            return USAGE_KINDS[w]
    return "inference"


def _openai_family(model: str) -> bool:
    return (
        re.match(r"(gpt|o\d|text-embedding|dall-e|whisper|tts|chatgpt|davinci|babbage)", model)
        is not None
    )


def _refine(provider: str | None, model: str) -> str | None:
    """A cloud's provider once the model is known: Azure's AI Services meters bill
    Azure OpenAI (`azure.ai.openai`) for OpenAI models, the Foundry inference API
    for others; a Google or AWS line that bills a model is Vertex AI or Bedrock."""
    if provider in ("azure", "azure.ai.inference"):
        return "azure.ai.openai" if _openai_family(model) else "azure.ai.inference"
    if provider == "gcp":
        return "gcp.vertex_ai"
    if provider == "aws":
        return "aws.bedrock"
    return provider


def check_rules(config: Config) -> None:
    for i, rule in enumerate(config.billing_models):
        for col in rule.match:
            if col not in KNOWN_COLUMNS and not col.startswith("x_"):
                raise ConfigError(
                    f"billing.models[{i}].match: {col!r} is not a FOCUS column (nor an x_ column)"
                )


def _infra_for(resource_id: str | None, config: Config) -> str | None:
    if not resource_id:
        return None
    for res in config.infra:
        rid = res.resource_id
        if resource_id == rid or resource_id.endswith(("/" + rid, ":" + rid)):
            return res.model
    return None


def _identify(
    row: Mapping[str, str | None], tag: Mapping[str, object], config: Config, names: ModelNames
) -> Identity:
    infra = _infra_for(row.get("ResourceId"), config)
    if infra:
        p, m = split_ref(infra, bill_provider)
        return Identity("infra", p, m, None)
    provider = bill_provider(row.get("ServiceProviderName"), row.get("ServiceName"))
    details = _json_object(row.get("SkuPriceDetails"))
    texts = [row.get(c) for c in TEXT_FIELDS if c != "ResourceName"] + [row.get("x_ServiceTier")]
    kind = token_kind(details, *texts)
    usage = usage_kind(*texts)
    model = _first(details, ("x_modelid", "modelid", "x_model_id", "model_id", "model"))
    if model is None and tag.get("model"):
        tp, model = split_ref(str(tag["model"]), bill_provider)
        provider = tp or (bill_provider(str(tag["provider"])) if tag.get("provider") else provider)
    if model is None:
        for rule in config.billing_models:
            if all(
                fnmatchcase((row.get(c) or "").lower(), g.lower()) for c, g in rule.match.items()
            ):
                provider, model = split_ref(rule.model, bill_provider)
                return Identity("model", provider, model, kind, usage)
    if model is None:
        unit = f"{row.get('ConsumedUnit') or ''} {row.get('PricingUnit') or ''}".lower()
        ai_line = (
            provider in LLM_PROVIDERS
            or row.get("ServiceCategory") == "AI and Machine Learning"
            or "token" in unit
        )
        if ai_line:
            for col in TEXT_FIELDS:
                model = names.find(row.get(col))
                if model:
                    break
    if model is None:
        return Identity(None, provider, None, None)
    return Identity("model", _refine(provider, canonical_model(model) or model), model, kind, usage)


def _tag_info(tags: str | None) -> dict[str, object]:
    d = _json_object(tags)
    return {
        "model": _first(d, MODEL_TAGS),
        "provider": _first(d, PROVIDER_TAGS),
        "request_id": _first(d, REQUEST_TAGS),
    }


def _keys(table: pa.Table, columns: list[str]) -> pa.ChunkedArray:
    n = table.num_rows
    arrays = [
        table.column(c) if c in table.column_names else pa.nulls(n, pa.string()) for c in columns
    ]
    opts = pc.JoinOptions(null_handling="replace", null_replacement=_NULL)
    return pc.binary_join_element_wise(*arrays, _SEP, options=opts)


def identify(columns: pa.Table, config: Config, known_models: Iterable[str] = ()) -> pa.Table:
    """allocation, provider, model, token_kind, request_id for every line of a typed FOCUS table."""
    check_rules(config)
    n = columns.num_rows
    names = ModelNames(
        list(BUILTIN_MODELS)
        + [split_ref(k, bill_provider)[1] for k in config.prices]
        + list(known_models)
    )
    rule_cols = sorted({c for r in config.billing_models for c in r.match} - set(DECIDING))
    tags = columns.column("Tags") if "Tags" in columns.column_names else pa.nulls(n, pa.string())
    tag_values = pc.unique(tags)
    tag_infos = [_tag_info(t) for t in tag_values.to_pylist()]
    tag_index = pc.index_in(tags, tag_values)
    # Tags vary per resource; only what they say of a model decides, so that is the key.
    tagged = columns.select([c for c in DECIDING + tuple(rule_cols) if c in columns.column_names])
    for fld in ("model", "provider"):
        values = pa.array([t[fld] for t in tag_infos], pa.string())
        tagged = tagged.append_column(f"_tag_{fld}", pc.take(values, tag_index))
    deciding = list(DECIDING) + rule_cols + ["_tag_model", "_tag_provider"]
    keys = _keys(tagged, deciding)
    uniques = pc.unique(keys)
    results = []
    for key in uniques.to_pylist():
        values = [None if v == _NULL else v for v in key.split(_SEP)]
        row = dict(zip(deciding, values, strict=True))
        tag = {"model": row["_tag_model"], "provider": row["_tag_provider"]}
        results.append(_identify(row, tag, config, names))
    index = pc.index_in(keys, uniques)
    out = {
        field: pc.take(pa.array([getattr(r, field) for r in results], pa.string()), index)
        for field in ("allocation", "provider", "model", "token_kind", "usage_kind")
    }
    request = pc.take(pa.array([t["request_id"] for t in tag_infos], pa.string()), tag_index)
    if "x_RequestId" in columns.column_names:
        request = pc.coalesce(pc.cast(columns.column("x_RequestId"), pa.string()), request)
    out["request_id"] = request
    # A line a gateway tagged with its request bills that request, model named or not.
    out["allocation"] = pc.if_else(
        pc.and_(pc.is_null(out["allocation"]), pc.is_valid(request)), "model", out["allocation"]
    )
    return pa.table(out)
