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


def detect_version(names: set[str]) -> str:
    """The newest version whose own columns appear; 1.0 when none does."""
    for version, own in (("1.3", V13), ("1.2", V12), ("1.1", V11)):
        if names & set(own):
            return version
    return "1.0"
