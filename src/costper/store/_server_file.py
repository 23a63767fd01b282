"""The server's sidecar file: which `costper serve` holds a store, and where.

DuckDB lets one process open a file for writing, so while `costper serve`
runs, `costper report` cannot open the store. The server writes
`<db>.server.json` (its URL and pid) next to the store and removes it on
exit; the CLI reads it to name the server instead of showing DuckDB's lock
error, and to read through the server's API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict


class ServerInfo(TypedDict):
    url: str
    pid: int


def server_file_path(db: str) -> Path | None:
    if db.startswith("duckdb://"):
        db = db[len("duckdb://") :]
    if not db or db == ":memory:" or "://" in db:
        return None
    return Path(db + ".server.json")


@contextmanager
def server_file(db: str, url: str) -> Iterator[None]:
    path = server_file_path(db)
    if path is not None:
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        os.replace(tmp, path)
    try:
        yield
    finally:
        if path is not None and running_server(db) == {"url": url, "pid": os.getpid()}:
            path.unlink(missing_ok=True)


def running_server(db: str) -> ServerInfo | None:
    """The server holding `db`, if its sidecar names a live process."""
    path = server_file_path(db)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
        url, pid = str(data["url"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return {"url": url, "pid": pid}
