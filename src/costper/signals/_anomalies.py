"""`costper anomalies`: runaway sessions and spend-rate anomalies in one result.

The core of the CLI command, the JSON API route and the dashboard panel; they only
render it (see `_runaway` and `_spend_rate` for the methods)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from costper.config import Config
from costper.engine._report import check_feature
from costper.signals import _runaway, _spend_rate
from costper.signals._runaway import Baseline, FeatureBaseline, FlaggedSession, WastedSpend
from costper.signals._spend_rate import SpendAnomaly
from costper.store._source import Source

METHOD = {
    "sessions": (
        f"per feature (>= {_runaway.MIN_SESSIONS} sessions), a session is far past the "
        f"baseline when a metric > Q3 * max(Q3/Q1, {_runaway.MIN_SPREAD:g})^"
        f"{_runaway.FENCE_K:g} (log-scale Tukey far-out fence); a repeat run is >= "
        f"{_runaway.REPEAT_MIN} calls with the same model and input size, mean gap <= "
        f"{_runaway.REPEAT_GAP_S:g}s"
    ),
    "wasted": "max(session cost - feature median session cost, repeat runs beyond their first call)",
    "spend": (
        f"robust z = (x - median) / max(1.4826 MAD, {_spend_rate.FLOOR:g} median) over the "
        f"same phase of the previous {_spend_rate.WINDOW} periods (>= {_spend_rate.MIN_HISTORY}); "
        f"flagged when z > {_spend_rate.Z_MAX:g}, x >= {_spend_rate.RISE:g} median and "
        f"x - median >= {_spend_rate.MIN_SHARE:.0%} of a typical day's spend (median daily total)"
    ),
}


@dataclass(frozen=True)
class Anomalies:
    period: str
    currency: str
    baselines: list[FeatureBaseline]
    sessions: list[FlaggedSession]
    wasted: list[WastedSpend]
    spend: list[SpendAnomaly]

    @property
    def wasted_total(self) -> float:
        return sum(w.wasted for w in self.wasted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "currency": self.currency,
            "method": METHOD,
            "wasted_total": self.wasted_total,
            "baselines": [b.to_dict() for b in self.baselines],
            "sessions": [s.to_dict() for s in self.sessions],
            "wasted": [w.to_dict() for w in self.wasted],
            "spend": [a.to_dict() for a in self.spend],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Anomalies:
        """The inverse of `to_dict` (the answer of a running server's `/api/anomalies`)."""
        bases = [
            FeatureBaseline(
                b["feature"], b["sessions"],
                [Baseline(m, **v) for m, v in b["metrics"].items()], b["enough"],
            )
            for b in d["baselines"]
        ]  # fmt: skip
        sessions = [
            FlaggedSession(**{**s, "day": date.fromisoformat(s["day"]),
                              "first_call": datetime.fromisoformat(s["first_call"])})
            for s in d["sessions"]
        ]  # fmt: skip
        wasted = [WastedSpend(**{**w, "day": date.fromisoformat(w["day"])}) for w in d["wasted"]]
        spend = [
            SpendAnomaly(**{**a, "start": datetime.fromisoformat(a["start"])}) for a in d["spend"]
        ]
        return cls(d["period"], d["currency"], bases, sessions, wasted, spend)

    def rows(self) -> list[dict[str, Any]]:
        """One CSV: flagged sessions, waste per feature and day, spend anomalies,
        told apart by `section`."""
        out: list[dict[str, Any]] = []
        for s in self.sessions:
            d = s.to_dict()
            d["reasons"] = "; ".join(s.reasons)
            out.append({"section": "session", **d, "currency": self.currency})
        out += [
            {"section": "wasted", **w.to_dict(), "currency": self.currency} for w in self.wasted
        ]
        out += [{"section": "spend", **a.to_dict(), "currency": self.currency} for a in self.spend]
        return out


def anomalies(
    source: Source | str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    feature: str | None = None,
    period: str = "day",
    config: Config | None = None,
) -> Anomalies:
    """Runaway sessions with their wasted spend, and spend-rate anomalies."""
    from costper.store._store import open_store

    config = config or Config()
    _spend_rate.check_period(period)
    if isinstance(source, str | Path):
        with open_store(source, read_only=True) as store:
            return anomalies(
                store, since=since, until=until, feature=feature, period=period, config=config
            )
    if feature is not None:
        check_feature(source, feature)
    scan = _runaway.scan(source, config, since=since, until=until, feature=feature)
    spend = _spend_rate.spend_anomalies(
        source, config, period, since=since, until=until, feature=feature
    )
    return Anomalies(period, config.currency, scan.baselines, scan.sessions, scan.wasted, spend)
