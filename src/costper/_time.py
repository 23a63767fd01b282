"""Times as people and files write them, read one way everywhere.

`parse_instant` reads RFC 3339 / ISO 8601 (outcome records, bills, spans'
exporters); `parse_time` adds what people type as a filter: a date or a span
back from now. The CLI's --since/--until and the HTTP API's since/until must
accept the same forms and refuse the same typos with the same message, so both
call this. Times are naive UTC inside costper: a time without zone is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from costper.config import parse_duration
from costper.errors import ConfigError, InputError

_SPAN = re.compile(r"^\d+(\.\d+)?\s*[smhdw]$")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_instant(text: str) -> datetime:
    """'2026-10-01T12:00:00Z', '...+02:00' or zone-less (UTC) as naive UTC; ValueError if not."""
    t = text.strip()
    if t[-1:] in ("z", "Z"):
        t = t[:-1] + "+00:00"
    when = datetime.fromisoformat(t)
    if when.tzinfo is not None:
        try:
            when = when.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
    return when


def parse_time(text: str, name: str, now: datetime | None = None) -> datetime:
    """'2026-10-01', '2026-10-01T12:00:00Z' (as naive UTC) or a span back from now ('7d')."""
    t = text.strip()
    if _SPAN.match(t):
        try:
            span = parse_duration(t, name)
            assert span is not None
            return (now or utc_now()) - span
        except ConfigError as e:
            raise InputError(str(e), field=name, value=text) from None
        except OverflowError:
            raise InputError(
                f"{name}: {text!r} reaches back before the year 1", field=name, value=text
            ) from None
    try:
        return parse_instant(t)
    except ValueError:
        raise InputError(
            f"{name}: expected a date (2026-10-01), a time (2026-10-01T12:00:00Z) "
            f"or a span back from now (7d), got {text!r}",
            field=name,
            value=text,
        ) from None


def time_range(
    since: str | None, until: str | None, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """A since/until filter pair; an empty range is a mistake, not an empty report."""
    s = None if not since else parse_time(since, "since", now)
    u = None if not until else parse_time(until, "until", now)
    if s is not None and u is not None and u <= s:
        raise InputError(
            f"until ({until}) must be later than since ({since})", field="until", value=until
        )
    return s, u
