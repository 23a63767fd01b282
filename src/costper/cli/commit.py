"""`costper commit`: how much committed capacity (PTUs, GSUs, model units) to buy.

Parse, call the core (planning/_capacity, _commitment, _demand), render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FeatureOption,
    FormatOption,
    SinceOption,
    UntilOption,
    check_format,
    config,
    opt,
    source_for,
    time_range,
)
from costper.errors import InputError
from costper.planning._calculator import to_decimal

if TYPE_CHECKING:  # NumPy, Arrow and the store: loaded when the command runs
    from costper.planning._capacity import UnitSpec
    from costper.planning._commitment import Plan, Sizing

Num = Annotated[str | None, Any]


@app.command("commit")
def commit_cmd(
    provider: Annotated[
        str, opt("Who sells the capacity: azure, vertex or bedrock.", "--provider")
    ],
    model: Annotated[str, opt("The model, e.g. gpt-4o.", "--model")],
    deployment: Annotated[
        str | None,
        opt(
            "Azure deployment type: global, data-zone or regional (default global).", "--deployment"
        ),
    ] = None,
    unit_price: Annotated[
        str | None, opt("Price of one unit (PTU, GSU, model unit) per --price-per.", "--unit-price")
    ] = None,
    price_per: Annotated[
        str | None, opt("What --unit-price pays for: hour, month (730 h) or year.", "--price-per")
    ] = None,
    tpm_per_unit: Annotated[
        str | None, opt("Normalized tokens a minute one unit serves.", "--tpm-per-unit")
    ] = None,
    output_ratio: Annotated[
        str | None, opt("One output token counts as this many input tokens.", "--output-ratio")
    ] = None,
    cached_weight: Annotated[
        str | None, opt("One cached input token counts as this many (Azure: 0).", "--cached-weight")
    ] = None,
    min_units: Annotated[str | None, opt("Smallest purchase in units.", "--min-units")] = None,
    increment: Annotated[str | None, opt("Purchase step in units.", "--increment")] = None,
    rpm: Annotated[
        str | None, opt("Calculator form: peak calls per minute (no store read).", "--rpm")
    ] = None,
    prompt_tokens: Annotated[
        str | None, opt("Calculator form: prompt tokens per call.", "--prompt-tokens")
    ] = None,
    output_tokens: Annotated[
        str | None, opt("Calculator form: response tokens per call.", "--output-tokens")
    ] = None,
    cache_rate: Annotated[
        str | None, opt("Calculator form: share of prompt tokens cached, 0-1.", "--cache-rate")
    ] = None,
    feature: FeatureOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Units needed by the provider's formula, and the commitment that costs least over
    the observed minute-by-minute demand (also sized at p95, p99 and peak demand)."""
    from costper.planning._capacity import resolve_spec
    from costper.planning._commitment import plan, size
    from costper.planning._demand import observed_demand

    check_format(fmt)
    cfg = config(db, config_file)
    configured = next(
        (c for r, c in cfg.commitments.items() if r.lower() == f"{provider}/{model}".lower()), None
    )
    flags: dict[str, Any] = {
        "unit_price": unit_price and to_decimal(unit_price, "unit_price"),
        "price_per": price_per,
        "tpm_per_unit": tpm_per_unit and to_decimal(tpm_per_unit, "tpm_per_unit"),
        "output_ratio": output_ratio and to_decimal(output_ratio, "output_ratio"),
        "cached_weight": cached_weight and to_decimal(cached_weight, "cached_weight"),
        "min_units": min_units and _whole(min_units, "min_units"),
        "increment": increment and _whole(increment, "increment"),
    }
    if price_per is not None and unit_price is None:
        raise InputError("--price-per needs --unit-price", field="price_per", value=price_per)
    dep = deployment or (configured.deployment if configured else None) or "global"
    spec = resolve_spec(provider, model, dep, cfg.commitments, flags)
    calc = [rpm, prompt_tokens, output_tokens]
    if any(v is not None for v in calc) or cache_rate is not None:
        if any(v is None for v in calc):
            raise InputError(
                "--rpm, --prompt-tokens and --output-tokens go together (the calculator form)",
                field="rpm",
            )
        sizing = size(
            spec, to_decimal(rpm, "rpm"), to_decimal(prompt_tokens, "prompt_tokens"),
            to_decimal(output_tokens, "output_tokens"),
            to_decimal(cache_rate or "0", "cache_rate"),
        )  # fmt: skip
        _emit_sizing(sizing, fmt, cfg.currency)
        return
    s, u = time_range(since, until)
    with source_for(cfg, read_only=True) as store:
        demand = observed_demand(store, model, cfg, since=s, until=u, feature=feature)
    result = plan(demand, spec)
    if fmt == "json":
        render.write_json(result.to_dict())
    elif fmt == "csv":
        render.write_csv([{k: v for k, v in o.items()} for o in result.to_dict()["options"]])
    else:
        print_plan(result)


def _whole(text: str, name: str) -> int:
    d = to_decimal(text, name)
    if d != d.to_integral_value() or d < 1:
        raise InputError(
            f"{name}: expected a whole number >= 1, got {text!r}", field=name, value=text
        )
    return int(d)


def _about(spec: UnitSpec) -> str:
    return (
        f"{spec.provider}{' ' + spec.deployment if spec.provider == 'azure' else ''} "
        f"{spec.unit}s for {render.safe(spec.model)}: "
        f"{spec.tpm_per_unit:,f} normalized tokens a minute per {spec.unit}, an output token "
        f"counts {spec.output_ratio.normalize():f}x, a cached input token "
        f"{spec.cached_weight.normalize():f}x; buy {spec.min_units} then steps of {spec.increment}"
        + (f" [dim]({render.safe(spec.source)})[/dim]" if spec.source else "")
    )


def _emit_sizing(s: Sizing, fmt: str, currency: str) -> None:
    if fmt == "json":
        render.write_json(s.to_dict())
        return
    if fmt == "csv":
        render.write_csv([s.to_dict()])
        return
    con = render.console()
    con.print(_about(s.spec))
    con.print(
        f"Input TPM {s.input_tpm.normalize():,f}, output TPM {s.output_tpm.normalize():,f}, "
        f"normalized TPM {s.normalized_tpm.normalize():,f} (cache rate "
        f"{render.pct(float(s.cache_rate))})"
    )
    con.print(
        f"{s.spec.unit}s required: {s.raw_units:.2f} -> {s.units} (rounded up to a purchasable size)"
    )
    if s.cost_per_month is not None:
        con.print(f"Cost: {render.money(s.cost_per_month)} {currency} a month (730 h)")


def print_plan(p: Plan) -> None:
    con = render.console()
    unit = p.spec.unit
    con.print(_about(p.spec))
    days = p.minutes / 1440
    con.print(
        f"Observed from {p.start:%Y-%m-%d %H:%M} UTC for {p.minutes:,} minutes ({days:.1f} days): "
        f"{p.calls:,} calls in {p.active_minutes:,} busy minutes; pay-as-you-go "
        f"{render.money(p.payg)} {p.currency}."
    )
    t = p.demand_tpm
    con.print(
        f"Normalized tokens a minute: mean {t['mean']:,.0f}, p95 {t['p95']:,.0f}, "
        f"p99 {t['p99']:,.0f}, peak {t['peak']:,.0f} (nearest rank, idle minutes count as 0)."
    )
    price = float(p.spec.price_per_hour or 0)
    be = p.break_even_utilisation
    con.print(
        f"One {unit} costs {render.money(price)} {p.currency} an hour; it pays for itself above "
        + (
            f"{render.pct(be)} utilisation."
            if be is not None and be <= 1
            else "100% utilisation: never."
        )
    )
    tbl = render.table(
        f"Commitment options over the observed window ({p.currency})",
        [
            (h, "left" if h == "sized for" else "right")
            for h in (
                "sized for",
                f"{unit}s",
                "commitment",
                "overflow (pay-as-you-go)",
                "total",
                "total a month",
                "saving",
                "utilisation",
                "demand served",
            )
        ],  # fmt: skip
    )
    month = p.to_dict()["per_month_factor"]
    for o in p.options:
        tbl.add_row(
            o.label, f"{o.units:,}", render.money(o.commitment), render.money(o.overflow),
            render.money(o.total), render.money(o.total * month), render.money(o.saving),
            "-" if o.utilisation is None else render.pct(o.utilisation),
            render.pct(o.served_share),
        )  # fmt: skip
    con.print(tbl)
    best = p.optimal
    if best.units == 0:
        con.print(f"Cheapest: stay on pay-as-you-go; no commitment of {unit}s costs less.")
    else:
        con.print(
            f"Cheapest: {best.units:,} {unit}s, saving {render.money(best.saving)} {p.currency} "
            f"over the window ({render.money(best.saving * month)} a month) against pay-as-you-go."
        )
