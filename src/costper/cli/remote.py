"""Reading through a running `costper serve` instead of the locked store.

DuckDB lets one process open a store for writing; while the server runs it
is that process. `costper report` then asks the server's JSON API (found via
the sidecar file the server writes next to the store, or `--server URL`),
so the numbers are the server's and come from the same engine.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from costper.config import Config
from costper.errors import CostperError, InputError
from costper.store._server_file import running_server

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Read through this costper server (default: the one holding --db, if running).",
    ),
]


def server_for(cfg: Config, server: str | None) -> str | None:
    """The server to read through: --server, else the live one holding the store."""
    if server:
        if not server.startswith(("http://", "https://")):
            raise InputError(
                f"--server: expected an http:// or https:// URL, got {server!r}",
                field="server",
                value=server,
            )
        return server.rstrip("/")
    found = running_server(cfg.db)
    return found["url"] if found else None


def get_json(base: str, path: str, params: dict[str, Any], cfg: Config) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {cfg.api_keys[0]}"} if cfg.api_keys else {}
    query = {k: v for k, v in params.items() if v is not None}
    try:
        r = httpx.get(base + path, params=query, headers=headers, timeout=120)
    except httpx.HTTPError as e:
        raise CostperError(f"--server {base}: cannot reach the server ({e})") from None
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code >= 400:
        why = body.get("error") if isinstance(body, dict) else r.reason_phrase
        raise CostperError(f"server {base}: {r.status_code} {why}")
    if body is None:
        raise CostperError(f"server {base}: the answer to {path} is not JSON")
    return body
