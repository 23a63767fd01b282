"""Optional API keys, checked before any route runs.

A plain ASGI middleware rather than a FastAPI dependency, so no route can
forget it and a refused request is answered before its body is read.
`/healthz` stays open so load balancers and `costper serve`'s callers can
probe the process without a key.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/healthz"})


class ApiKeyMiddleware:
    """401 unless `Authorization: Bearer <key>` or `x-api-key: <key>` names a known key."""

    def __init__(self, app: ASGIApp, keys: Iterable[str] = ()) -> None:
        self.app = app
        self.keys = tuple(k.encode() for k in keys if k)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = _presented_key(scope)
        if presented is not None and self._known(presented):
            await self.app(scope, receive, send)
            return
        why = "no API key" if presented is None else "unknown API key"
        response = JSONResponse(
            {"error": f"{why}: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _known(self, presented: bytes) -> bool:
        found = False
        for key in self.keys:
            found |= hmac.compare_digest(key, presented)
        return found


def _presented_key(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.strip()
    return None
