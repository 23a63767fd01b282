"""`costper breakeven`: API against self-hosted GPUs. Parse, call the core, render."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FormatOption,
    WideOption,
    check_format,
    config,
    opt,
)

if TYPE_CHECKING:
    from costper.planning._breakeven import Comparison


@app.command("breakeven")
def breakeven_cmd(
    api_price: Annotated[
        str | None, opt("API price per 1M tokens (default 10.00).", "--api-price")
    ] = None,
    tokens_per_request: Annotated[
        str | None, opt("Tokens per request (default 1000).", "--tokens-per-request")
    ] = None,
    gpu_price: Annotated[
        str | None, opt("GPU price per hour (default 2.00).", "--gpu-price")
    ] = None,
    hours: Annotated[str | None, opt("GPU hours per month (default 730).", "--hours")] = None,
    throughput: Annotated[
        str | None, opt("Sustained tokens/s per GPU (default 800).", "--throughput")
    ] = None,
    utilisation: Annotated[
        str | None,
        opt("Target GPU utilisation, 0-1 (default 0.70).", "--utilisation", "--utilization"),
    ] = None,
    ops: Annotated[str | None, opt("Ops/MLOps cost per month (default 0).", "--ops")] = None,
    api_success_rate: Annotated[
        str | None, opt("Success rate of the API model (default 0.95).", "--api-success-rate")
    ] = None,
    self_success_rate: Annotated[
        str | None,
        opt("Success rate of the self-hosted model (default: the API's).", "--self-success-rate"),
    ] = None,
    failure_cost: Annotated[
        str | None, opt("Cost of a failure, e.g. a ticket (default 15.00).", "--failure-cost")
    ] = None,
    requests: Annotated[
        list[str] | None,
        opt("Your own monthly volume(s), shown beside 100k, 1M and 10M.", "--requests"),
    ] = None,
    plot: Annotated[
        str | None,
        opt(
            "Write a chart of cost per success against volume "
            "(FILE.svg, or FILE.png with matplotlib).",
            "--plot",
        ),
    ] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
    wide: WideOption = False,
) -> None:
    """API against self-hosted GPUs: monthly cost, GPUs needed, break-even volume.

    A failure costs the config's escalation cost (15.00 unless set) unless --failure-cost says.
    """
    from costper.planning._breakeven import (
        ARTICLE_VOLUMES,
        Deployment,
        build_deployment,
        check_volumes,
        comparison_json,
    )
    from costper.planning._breakeven import compare as compare_deployments
    from costper.planning._calculator import to_decimal
    from costper.planning._plot import write_plot

    check_format(fmt)
    cfg = config(db, config_file)
    base = Deployment(failure_cost=to_decimal(cfg.costs.escalation_cost, "costs.escalation_cost"))
    d = build_deployment(
        dict(
            api_price=api_price,
            tokens_per_request=tokens_per_request,
            gpu_price=gpu_price,
            hours=hours,
            throughput=throughput,
            utilisation=utilisation,
            ops=ops,
            api_success_rate=api_success_rate,
            self_success_rate=self_success_rate,
            failure_cost=failure_cost,
        ),
        base=base,
    )
    c = compare_deployments(d, list(ARTICLE_VOLUMES) + check_volumes(requests or []))
    if plot:
        write_plot(c, plot)
    doc = comparison_json(c)
    if fmt == "json":
        render.write_json(doc)
    elif fmt == "csv":
        render.write_csv(doc["rows"])  # type: ignore[arg-type]
    else:
        print_breakeven(c, plot, wide=wide)


def print_breakeven(c: Comparison, plot: str | None, *, wide: bool = False) -> None:
    from costper.cli.fit import Col, FitTable

    con = render.console()
    d = c.deployment
    con.print(
        f"API: {render.money(d.api_price)} per 1M tokens x {d.tokens_per_request.normalize():,f} tokens = "
        f"{render.money(d.api_per_request)} a request; success {render.rate(d.api_success_rate)}."
    )
    con.print(
        f"Self-hosted: {render.money(d.gpu_price)}/h x {d.hours.normalize():,f} h = "
        f"{render.money(d.gpu_month)} a month per GPU + ops {render.money(d.ops)}; one GPU serves "
        f"{int(d.requests_per_gpu):,} requests a month at {d.throughput.normalize():,f} "
        f"tokens/s and {render.rate(d.utilisation)} utilisation; success {render.rate(d.self_success)}."
    )
    t = FitTable(
        "Monthly cost, API vs self-hosted",
        [
            Col("requests", key=True),
            Col("GPUs", rank=5),
            Col("API compute", rank=6),
            Col("self-hosted", rank=7),
            Col("cheaper on compute", rank=4),
            Col("API per success", rank=2),
            Col("self per success", rank=3),
            Col("cheaper all-in", rank=1),
        ],
        wide=wide,
        key_figures=3,
    )
    for r in c.rows:
        t.add_row(
            f"{int(r.requests):,}",
            str(r.gpus),
            render.money(r.api_compute),
            render.money(r.self_compute),
            _cheaper(*r.cheaper()),
            render.money(r.api_per_success),
            render.money(r.self_per_success),
            _cheaper(*r.cheaper(all_in=True)),
        )
    t.print(con)
    for b, what in (
        (c.compute, "On compute alone"),
        (c.per_success, "Per success, failures priced in"),
    ):
        if b.requests is None:
            con.print(f"{what}: self-hosting never wins: {b.why}.")
        else:
            con.print(
                f"{what}: self-hosting is cheaper from {b.requests:,} requests a month "
                f"({b.gpus} GPU{'s' if b.gpus != 1 else ''})."
            )
    if plot:
        con.print(f"[dim]Chart written to {plot}.[/dim]")


def _cheaper(side: str, ratio: Decimal | None) -> str:
    name = {"api": "API", "self-hosted": "self-hosted", "same": "same"}[side]
    return f"{name} {ratio:.1f}x" if ratio is not None and side != "same" else name
