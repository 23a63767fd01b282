"""Query results and rendered pages, kept until the store's data changes.

A report over millions of sessions takes seconds; the same view asked again
must not. Entries are keyed by the request's parameters and remember the
store's data version (which moves on every write) they were computed at,
so nothing computed before a write is served as current. They also age out
after `max_age`, because "pending" sessions turn into implicit successes as
time passes even when no data arrives. One computation per key at a time:
ten people opening the overview together start one query, not ten.

While traces stream in, the version moves every few seconds, so a page
whose reports take tens of seconds on millions of sessions would never be
current. Pages therefore use `get_or_refresh`: the last rendered result is
served at once, marked stale, while one background thread computes the new
one (stale-while-revalidate). The JSON API always computes fresh.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    version: int
    stored_at: float
    value: Any


class ResultCache:
    def __init__(
        self,
        max_entries: int = 256,
        max_age: float = 300.0,
        max_stale: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries, self.max_age, self.max_stale = max_entries, max_age, max_stale
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[int, Hashable], threading.Lock] = {}
        self._refreshing: set[tuple[int, Hashable]] = set()
        self.hits = self.misses = self.stale_hits = 0

    def get_or_compute(self, version: int, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of `key` at data `version`, computed now if not cached."""
        entry = self._current(version, key)
        if entry is not None:
            return entry.value
        with self._lock:
            key_lock = self._key_locks.setdefault((version, key), threading.Lock())
        with key_lock:
            entry = self._current(version, key)
            if entry is not None:
                return entry.value
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._key_locks.pop((version, key), None)
                raise
            self._store(version, key, value)
            with self._lock:
                self._key_locks.pop((version, key), None)
            return value

    def get_or_refresh(
        self, version: int, key: Hashable, compute: Callable[[], T]
    ) -> tuple[T, bool]:
        """Like `get_or_compute`, but an older result is returned at once (with
        True: stale) while the current one is computed in the background."""
        entry = self._current(version, key)
        if entry is not None:
            return entry.value, False
        with self._lock:
            old = self._entries.get(key)
            usable = (
                old is not None
                and old.version <= version
                and self._clock() - old.stored_at <= self.max_stale
            )
            if usable:
                self.stale_hits += 1
                if (version, key) not in self._refreshing:
                    self._refreshing.add((version, key))
                    threading.Thread(  # in the request's context (its currency, say)
                        target=contextvars.copy_context().run,
                        args=(self._refresh, version, key, compute),
                        daemon=True,
                    ).start()
        if usable:
            assert old is not None
            return old.value, True
        return self.get_or_compute(version, key, compute), False

    def _refresh(self, version: int, key: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self.get_or_compute(version, key, compute)
        except Exception:
            pass  # the next request computes again, in the open, and shows the error
        finally:
            with self._lock:
                self._refreshing.discard((version, key))

    def _current(self, version: int, key: Hashable) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                return None
            if self._clock() - entry.stored_at > self.max_age:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def _store(self, version: int, key: Hashable, value: Any) -> None:
        with self._lock:
            self.misses += 1
            old = self._entries.get(key)
            if old is not None and old.version > version:
                return
            self._entries[key] = _Entry(version, self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_attach_lock = threading.Lock()


def cache_of(state: Any) -> ResultCache:
    """The one cache of an application, made on first use (app.state holds it)."""
    with _attach_lock:
        cache = getattr(state, "result_cache", None)
        if cache is None:
            cache = ResultCache()
            state.result_cache = cache
        return cache
