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
    "claude-3-haiku", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash",
    "gemini-1.5-pro", "gemini-1.5-flash", "llama-3-8b", "llama-3-70b", "llama-3.1-8b",
    "llama-3.1-70b", "llama-3.1-405b", "mistral-large", "mistral-small", "command-r",
    "command-r-plus", "titan-text-express", "nova-pro", "nova-lite", "nova-micro",
    "deepseek-chat", "deepseek-reasoner",
)  # fmt: skip

DECIDING = (
    "ServiceProviderName", "ServiceName", "ServiceCategory", "SkuPriceDetails", "SkuMeter",
    "SkuId", "ChargeDescription", "ResourceName", "ResourceId", "ConsumedUnit", "PricingUnit",
)  # fmt: skip
TEXT_FIELDS = ("SkuMeter", "SkuId", "ChargeDescription", "ResourceName")
MODEL_TAGS = (
    "costper.model",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "model",
    "modelid",
    "model_id",
)
PROVIDER_TAGS = ("costper.provider", "gen_ai.provider.name", "provider")
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


def bill_provider(name: str | None, service: str | None = None) -> str | None:
    """A provider's name on a bill (and its service) as a `gen_ai.provider.name` value."""
    if not name and not service:
        return None
    n = (name or "").strip().lower()
    s = (service or "").strip().lower()
    both = f"{n} {s}"
    if n in LLM_PROVIDERS:
        return n
    if n.replace(" ", "_") in PROVIDER_ALIASES and not s:
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


def _loose(text: str) -> str:
    return re.sub(r"[\s_.]+", "-", text.lower())


class ModelNames:
    """Finds the longest known model name inside free text such as a meter name."""

    def __init__(self, names: Iterable[str]) -> None:
        by_loose: dict[str, str] = {}
        for n in names:
            c = canonical_model(n)
            if c:
                by_loose.setdefault(_loose(c), c)
        self._canon = by_loose
        alternatives = sorted(by_loose, key=len, reverse=True)
        body = "|".join(re.escape(a) for a in alternatives) or "(?!)"
        self._re = re.compile(rf"(?<![a-z0-9])({body})(?![a-z0-9])")

    def find(self, text: str | None) -> str | None:
        if not text:
            return None
        m = self._re.search(_loose(text))
        return self._canon[m.group(1)] if m else None


def _json_object(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        v = json.loads(text)
    except ValueError:
        return {}
    return {str(k).lower(): val for k, val in v.items()} if isinstance(v, dict) else {}


def _first(d: Mapping[str, object], keys: Iterable[str]) -> str | None:
    for k in keys:
        v = d.get(k)
        if v not in (None, ""):
            return str(v)
    return None


def token_kind(details: Mapping[str, object], *texts: str | None) -> str | None:
    """input, output, cache_read or cache_write, from SkuPriceDetails or the meter's words."""
    cache = str(details.get("tokencacheaction") or "").lower()
    direction = str(details.get("tokendirection") or details.get("tokentype") or "").lower()
    if cache in ("read", "hit"):
        return "cache_read"
    if cache in ("write", "creation"):
        return "cache_write"
    if direction in ("input", "output"):
        return direction
    t = " ".join(x.lower() for x in texts if x)
    if "cache" in t or "cached" in t:
        return "cache_write" if ("write" in t or "creation" in t) else "cache_read"
    if any(w in t for w in ("output", "completion", "generated", "response token")):
        return "output"
    if any(w in t for w in ("input", "prompt")):
        return "input"
    return None


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
    kind = token_kind(details, row.get("SkuMeter"), row.get("ChargeDescription"), row.get("SkuId"))
    model = _first(details, ("modelid", "model_id", "model"))
    if model is None and tag.get("model"):
        tp, model = split_ref(str(tag["model"]), bill_provider)
        provider = tp or (bill_provider(str(tag["provider"])) if tag.get("provider") else provider)
    if model is None:
        for rule in config.billing_models:
            if all(
                fnmatchcase((row.get(c) or "").lower(), g.lower()) for c, g in rule.match.items()
            ):
                provider, model = split_ref(rule.model, bill_provider)
                break
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
    return Identity("model", provider, model, kind)


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
        for field in ("allocation", "provider", "model", "token_kind")
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
