"""Optional API keys, checked before any route runs.

A plain ASGI middleware rather than a FastAPI dependency, so no route can
forget it and a refused request is answered before its body is read.
`/healthz` stays open so load balancers and scripts can probe the process;
`/metrics` too when `[server] metrics_public = true` (a Prometheus scraper
can also send the key: `authorization: {credentials: ...}` in its config).
Langfuse SDKs authenticate with HTTP Basic (public key, secret key): that
pair, joined by a colon, is taken as the key.

Exporters and scripts send the key in a header. A browser cannot add headers
to a page load, so the dashboard is opened once as `/?api_key=<key>`; that
answer sets an HttpOnly, SameSite=Strict cookie which later page loads and
the dashboard's own API calls carry. The key is taken out of the query string
before any route sees it, and pages send `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PATHS = frozenset({"/healthz"})
COOKIE = "costper_api_key"


class ApiKeyMiddleware:
    """401 unless the request presents a known key (header, cookie, or ?api_key= on GET)."""

    def __init__(
        self, app: ASGIApp, keys: Iterable[str] = (), open_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.keys = tuple(k.encode() for k in keys if k)
        self.open_paths = OPEN_PATHS | frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        in_query = _query_key(scope)
        if b"api_key" in scope.get("query_string", b""):
            scope = {**scope, "query_string": _without_key(scope["query_string"])}
        if not self.keys or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        presented = _header_key(scope) or _cookie_key(scope)
        from_query = in_query if presented is None else None
        key = presented or from_query
        if key is None or not self._known(key):
            why = "no API key" if key is None else "unknown API key"
            response: Response
            if _wants_page(scope):
                response = HTMLResponse(_KEY_PAGE.format(why=why.capitalize()), status_code=401)
            else:
                response = JSONResponse(
                    {"error": f"{why}: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            await response(scope, receive, send)
            return
        if from_query is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={from_query.decode()}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _known(self, presented: bytes) -> bool:
        found = False
        for key in self.keys:
            found |= hmac.compare_digest(key, presented)
        return found


def _header_key(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            if scheme.lower() == b"basic" and token.strip():
                return _basic_key(token.strip())
        elif name == b"x-api-key" and value.strip():
            return value.strip()
    return None


def _basic_key(token: bytes) -> bytes | None:
    """Langfuse's exporters send `Basic base64(public_key:secret_key)`: the pair
    `public:secret` is the API key (`costper serve --api-key pk-lf-...:sk-lf-...`)."""
    try:
        pair = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    return pair if b":" in pair and pair.strip(b":") else None


def _cookie_key(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is no key, not an error
                return None
            if COOKIE in jar and jar[COOKIE].value:
                return jar[COOKIE].value.encode()
    return None


def _without_key(query: bytes) -> bytes:
    """The query string minus `api_key`: routes never see the key, so no page
    can write it into a form, a link or a cache key."""
    pairs = [p for p in query.split(b"&") if p and p.split(b"=", 1)[0] != b"api_key"]
    return b"&".join(pairs)


def _query_key(scope: Scope) -> bytes | None:
    if scope.get("method") != "GET" or not scope.get("query_string"):
        return None
    values = parse_qs(scope["query_string"].decode("latin-1")).get("api_key")
    return values[0].encode() if values and values[0] else None


_KEY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>costper: API key needed</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>This costper server needs an API key</h1>
<p>{why}. Open this page once as <code>/?api_key=YOUR_KEY</code>: the key is then kept
in a cookie for this browser (HttpOnly, this site only) and taken out of the address.</p>
<p>Keys are set with <code>costper serve --api-key</code>, <code>COSTPER_API_KEYS</code> or
<code>[server] api_keys</code>.</p>
</body></html>
"""


def _wants_page(scope: Scope) -> bool:
    """A browser opening a page (not an exporter or a script calling the API)."""
    if scope.get("method") not in ("GET", "HEAD"):
        return False
    path = scope.get("path", "")
    if path.startswith(("/api/", "/v1/", "/openapi.json")):
        return False
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False
