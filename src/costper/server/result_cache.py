"""Query results and rendered pages, kept until the store's data changes.

A report over millions of sessions takes seconds; the same view asked again
must not. Entries are keyed by the store's data version (which moves on
every write) and the request's parameters, so a write expires everything at
once and nothing stale is shown. They also age out after `max_age`, because
"pending" sessions turn into implicit successes as time passes even when no
data arrives. One computation per key at a time: ten people opening the
overview together start one query, not ten.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ResultCache:
    def __init__(
        self,
        max_entries: int = 256,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries, self.max_age, self._clock = max_entries, max_age, clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.hits = self.misses = 0

    def get_or_compute(self, version: int, key: Hashable, compute: Callable[[], T]) -> T:
        full = (version, key)
        found, value = self._get(full)
        if found:
            return value
        with self._lock:
            key_lock = self._key_locks.setdefault(full, threading.Lock())
        with key_lock:
            found, value = self._get(full)
            if found:
                return value
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._key_locks.pop(full, None)
                raise
            with self._lock:
                self._key_locks.pop(full, None)
                self.misses += 1
                self._entries[full] = (self._clock(), value)
                self._entries.move_to_end(full)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self._drop_older_versions(version)
            return value

    def _get(self, full: tuple[int, Hashable]) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(full)
            if entry is None:
                return False, None
            stored_at, value = entry
            if self._clock() - stored_at > self.max_age:
                del self._entries[full]
                return False, None
            self._entries.move_to_end(full)
            self.hits += 1
            return True, value

    def _drop_older_versions(self, version: int) -> None:
        for k in [k for k in self._entries if k[0] < version]:
            del self._entries[k]

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
