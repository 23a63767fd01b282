"""What one unit of committed capacity serves: Azure PTUs, Vertex GSUs, Bedrock model units.

A provider sells capacity in units that each serve a number of *normalized*
tokens a minute: input tokens count once, an output token counts as
`output_ratio` input tokens, a cached input token as `cached_weight` (Azure
deducts cached tokens 100%: weight 0; where unpublished, 1). Units are bought as a minimum plus
whole increments.

Built in are only numbers a provider publishes. Azure's come from Microsoft's
"Determine PTU sizing for a workload" (learn.microsoft.com/azure/foundry/openai/
how-to/provisioned-throughput-sizing, tables "Latest/Previous Azure OpenAI
models", page dated 2026-09-23): input TPM per PTU, output-to-input ratio,
minimum deployment and scale increment per deployment type. Google's are from
"Provisioned Throughput: supported models" (cloud.google.com/vertex-ai/
generative-ai/docs/provisioned-throughput/supported-models): per-second
throughput per GSU (x 60 here) and the output text burndown rate, for the
Gemini models whose reasoning tokens burn at the output rate (2.5 Flash's
thinking tokens burn at 24, its answers at 4: not one ratio, so not built in);
Google gives no rate for cached tokens, so they count in full. AWS publishes
no throughput per Bedrock model unit. For those (and any model not listed)
the numbers come from `[commitments."provider/model"]` in the config or from
flags. No unit *price* is built in: PTU prices depend on region,
deployment type and reservation term, so the user states theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from costper.config import Commitment
from costper.errors import InputError, one_of
from costper.pricing._aliases import canonical_model

__all__ = ["PROVIDERS", "DEPLOYMENTS", "HOURS_PER", "UnitSpec", "resolve_spec", "hourly_price"]

PROVIDERS = {"azure": "PTU", "vertex": "GSU", "bedrock": "model unit"}
DEPLOYMENTS = ("global", "data-zone", "regional")
HOURS_PER = {"hour": Decimal(1), "month": Decimal(730), "year": Decimal(8760)}
"""Azure's pricing calculator counts 730 hours a month; a year is 8,760 hours."""

AZURE_SOURCE = (
    "Microsoft Learn, 'Determine PTU sizing for a workload' (provisioned-throughput-sizing), "
    "deployment parameters tables, 2026-09-23"
)
# model: (input TPM per PTU, output-to-input ratio, global & data zone minimum, increment,
#         regional minimum, regional increment) -- Microsoft's tables, as published.
_AZURE: dict[str, tuple[int, int, int, int, int, int]] = {
    "gpt-5.5": (1200, 6, 15, 5, 50, 50),
    "gpt-5.4": (2400, 6, 15, 5, 50, 50),
    "gpt-5.4-mini": (7900, 6, 15, 5, 25, 25),
    "gpt-5.2": (3400, 8, 15, 5, 50, 50),
    "gpt-5.1": (4750, 8, 15, 5, 50, 50),
    "gpt-5": (4750, 8, 15, 5, 50, 50),
    "gpt-5-mini": (23750, 8, 15, 5, 25, 25),
    "gpt-4.1": (3000, 4, 15, 5, 50, 50),
    "gpt-4.1-mini": (14900, 4, 15, 5, 25, 25),
    "gpt-4.1-nano": (59400, 4, 15, 5, 25, 25),
    "o3": (3000, 4, 15, 5, 50, 50),
    "o4-mini": (5400, 4, 15, 5, 25, 25),
    "gpt-4o": (2500, 4, 15, 5, 50, 50),
    "gpt-4o-mini": (37000, 4, 15, 5, 25, 25),
    "o3-mini": (2500, 4, 15, 5, 25, 25),
    "o1": (230, 4, 15, 5, 25, 50),
}


VERTEX_SOURCE = (
    "Google Cloud, 'Provisioned Throughput: supported models' (vertex-ai/generative-ai/docs/"
    "provisioned-throughput/supported-models), per-second throughput per GSU x 60"
)
# model: (tokens a minute per GSU, output burndown rate, minimum, increment); inputs up to
# 200k tokens for 2.5 Pro (longer ones burn double: not modelled).
_VERTEX: dict[str, tuple[int, int, int, int]] = {
    "gemini-2.5-pro": (540 * 60, 8, 1, 1),
    "gemini-2.0-flash": (3360 * 60, 4, 1, 1),
    "gemini-2.0-flash-lite": (6720 * 60, 4, 1, 1),
}


@dataclass(frozen=True)
class UnitSpec:
    """One provider's unit for one model and deployment type, and its price per hour."""

    provider: str
    model: str
    deployment: str
    tpm_per_unit: Decimal
    output_ratio: Decimal
    cached_weight: Decimal
    min_units: int
    increment: int
    price_per_hour: Decimal | None
    source: str

    @property
    def unit(self) -> str:
        return PROVIDERS[self.provider]


def hourly_price(price: Decimal, per: str, field: str = "price_per") -> Decimal:
    one_of(field, per, HOURS_PER)
    return price / HOURS_PER[per]


def published(provider: str, model: str, deployment: str) -> UnitSpec | None:
    if provider == "vertex":
        v = _VERTEX.get(canonical_model(model) or model)
        if v is None:
            return None
        tpm_v, ratio_v, min_v, inc_v = v
        return UnitSpec(
            provider, model, deployment, Decimal(tpm_v), Decimal(ratio_v), Decimal(1), min_v,
            inc_v, None, VERTEX_SOURCE,
        )  # fmt: skip
    if provider != "azure":
        return None
    row = _AZURE.get(canonical_model(model) or model)
    if row is None:
        return None
    tpm, ratio, gmin, ginc, rmin, rinc = row
    regional = deployment == "regional"
    return UnitSpec(
        provider, model, deployment, Decimal(tpm), Decimal(ratio), Decimal(0),
        rmin if regional else gmin, rinc if regional else ginc, None, AZURE_SOURCE,
    )  # fmt: skip


def resolve_spec(
    provider: str,
    model: str,
    deployment: str,
    configured: Mapping[str, Commitment],
    flags: Mapping[str, Decimal | int | str | None],
) -> UnitSpec:
    """Published numbers, overridden by the config's `[commitments."provider/model"]`,
    overridden by flags (`tpm_per_unit`, `output_ratio`, `cached_weight`, `min_units`,
    `increment`, `unit_price`, `price_per`). Anything still missing is an error naming
    both places to set it."""
    p = provider.strip().lower()
    if p not in PROVIDERS:
        one_of("provider", provider, PROVIDERS)  # names the value as given
    one_of("deployment", deployment, DEPLOYMENTS)
    key = f"{p}/{model}"
    cfg = _configured(configured, p, model)
    base = published(p, model, deployment)
    values: dict[str, object] = {}
    if base is not None:
        values.update(
            tpm_per_unit=base.tpm_per_unit, output_ratio=base.output_ratio,
            cached_weight=base.cached_weight, min_units=base.min_units, increment=base.increment,
        )  # fmt: skip
    else:
        # Unpublished: a cached token counts in full unless the user says otherwise.
        values.update(cached_weight=Decimal(1), output_ratio=None, min_units=1, increment=1)
    source = base.source if base is not None else ""
    price: Decimal | None = None
    if cfg is not None:
        for name in ("tpm_per_unit", "output_ratio", "cached_weight", "min_units", "increment"):
            v = getattr(cfg, name)
            if v is not None:
                values[name] = v
                source = f'config [commitments."{key}"]'
        if cfg.unit_price is not None:
            price = hourly_price(cfg.unit_price, cfg.price_per, f'commitments."{key}".price_per')
    for name in ("tpm_per_unit", "output_ratio", "cached_weight", "min_units", "increment"):
        if flags.get(name) is not None:
            values[name] = flags[name]
            source = "flags"
    if flags.get("unit_price") is not None:
        price = hourly_price(
            Decimal(str(flags["unit_price"])), str(flags.get("price_per") or "hour")
        )
    for name in ("tpm_per_unit", "output_ratio"):
        if values.get(name) is None:
            raise InputError(
                f"{name}: {key} has no published {PROVIDERS[p]} capacity built in; give "
                f'--{name.replace("_", "-")} or set it in [commitments."{key}"]',
                field=name,
            )
    spec = UnitSpec(
        p, model, deployment,
        Decimal(str(values["tpm_per_unit"])), Decimal(str(values["output_ratio"])),
        Decimal(str(values["cached_weight"])), int(str(values["min_units"])),
        int(str(values["increment"])), price, source,
    )  # fmt: skip
    _check(spec)
    return spec


def _configured(
    configured: Mapping[str, Commitment], provider: str, model: str
) -> Commitment | None:
    want = (provider, canonical_model(model) or model.lower())
    for ref, c in configured.items():
        p, _, m = ref.partition("/")
        if (p.strip().lower(), canonical_model(m) or m.lower()) == want:
            return c
    return None


def _check(spec: UnitSpec) -> None:
    if spec.tpm_per_unit <= 0:
        raise InputError(
            f"tpm_per_unit: must be > 0, got {spec.tpm_per_unit}", field="tpm_per_unit"
        )
    for name in ("output_ratio", "cached_weight"):
        if getattr(spec, name) < 0:
            raise InputError(f"{name}: must be >= 0, got {getattr(spec, name)}", field=name)
    if spec.min_units < 1 or spec.increment < 1:
        raise InputError(
            f"min_units and increment: must be >= 1, got {spec.min_units} and {spec.increment}",
            field="min_units" if spec.min_units < 1 else "increment",
        )
    if spec.price_per_hour is not None and spec.price_per_hour < 0:
        raise InputError(f"unit_price: must be >= 0, got {spec.price_per_hour}", field="unit_price")


def with_price(spec: UnitSpec, price_per_hour: Decimal | None) -> UnitSpec:
    return replace(spec, price_per_hour=price_per_hour)
