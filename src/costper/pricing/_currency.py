"""Currencies: money is never added across two of them without a rate the user gave.

Telemetry estimates are in the catalog's currency (USD: genai-prices and
`[prices]` are per-USD); a bill is in its `BillingCurrency`. A EUR bill
spread 1:1 onto USD estimates, or a USD and a EUR file summed, is money
wrong by the exchange rate, silently. So every conversion goes through the
rates of `[currency]`:

    [currency]
    report = "EUR"          # what reports are shown in (default USD)
    [currency.rates]
    USD = 0.92              # one USD is worth 0.92 EUR

and where a rate is missing costper refuses, naming both currencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from costper.errors import InputError

ESTIMATES = "USD"
"""The currency of telemetry estimates and of the cost stored on calls."""


@dataclass(frozen=True)
class Rates:
    """Rates into the report currency: `rates[X]` is what one X is worth in `report`."""

    report: str = ESTIMATES
    rates: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, config: object) -> Rates:
        return cls(
            str(getattr(config, "currency", ESTIMATES)).upper(),
            {k.upper(): float(v) for k, v in getattr(config, "rates", {}).items()},
        )

    def _value(self, code: str) -> float | None:
        c = code.upper()
        return 1.0 if c == self.report else self.rates.get(c)

    def factor(self, source: str, target: str) -> float:
        """What one `source` is worth in `target`; InputError naming both when unknown."""
        s, t = source.upper(), target.upper()
        if s == t:
            return 1.0
        vs, vt = self._value(s), self._value(t)
        if vs is None or vt is None:
            missing = s if vs is None else t
            raise InputError(
                f"amounts in {s} and {t} cannot be added without a rate: set "
                f'[currency] report = "{self.report}" and [currency.rates] {missing} = <value of '
                f"one {missing} in {self.report}> in costper.toml",
                field="currency",
                value=f"{s}/{t}",
            )
        return vs / vt

    def factors(self, sources: Iterable[str | None], target: str) -> dict[str, float]:
        """`factor` for each currency found (nulls ignored): all known, or an error."""
        return {s.upper(): self.factor(s, target) for s in set(sources) if s}
