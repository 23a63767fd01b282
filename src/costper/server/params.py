"""Query-string filters shared by the JSON API and the pages.

The URL is the state of a view (so a view can be shared), which means every
filter arrives as text and is checked here: a bad value is a 400 naming the
parameter and the value, never a silently empty chart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from costper._time import time_range
from costper.errors import one_of

PERIODS = ("day", "week")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    feature: str | None = None
    period: str = "week"
    raw: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: Any) -> str:
        """'?since=..' for a link to the same view with `changes` (None drops a key)."""
        params = dict(self.raw)
        for k, v in changes.items():
            if v is None or v == "":
                params.pop(k, None)
            else:
                params[k] = str(v)
        return "?" + urlencode(params) if params else ""

    def input_type(self, name: str) -> str:
        value = self.raw.get(name, "")
        return "date" if not value or _DATE.match(value) else "text"


def parse_filters(params: Mapping[str, str], now: datetime) -> Filters:
    raw = {k: params[k] for k in ("since", "until", "feature", "period") if params.get(k)}
    since, until = time_range(raw.get("since"), raw.get("until"), now)
    period = raw.get("period", "week")
    one_of("period", period, PERIODS)
    return Filters(since, until, raw.get("feature"), period, raw)
