"""Request bodies read with a cap, before and after decompression.

The body is refused as soon as it passes the limit on the wire; `inflate`
(costper._io, shared with every input kind) applies the same limit inflated.
"""

from __future__ import annotations

from starlette.requests import Request

from costper._io import inflate, too_large
from costper.errors import InputError, TooLarge

__all__ = ["inflate", "read_body"]


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
            raise TooLarge(too_large(f"request body of {int(declared)} bytes", limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large(f"request body of {size}+ bytes", limit))
        chunks.append(chunk)
    return b"".join(chunks)
