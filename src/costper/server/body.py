"""Request bodies read with a cap, before and after decompression.

A gzip bomb of a few kilobytes inflates to gigabytes, so a body is inflated
step by step and refused as soon as it passes the limit; it is never inflated
fully first. The same limit applies to the body on the wire and inflated.
"""

from __future__ import annotations

import zlib

from starlette.requests import Request

from costper.errors import InputError, TooLarge

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_STEP = 1 << 20


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with TooLarge as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InputError(
                f"Content-Length: expected a number of bytes, got {declared!r}",
                field="Content-Length",
                value=declared,
            )
        if int(declared) > limit:
            raise TooLarge(_too_large(f"request body of {int(declared)} bytes", limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(_too_large(f"request body of {size}+ bytes", limit))
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding (identity, gzip or deflate) without passing `limit` bytes."""
    enc = (encoding or "").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP, enc, limit)
    if enc == "deflate":
        try:
            return _inflate(body, _ZLIB, enc, limit)
        except InputError as e:
            if isinstance(e, TooLarge):
                raise
            return _inflate(body, _RAW_DEFLATE, enc, limit)
    raise InputError(
        f"Content-Encoding: {encoding!r} is not supported (use gzip, deflate or none)",
        field="Content-Encoding",
        value=encoding,
    )


def _inflate(body: bytes, wbits: int, encoding: str, limit: int) -> bytes:
    out: list[bytes] = []
    total = 0
    data = body
    while data:
        d = zlib.decompressobj(wbits)
        while not d.eof:
            try:
                chunk = d.decompress(data, min(_STEP, limit + 1 - total))
            except zlib.error as e:
                raise InputError(
                    f"Content-Encoding {encoding}: the body is not valid {encoding} data ({e})",
                    field="Content-Encoding",
                    value=encoding,
                ) from None
            total += len(chunk)
            if total > limit:
                raise TooLarge(_too_large(f"the {encoding} body, inflated,", limit))
            out.append(chunk)
            data = d.unconsumed_tail
            if not chunk and not data:
                break
        if not d.eof:
            raise InputError(
                f"Content-Encoding {encoding}: the body is truncated "
                f"({len(body)} bytes, inflated {total} before the end)",
                field="Content-Encoding",
                value=encoding,
            )
        data = d.unused_data if wbits == _GZIP else b""
    return b"".join(out)


def _too_large(what: str, limit: int) -> str:
    return f"{what} is over the limit of {limit} bytes (max_request_bytes); send smaller batches"
