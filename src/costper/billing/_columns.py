"""The FOCUS columns costper knows, by version: what is mandatory, what is typed how.

Versions are told apart by the columns each one introduced (1.1: SkuMeter,
SkuPriceDetails...; 1.2: InvoiceId, PricingCurrency...; 1.3:
ServiceProviderName, HostProviderName...), since exports carry no version
field. Mandatory means unconditionally required; columns the spec requires
only "when the provider supports" something are not demanded.
"""

from __future__ import annotations

V10 = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)  # fmt: skip
V11 = (
    "CapacityReservationId", "CapacityReservationStatus", "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails",
)  # fmt: skip
V12 = (
    "BillingAccountType", "SubAccountType", "InvoiceId", "PricingCurrency",
    "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
)  # fmt: skip
V13 = (
    "ServiceProviderName", "HostProviderName", "AllocatedMethodId", "AllocatedMethodDetails",
    "AllocatedResourceId", "AllocatedResourceName", "AllocatedTags", "ContractApplied",
)  # fmt: skip
KNOWN_COLUMNS = frozenset(V10 + V11 + V12 + V13)

_MANDATORY_10 = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ServiceCategory", "ServiceName",
)  # fmt: skip
MANDATORY = {
    "1.0": _MANDATORY_10 + ("ProviderName", "PublisherName"),
    "1.1": _MANDATORY_10 + ("ProviderName", "PublisherName"),
    "1.2": _MANDATORY_10 + ("ProviderName", "PublisherName"),
    "1.3": _MANDATORY_10 + ("ServiceProviderName", "HostProviderName"),
}
NUMERIC = (
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
    "ContractedUnitPrice", "ConsumedQuantity", "PricingQuantity", "CommitmentDiscountQuantity",
    "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
)  # fmt: skip
DATETIME = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
JSON_OBJECTS = ("Tags", "SkuPriceDetails")
NOT_NULL = (
    "BilledCost", "EffectiveCost", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd",
    "BillingPeriodStart", "BillingPeriodEnd", "BillingCurrency",
)  # fmt: skip
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
NULLS = ["", "NULL", "null", "Null"]


V05_ONLY = ("ChargeType", "InvoiceIssuer", "Provider", "Publisher", "UsageQuantity", "UsageUnit")
"""FOCUS 0.5 names that 1.0 renamed (ChargeCategory, InvoiceIssuerName, ProviderName...)."""

X_COLUMNS = (
    "x_RequestId", "x_UsageType", "x_SkuMeterName", "x_SkuMeterSubcategory", "x_ServiceTier",
    "x_RecencyLastUpdated",
)  # fmt: skip
"""Provider columns costper reads (AWS `x_UsageType`, Azure `x_SkuMeterName`...)."""


def detect_version(names: set[str]) -> str:
    """The newest version whose own columns appear; 1.0 when none does."""
    return detect(names)[0]


def detect(names: set[str]) -> tuple[str, str | None]:
    """The newest version whose own columns appear, and the column that told it."""
    for version, own in (("1.3", V13), ("1.2", V12), ("1.1", V11)):
        hit = sorted(names & set(own))
        if hit:
            return version, hit[0]
    return "1.0", None


def looks_like_05(names: set[str]) -> list[str]:
    """The 0.5-only columns of a file that has none of 1.0's renamed ones."""
    renamed = {"ChargeCategory", "InvoiceIssuerName", "ProviderName", "ServiceProviderName"}
    return [] if names & renamed else [c for c in V05_ONLY if c in names]


_BY_FOLDED = {c.lower(): c for c in (*KNOWN_COLUMNS, *X_COLUMNS, *V05_ONLY)}


def canonical_names(names: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Column names with FOCUS's spelling, whatever their case: Athena writes
    `billedcost`, Snowflake `BILLEDCOST`. Returns the names and what was renamed."""
    out, renamed = [], []
    taken = set(names)
    for n in names:
        canon = _BY_FOLDED.get(n.lower())
        if canon is None and n[:2].lower() == "x_" and not n.startswith("x_"):
            canon = "x_" + n[2:]
        if canon and canon != n and canon not in taken:
            renamed.append((n, canon))
            taken.add(canon)
            out.append(canon)
        else:
            out.append(n)
    return out, renamed
