"""Group commit: the calls of concurrent requests written in one transaction.

A DuckDB insert costs tens of milliseconds whatever its size (key checks,
WAL, commit), so writing each OTLP request on its own caps the receiver at a
few thousand spans per second however many exporters send. Requests that
arrive while a write is under way queue up; the next writer takes the whole
queue and commits it at once. Every request is still answered only after the
commit that holds its rows, and learns how many of its rows were new.

When the store already held some but not all of a group's rows (an
exporter's retry arriving with fresh data), the group is rolled back and
written request by request, so each request's count of new rows stays
exact; a request whose rows the store refuses fails alone in the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyarrow as pa

from costper.errors import InputError
from costper.store._store import Store, conform

TABLE = "calls"


@dataclass
class _Job:
    table: pa.Table
    keys: set[tuple[str, str]]
    done: bool = False
    new: int = 0
    error: BaseException | None = None


class _Mixed(Exception):
    """The group held rows already stored next to new ones: redo it request by request."""


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.store = store
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._writing = False

    def write(self, table: pa.Table) -> int:
        """Store `table`'s calls, durable on return; the number that were new."""
        if table.num_rows == 0:
            return 0
        keys = set(zip(table["trace_id"].to_pylist(), table["span_id"].to_pylist(), strict=True))
        job = _Job(conform(TABLE, table), keys)
        with self._cond:
            self._queue.append(job)
            while self._writing and not job.done:
                self._cond.wait()
            jobs: list[_Job] = []
            if not job.done:
                self._writing = True
                jobs, self._queue = self._queue, []
        if jobs:
            try:
                self._commit(jobs)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.new

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            if len(jobs) == 1:
                jobs[0].new = self._store.insert(TABLE, jobs[0].table)
            else:
                self._commit_group(jobs)
        except (_Mixed, InputError):
            for job in jobs:
                try:
                    job.new = self._store.insert(TABLE, job.table)
                except BaseException as e:  # handed to the request's own thread
                    job.error = e
        except BaseException as e:
            for job in jobs:
                job.error = e
        finally:
            for job in jobs:
                job.done = True

    def _commit_group(self, jobs: list[_Job]) -> None:
        claimed: set[tuple[str, str]] = set()
        counts = []
        for job in jobs:
            mine = job.keys - claimed
            claimed |= mine
            counts.append(len(mine))
        combined = pa.concat_tables([job.table for job in jobs])
        with self._store.transaction():
            new = self._store.insert(TABLE, combined)
            if new not in (0, len(claimed)):
                raise _Mixed
        for job, count in zip(jobs, counts, strict=True):
            job.new = count if new else 0
