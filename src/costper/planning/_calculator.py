"""Scenario calculator: cost per intent and per success from a handful of numbers.

Before a team has telemetry it has guesses: tokens per call, a price, a
success rate, how often a human picks up the pieces. This turns those guesses
into the article's arithmetic, so "the cheap model" can be priced per solved
problem before anyone ships it.

Arithmetic is Decimal and exact; rounding happens only in `costper._format` when a
figure is displayed, so the article's tables come out to the cent and two
scenarios differ by exactly what their inputs differ by.

The cost of one intent (one user goal):

    call cost     = token_cost, or input × price_input/1e6 + output × price_output/1e6
                    (prices from the flags, the config's [prices] or the genai-prices catalog)
    token cost    = turns × call cost                     (extra turns are part of it)
    retries       = turns × retry_rate × call cost        (a retried call is paid again)
    escalation    = escalation_rate × escalation_cost
    review        = review_rate × review_cost
    orchestration = turns × (1 + retry_rate) × orchestration   (per call, retries included,
                                                                 as in the engine's cost model)
    infra         = infra per month / intents per month
    cost per intent  = sum of the above
    cost per success = cost per intent / success_rate     (escalated intents are failures,
                                                            so success_rate <= 1 - escalation_rate)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from costper._format import whole_percent
from costper.config import Price
from costper.errors import InputError

ZERO, ONE, MILLION = Decimal(0), Decimal(1), Decimal(1_000_000)

RATES = ("retry_rate", "success_rate", "escalation_rate", "review_rate")
NON_NEGATIVE = (
    "input_tokens",
    "output_tokens",
    "price_input",
    "price_output",
    "token_cost",
    "escalation_cost",
    "review_cost",
    "orchestration",
    "infra",
)
POSITIVE = ("intents", "turns")
TOKEN_INPUTS = ("input_tokens", "output_tokens", "price_input", "price_output", "model")


@dataclass(frozen=True)
class Scenario:
    """One what-if; every field is also a `costper calc` flag (`--retry-rate` ...)."""

    name: str = "custom"
    intents: Decimal = Decimal(10_000)
    input_tokens: Decimal = ZERO
    output_tokens: Decimal = ZERO
    price_input: Decimal | None = None
    price_output: Decimal | None = None
    model: str | None = None
    token_cost: Decimal | None = None
    turns: Decimal = ONE
    retry_rate: Decimal = ZERO
    success_rate: Decimal | None = None
    escalation_rate: Decimal = ZERO
    escalation_cost: Decimal = Decimal("15.00")
    review_rate: Decimal = ZERO
    review_cost: Decimal = Decimal("2.00")
    orchestration: Decimal = ZERO
    infra: Decimal = ZERO
    note: str = field(default="", compare=False)


PARAMETERS = tuple(f.name for f in fields(Scenario) if f.name not in ("name", "note"))


def _d(text: str) -> Decimal:
    return Decimal(text)


EXAMPLES: dict[str, Scenario] = {
    "chatbot-mini": Scenario(
        name="chatbot-mini",
        input_tokens=_d("2533"),
        price_input=_d("0.15"),
        price_output=_d("0.60"),
        turns=_d("5"),
        success_rate=_d("0.70"),
        escalation_rate=_d("0.30"),
        escalation_cost=_d("15.00"),
        note="Article scenario A: GPT-4o-mini at 0.15/1M input; 2,533 input tokens a turn "
        "(0.00038) x 5 turns = 0.0019 an intent; 70% resolved, 30% escalate at 15.00.",
    ),
    "chatbot-reasoning": Scenario(
        name="chatbot-reasoning",
        input_tokens=_d("1400"),
        price_input=_d("10.00"),
        price_output=_d("30.00"),
        turns=_d("1"),
        success_rate=_d("0.95"),
        escalation_rate=_d("0.05"),
        escalation_cost=_d("15.00"),
        note="Article scenario B: GPT-4 at 10.00/1M input; 1,400 input tokens = 0.014 an "
        "intent in 1 turn; 95% resolved, 5% escalate at 15.00.",
    ),
    "invoices-before": Scenario(
        name="invoices-before",
        intents=_d("166667"),
        token_cost=_d("0.08"),
        retry_rate=_d("0.35"),
        review_rate=_d("0.10"),
        review_cost=_d("2.00"),
        note="Article case study, before: 0.08 a page in tokens, 35% retried, 10% reviewed "
        "by a person at 2.00 a page; 2M pages a year = 166,667 a month.",
    ),
    "invoices-after": Scenario(
        name="invoices-after",
        intents=_d("166667"),
        token_cost=_d("0.036"),
        retry_rate=_d("0.10"),
        review_rate=_d("0.02"),
        review_cost=_d("2.00"),
        orchestration=_d("0.001"),
        note="Article case study, after: 0.036 a page inference + infra (the article gives "
        "them together), 10% retried, 2% reviewed at 2.00, 0.001 orchestration a call.",
    ),
}


def to_decimal(value: object, label: str) -> Decimal:
    """A number from a flag, TOML or JSON value; floats go through str so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"{label}: expected a number, got {value!r}", field=label, value=value)
    else:
        try:
            d = Decimal(str(value).strip().replace("_", ""))
        except InvalidOperation:
            raise InputError(
                f"{label}: expected a number, got {value!r}", field=label, value=value
            ) from None
    if not d.is_finite():
        raise InputError(
            f"{label}: expected a finite number, got {value!r}", field=label, value=value
        )
    if d and not -15 <= d.adjusted() < 15:
        raise InputError(
            f"{label}: {value!r} is out of range (between 1e-15 and 1e15 in size)",
            field=label,
            value=value,
        )
    return d


def build_scenario(
    values: Mapping[str, object],
    *,
    base: Scenario | None = None,
    name: str | None = None,
    label: str = "",
) -> Scenario:
    """Layer `values` (parameter name -> raw value) over `base` and validate the result.

    Errors name the parameter (`retry_rate`, which the CLI shows as `--retry-rate`);
    a `label` is a prefix for parameters read from a file (`scenarios.mini.retry_rate`).
    A base's own `token_cost` is dropped when tokens, prices or a model are
    given without one, so `--price-input` on an example is not silently ignored.
    """
    base = base or Scenario()
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        shown = _label(key, label)
        if key not in PARAMETERS:
            known = ", ".join(_label(p, label) for p in PARAMETERS)
            raise InputError(f"{shown}: unknown parameter (known: {known})", field=shown)
        if raw is None:
            continue
        if key == "model":
            if not isinstance(raw, str) or not raw.strip():
                raise InputError(
                    f"{shown}: expected a model name, got {raw!r}", field=shown, value=raw
                )
            changes[key] = raw.strip()
        else:
            changes[key] = to_decimal(raw, shown)
    if "token_cost" not in changes and any(k in changes for k in TOKEN_INPUTS):
        changes["token_cost"] = None
    if (
        "escalation_rate" in changes
        and "success_rate" not in changes
        and base.success_rate is not None
        and base.success_rate + base.escalation_rate == ONE
    ):
        changes["success_rate"] = None  # every failure escalated: success follows the new rate
    if changes and base.note:
        said = ", ".join(f"{k} = {v}" for k, v in changes.items() if v is not None)
        changes["note"] = f"{base.note.split(':')[0]}, changed: {said}." if said else base.note
    s = replace(base, **changes, name=name or base.name)
    validate(s, label)
    return s


def _label(key: str, label: str) -> str:
    return f"{label}.{key}" if label else key


def validate(s: Scenario, label: str = "") -> None:
    """Refuse what cannot be: a rate above 1, a negative price, no intents."""
    for key in RATES:
        v = getattr(s, key)
        if v is not None and not ZERO <= v <= ONE:
            raise _bad(key, label, v, "must be a rate between 0 and 1")
    for key in NON_NEGATIVE:
        v = getattr(s, key)
        if v is not None and v < 0:
            raise _bad(key, label, v, "must not be negative")
    for key in POSITIVE:
        if getattr(s, key) <= 0:
            raise _bad(key, label, getattr(s, key), "must be greater than 0")
    if s.success_rate is not None and s.success_rate + s.escalation_rate > ONE:
        raise _bad(
            "success_rate",
            label,
            s.success_rate,
            f"escalated intents are failures, so it can be at most 1 - "
            f"{_label('escalation_rate', label)} = {ONE - s.escalation_rate}",
        )


def _bad(key: str, label: str, value: Decimal, why: str) -> InputError:
    shown = _label(key, label)
    return InputError(f"{shown}: {why}, got {value}", field=shown, value=str(value))


def call_cost(s: Scenario, prices: Mapping[str, Price] | None = None) -> tuple[Decimal, str]:
    """Price of one call and where it came from ('token cost', 'prices', 'config', 'catalog')."""
    if s.token_cost is not None:
        return s.token_cost, "token cost"
    pin, pout = s.price_input, s.price_output
    if s.model is not None and (pin is None or pout is None):
        from costper.pricing._lookup import call_price  # Arrow and the catalog: on use

        looked_up = call_price(
            s.model, s.input_tokens, s.output_tokens, prices or {},
            hint="; give price_input and price_output instead",
        )  # fmt: skip
        # A price given as a parameter wins over the looked-up one, kind by kind.
        tin = s.input_tokens * pin / MILLION if pin is not None else looked_up.input
        tout = s.output_tokens * pout / MILLION if pout is not None else looked_up.output
        return tin + tout, looked_up.source
    pin = pin if pin is not None else ZERO
    pout = pout if pout is not None else ZERO
    return s.input_tokens * pin / MILLION + s.output_tokens * pout / MILLION, "prices"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    call_cost: Decimal
    price_source: str
    token_cost: Decimal
    extra_turns: Decimal
    retries: Decimal
    escalation: Decimal
    review: Decimal
    orchestration: Decimal
    infra: Decimal
    cost_per_intent: Decimal
    success_rate: Decimal
    cost_per_success: Decimal | None
    calls_per_intent: Decimal
    monthly_total: Decimal
    successes_per_month: Decimal

    def hidden(self) -> dict[str, Decimal]:
        """What cost per token does not show, by kind."""
        return {
            "retries": self.retries,
            "escalation": self.escalation,
            "review": self.review,
            "orchestration": self.orchestration,
            "infra": self.infra,
        }


def evaluate(s: Scenario, prices: Mapping[str, Price] | None = None) -> Result:
    validate(s)
    per_call, source = call_cost(s, prices)
    token = s.turns * per_call
    retries = s.turns * s.retry_rate * per_call
    calls = s.turns * (ONE + s.retry_rate)
    escalation = s.escalation_rate * s.escalation_cost
    review = s.review_rate * s.review_cost
    orchestration = calls * s.orchestration
    infra = s.infra / s.intents
    cpi = token + retries + escalation + review + orchestration + infra
    success = s.success_rate if s.success_rate is not None else ONE - s.escalation_rate
    return Result(
        scenario=s,
        call_cost=per_call,
        price_source=source,
        token_cost=token,
        extra_turns=(s.turns - ONE) * per_call if s.turns > ONE else ZERO,
        retries=retries,
        escalation=escalation,
        review=review,
        orchestration=orchestration,
        infra=infra,
        cost_per_intent=cpi,
        success_rate=success,
        cost_per_success=cpi / success if success > 0 else None,
        calls_per_intent=calls,
        monthly_total=cpi * s.intents,
        successes_per_month=s.intents * success,
    )


def change_pct(new: Decimal | None, base: Decimal | None) -> Decimal | None:
    """(new - base) / base in percent; negative means cheaper."""
    if new is None or base is None or base == 0:
        return None
    return (new - base) / base * 100


def verdict(new: Decimal | None, base: Decimal | None) -> str:
    """'83% cheaper', '12% dearer', 'the same'."""
    p = change_pct(new, base)
    if p is None:
        return "n/a"
    whole = whole_percent(p)
    if whole == 0:
        return "the same"
    return f"{abs(whole)}% cheaper" if whole < 0 else f"{whole}% dearer"
