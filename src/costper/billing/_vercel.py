"""Vercel's FOCUS export: JSON lines that say FOCUS 1.3 but carry a subset of it.

`GET /v1/billing/charges` (vercel.com/docs/rest-api/billing/list-focus-billing-charges)
streams one JSON object per charge with BilledCost, BillingCurrency,
ChargeCategory, ChargePeriodStart/End, ConsumedQuantity/Unit, EffectiveCost,
PricingCategory/Currency/Quantity/Unit, ServiceName, ServiceProviderName, Tags
(ProjectId, ProjectName) and optionally RegionId/Name and ServiceCategory, at
one-day grain per team. The columns FOCUS makes mandatory that it leaves out
are derived here, each stated in a warning: the billing period is the charge's
calendar month, the invoice issuer and host provider are the service provider,
the billing account is null (a scope of its own, see _snapshots.py), the
rest null.
"""

from __future__ import annotations

_SHAPE = {"ServiceProviderName", "BilledCost", "ChargePeriodStart", "ServiceName"}
_MONTH = (
    "strftime(date_trunc('month', CAST(TRY_CAST(trim(\"ChargePeriodStart\") AS TIMESTAMPTZ) "
    "AS TIMESTAMP)){plus}, '%Y-%m-%dT%H:%M:%SZ')"
)


def complete_vercel(present: set[str]) -> tuple[dict[str, str], str | None]:
    """SQL for the mandatory columns a Vercel-shaped JSON lines export lacks, and a note."""
    if not _SHAPE <= present or "BillingPeriodStart" in present or "BillingAccountId" in present:
        return {}, None
    derived = {
        "BillingPeriodStart": _MONTH.format(plus=""),
        "BillingPeriodEnd": _MONTH.format(plus=" + INTERVAL 1 MONTH"),
        "InvoiceIssuerName": '"ServiceProviderName"',
        "HostProviderName": '"ServiceProviderName"',
        "BillingAccountId": "CAST(NULL AS VARCHAR)",
        "BillingAccountName": "CAST(NULL AS VARCHAR)",
        "ChargeClass": "CAST(NULL AS VARCHAR)",
        "ChargeDescription": "CAST(NULL AS VARCHAR)",
        "ListCost": "CAST(NULL AS VARCHAR)",
        "ContractedCost": "CAST(NULL AS VARCHAR)",
        "ServiceCategory": "CAST(NULL AS VARCHAR)",
    }
    derived = {k: v for k, v in derived.items() if k not in present}
    note = (
        "read as Vercel's FOCUS JSON lines, which leave out "
        + ", ".join(sorted(derived))
        + ": billing period = the charge's calendar month, invoice issuer and host provider "
        "= ServiceProviderName, billing account and the rest null"
    )
    return derived, note
