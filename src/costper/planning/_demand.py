"""The observed minute-by-minute demand of one model, read from the store as an Ibis query.

Calls are matched by canonical model name (`gpt-4o-2024-08-06` is `gpt-4o`)
whatever provider served them: the question is what the same traffic would
cost on committed capacity. Failed calls count: they used capacity too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow.compute as pc

from costper.config import Config
from costper.errors import InputError
from costper.planning._commitment import Demand
from costper.pricing._aliases import canonical_model
from costper.pricing._currency import ESTIMATES, Rates
from costper.store._source import Source, to_arrow

__all__ = ["observed_demand"]

_MINUTE = timedelta(minutes=1)


def observed_demand(
    source: Source,
    model: str,
    config: Config,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
) -> Demand:
    calls = source.table("calls")
    want = canonical_model(model) or model.lower()
    names = to_arrow(source, calls.select("model").distinct())["model"].to_pylist()
    matching = [m for m in names if m is not None and canonical_model(m) == want]
    if not matching:
        raise InputError(f"model: no calls of {model!r} in this store", field="model", value=model)
    t = calls.filter(calls.model.isin(matching))
    if since is not None:
        t = t.filter(t.start_time >= since.replace(tzinfo=None))
    if until is not None:
        t = t.filter(t.start_time < until.replace(tzinfo=None))
    if feature is not None:
        t = t.filter(t.feature == feature)
    minute = t.start_time.truncate("m").name("minute")
    agg = (
        t.group_by(minute)
        .aggregate(
            input=t.input_tokens.fill_null(0).sum(),
            cached=t.cache_read_tokens.fill_null(0).sum(),
            output=t.output_tokens.fill_null(0).sum(),
            cost=(t.cost.fill_null(0) + t.infra_cost.fill_null(0)).sum(),
            unpriced=t.cost.isnull().sum(),
            calls=t.count(),
        )
        .order_by("minute")
    )
    rows = to_arrow(source, agg)
    unpriced = int(pc.sum(rows["unpriced"]).as_py() or 0) if rows.num_rows else 0
    if unpriced:
        raise InputError(
            f"model: {unpriced:,} calls of {model!r} have no price, so their pay-as-you-go "
            f'cost is unknown; set [prices."provider/{model}"] in the config',
            field="model", value=model,
        )  # fmt: skip
    minutes = [m.replace(tzinfo=None) for m in rows["minute"].to_pylist()]
    if not minutes:
        raise InputError(
            f"model: no calls of {model!r} in the chosen window", field="model", value=model
        )
    start = _minute(since) if since is not None else minutes[0]
    end = _minute(until) if until is not None else minutes[-1] + _MINUTE
    if until is not None and until.replace(tzinfo=None) > end:
        end += _MINUTE
    length = int((end - start) / _MINUTE)
    factor = Rates.of(config).factor(ESTIMATES, config.currency)
    return Demand(
        start=start,
        minutes=length,
        input=np.asarray(rows["input"].to_numpy(zero_copy_only=False), dtype=float),
        cached=np.asarray(rows["cached"].to_numpy(zero_copy_only=False), dtype=float),
        output=np.asarray(rows["output"].to_numpy(zero_copy_only=False), dtype=float),
        cost=np.asarray(rows["cost"].to_numpy(zero_copy_only=False), dtype=float) * factor,
        calls=int(pc.sum(rows["calls"]).as_py()),
        currency=config.currency,
    )


def _minute(t: datetime) -> datetime:
    return t.replace(tzinfo=None, second=0, microsecond=0)
