"""What every request passes before any route: the web's usual defences.

- Host allow-list: a page on another site can point its own domain at
  127.0.0.1 (DNS rebinding) and then read a key-less server as same-origin;
  the Host header it sends still names its domain, so only the loopback
  names (or `[server] allowed_hosts`; "*" allows any) are answered.
- POSTs only with a JSON or OTLP content type: a browser sends
  text/plain, form and multipart bodies cross-site without asking, JSON and
  protobuf only after a CORS preflight, which this server never grants.
- A size cap and a read timeout on every body, so no route can forget them;
  a client that hangs up or is cut off at shutdown is not logged as a crash.
- HEAD answered as GET without the body; CSP and the standard headers on
  every answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POST_TYPES = frozenset({"application/json", "application/x-protobuf", "application/protobuf"})
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
]
READ_TIMEOUT = 30.0


class GuardMiddleware:
    """Outermost: host, content type, declared size, headers, HEAD, hang-ups."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str], max_body: int) -> None:
        self.app = app
        self.hosts = frozenset(h.lower().strip("[]") for h in allowed_hosts)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in HEADERS if k not in names),
                ]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, guarded_send)
                return
            if head:
                scope = {**scope, "method": "GET"}
            await self.app(scope, receive, guarded_send)
        except (ClientDisconnect, asyncio.CancelledError, ConnectionError):
            return  # the client hung up, or shutdown cut it off: nobody to answer

    def _refusal(self, scope: Scope) -> Response | None:
        host = _header(scope, b"host")
        if "*" not in self.hosts and _host_name(host) not in self.hosts:
            return _error(
                421,
                f"Host: {host!r} is not an allowed host name; "
                "add it to [server] allowed_hosts in the config",
            )
        nul = _nul_in(scope)
        if nul is not None:
            return _error(400, f"{nul}: NUL characters are not allowed")
        if scope["method"] in _BODY_METHODS:
            media = _header(scope, b"content-type").split(";")[0].strip().lower()
            if media not in POST_TYPES:
                got = _header(scope, b"content-type") or "none"
                return _error(
                    415,
                    f"Content-Type: {got!r} is not supported "
                    "(use application/x-protobuf or application/json)",
                )
            declared = _header(scope, b"content-length").strip()
            if declared.isdigit() and int(declared) > self.max_body:
                return _error(
                    413,
                    f"request body of {int(declared)} bytes is over the limit of "
                    f"{self.max_body} bytes (max_request_bytes); send smaller batches",
                    scope,
                )
        return None


class BodyMiddleware:
    """Inside the API key check: every body read whole, capped and timed, before
    any route runs (so no route can forget the limit, POST /api/calc included)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            failure, body = await self._read_body(receive, scope)
            if failure is not None:
                await failure(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_body(self, receive: Receive, scope: Scope) -> tuple[Response | None, bytes]:
        """The whole body, capped and timed; or the answer refusing it."""
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        timeout = READ_TIMEOUT
        deadline = loop.time() + timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                text = f"the request body did not arrive within {timeout:g} s"
                return _error(408, text, scope), b""
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                text = (
                    f"request body of {size}+ bytes is over the limit of {self.max_body} "
                    "bytes (max_request_bytes); send smaller batches"
                )
                return _error(413, text, scope), b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                return None, b"".join(chunks)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED = 3, 8
_PROTOBUF = ("application/x-protobuf", "application/protobuf")


def _error(status: int, text: str, scope: Scope | None = None) -> Response:
    """An OTLP-shaped failure: a google.rpc.Status, in protobuf when the request was."""
    headers = {"connection": "close"} if status in (408, 413) else None
    code = _RESOURCE_EXHAUSTED if status == 413 else _INVALID_ARGUMENT
    media = _header(scope, b"content-type").split(";")[0].strip().lower() if scope else ""
    if media in _PROTOBUF:
        body = status_protobuf(code, text)
        return Response(body, status, headers=headers, media_type="application/x-protobuf")
    return JSONResponse({"code": code, "message": text, "error": text}, status, headers=headers)


def status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status{code, message}, encoded by hand to avoid a dependency for two fields."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the real channel (for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _nul_in(scope: Scope) -> str | None:
    """Where a NUL character is in the URL (path or a named parameter), if anywhere.

    No name or id costper stores can hold one, and DuckDB cuts query text at it."""
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        from urllib.parse import parse_qsl

        for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in k or "\x00" in v:
                return k.replace("\x00", "") or "query"
        return "query"
    return None


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return ""


def _host_name(host: str) -> str:
    """'127.0.0.1:4318' -> '127.0.0.1', '[::1]:4318' -> '::1', 'LocalHost.' -> 'localhost'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")
