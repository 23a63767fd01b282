"""What the JSON API and the pages ask of the engine, cached by data version.

The API's results are JSON-ready dicts, as the CLI prints them. The pages
ask for `groups` at the finest grouping a page needs and derive every
coarser view from it (`group_rollup.coarsen`), so a page costs one pass over
the sessions however many charts it has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from costper.billing._reconcile import reconcile
from costper.config import Config
from costper.engine._compare import compare
from costper.engine._report import report
from costper.engine._report_model import Group
from costper.engine._rollup import coarsen
from costper.engine._session_detail import rows, session_detail
from costper.engine._sessions import session_table
from costper.engine._vocabulary import check_keys
from costper.server.result_cache import ResultCache
from costper.signals._anomalies import anomalies
from costper.signals._diagnose import diagnose
from costper.store._source import Source

TOP_SESSION_COLUMNS = (
    "session_id", "model", "prompt_version", "first_call", "turns", "calls", "failed_calls",
    "total_tokens", "llm", "escalation", "review", "total", "status",
)  # fmt: skip


class Queries:
    """Engine calls for one store and config; `now` is fixed per instance."""

    def __init__(
        self, store: Source, config: Config, cache: ResultCache, now: datetime | None = None
    ) -> None:
        self.store, self.config, self.cache = store, config, cache
        self.now = now or datetime.now(UTC).replace(tzinfo=None)
        self.version = store.version()

    def cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        return self.cache.get_or_compute(self.version, key, compute)

    def report(
        self,
        by: Sequence[str],
        since: datetime | None = None,
        until: datetime | None = None,
        feature: str | None = None,
    ) -> dict[str, Any]:
        keys = tuple(check_keys(by))
        return self.cached(
            ("report", keys, since, until, feature),
            lambda: report(
                self.store, list(keys), since=since, until=until, feature=feature,
                config=self.config, now=self.now,
            ).to_dict(),
        )  # fmt: skip

    def groups(
        self,
        by: Sequence[str],
        since: datetime | None = None,
        until: datetime | None = None,
        feature: str | None = None,
    ) -> list[Group]:
        keys = tuple(check_keys(by))
        return self.cached(
            ("groups", keys, since, until, feature),
            lambda: report(
                self.store, list(keys), since=since, until=until, feature=feature,
                config=self.config, now=self.now,
            ).groups,
        )  # fmt: skip

    def view(self, groups: list[Group], keys: Sequence[str]) -> list[dict[str, Any]]:
        """`groups` summed up to `keys`, as the API's JSON groups."""
        return [g.to_dict() for g in coarsen(groups, keys, self.config)]

    def compare(
        self,
        by: str,
        baseline: str,
        feature: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        pool_features: bool = False,
    ) -> dict[str, Any]:
        (key,) = check_keys([by])
        return self.cached(
            ("compare", key, baseline, feature, since, until, pool_features),
            lambda: compare(
                self.store, key, baseline, feature=feature, since=since, until=until,
                config=self.config, now=self.now, pool_features=pool_features,
            ).to_dict(),
        )  # fmt: skip

    def reconcile(
        self, by: Sequence[str], since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, Any]:
        return self.cached(
            ("reconcile", tuple(by), since, until),
            lambda: reconcile(
                self.store, self.config, by, since=since, until=until, rejoin=False
            ).to_dict(),
        )

    def anomalies(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        feature: str | None = None,
        period: str = "day",
    ) -> dict[str, Any]:
        """Runaway sessions, wasted spend and spend-rate anomalies (`costper anomalies`)."""
        return self.cached(
            ("anomalies", since, until, feature, period),
            lambda: anomalies(
                self.store, since=since, until=until, feature=feature, period=period,
                config=self.config,
            ).to_dict(),
        )  # fmt: skip

    def diagnose(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, Any]:
        """The five-symptom self-assessment (`costper diagnose`)."""
        return self.cached(
            ("diagnose", since, until),
            lambda: diagnose(self.store, since=since, until=until, config=self.config).to_dict(),
        )

    def features(self) -> list[str]:
        def compute() -> list[str]:
            calls = self.store.table("calls")
            expr = calls.select("feature").distinct().order_by("feature")
            return [r["feature"] for r in self.store.to_arrow(expr).to_pylist()]

        return self.cached(("features",), compute)

    def top_sessions(
        self,
        feature: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 15,
    ) -> list[dict[str, Any]]:
        """The dearest sessions of a feature: where cost per success goes to die."""

        def compute() -> list[dict[str, Any]]:
            s = session_table(
                self.store, self.config, now=self.now, since=since, until=until, feature=feature
            )
            expr = (
                s.order_by([s.total.desc(), s.session_id]).limit(limit).select(*TOP_SESSION_COLUMNS)
            )
            return rows(self.store.to_arrow(expr))

        return self.cached(("top_sessions", feature, since, until, limit), compute)

    def session(self, session_id: str) -> dict[str, Any] | None:
        return self.cached(
            ("session", session_id),
            lambda: session_detail(self.store, self.config, session_id, now=self.now),
        )
