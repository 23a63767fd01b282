"""Opening what users hand costper: files (or stdin), gzip or not, and request bodies.

Trace files, outcome files, FOCUS exports and HTTP bodies all go through here,
so every input kind is decompressed the same way and never without a limit: a
gzip bomb of a few kilobytes inflates to gigabytes, so data is inflated step by
step and refused (`TooLarge`) as soon as it passes the cap, never inflated fully
first. Files are streamed; a body is bytes already held in memory.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from costper.errors import InputError, TooLarge

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_RATIO = 1000
"""A compressed file may inflate to this many times its size (real exports stay under 100x)."""
MIN_FILE_CAP = 1 << 30
"""Small compressed files may still inflate to a GiB."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""A request body's default cap, on the wire and inflated (config `max_request_bytes`)."""
STDIN_CAP = 1 << 36
"""Compressed stdin has no size to scale from."""
_STEP = 1 << 20
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class _Counting(io.RawIOBase):
    """Counts bytes pulled through it; raises TooLarge past `limit` (None: no limit)."""

    def __init__(self, raw: IO[bytes], limit: int | None = None, name: str = "") -> None:
        self.raw, self.limit, self.name = raw, limit, name
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            n = self.raw.readinto(b)  # type: ignore[attr-defined]
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise InputError(f"not valid gzip data: {e}", file=self.name) from None
        self.count += n or 0
        if self.limit is not None and self.count > self.limit:
            raise TooLarge(
                f"inflates to more than {self.limit} bytes (a gzip bomb?); "
                "decompress it yourself if it is real",
                file=self.name,
            )
        return n or 0


class Opened:
    """A readable input: `stream` yields the decompressed bytes, `consumed` counts the
    bytes read from the file itself (for progress), `size` is the file's (None for stdin)."""

    def __init__(
        self, name: str, stream: io.BufferedReader[Any], raw: _Counting, size: int | None,
        close: Callable[[], None], compressed: bool,
    ) -> None:  # fmt: skip
        self.name, self.stream, self.size, self.compressed = name, stream, size, compressed
        self._raw, self._close = raw, close

    @property
    def consumed(self) -> int:
        return self._raw.count

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_input(path: str, *, limit: int | None = None, buffer: int = 1 << 20) -> Opened:
    """Open a file (`-` for stdin) for reading, gunzipping it when its bytes say gzip.

    The inflated size is capped at `limit`, by default MAX_RATIO times the file's
    size (at least MIN_FILE_CAP). zstd is recognised and refused with what to do.
    """
    name = "<stdin>" if path == "-" else path
    size: int | None
    if path == "-":
        raw: IO[bytes] = cast(IO[bytes], sys.stdin.buffer)
        size = None
        close: Callable[[], None] = lambda: None  # noqa: E731
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115
        except OSError as e:
            raise InputError(f"cannot read the file: {e.strerror}", file=path) from None
        size = Path(path).stat().st_size
        close = raw.close
    counting = _Counting(raw)
    stream = io.BufferedReader(counting, buffer)
    head = stream.peek(4)[:4]
    if head == ZSTD_MAGIC:
        close()
        raise InputError("zstd-compressed; decompress it first (zstd -d)", file=name)
    if head[:2] != GZIP_MAGIC:
        return Opened(name, stream, counting, size, close, compressed=False)
    cap = (
        limit
        if limit is not None
        else (STDIN_CAP if size is None else max(MIN_FILE_CAP, MAX_RATIO * size))
    )
    inflated = _Counting(cast(IO[bytes], gzip.GzipFile(fileobj=stream)), cap, name)
    return Opened(name, io.BufferedReader(inflated, buffer), counting, size, close, compressed=True)


STDIN = "<stdin>"
"""How a message names standard input ('-')."""


@contextmanager
def local_file(path: str) -> Iterator[str]:
    """`path`, or for '-' a temporary file holding stdin (inflated, capped like any
    input): for readers that need a named file (DuckDB's read_csv reads bills
    itself). The copy is removed afterwards."""
    if path != "-":
        yield path
        return
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="costper-") as tmp:
        copy = str(Path(tmp) / "stdin")
        with open_input("-") as opened, open(copy, "wb") as out:
            shutil.copyfileobj(opened.stream, out, 1 << 20)
        try:
            yield copy
        except InputError as e:
            if e.file == copy:
                raise InputError(
                    e.message, file=STDIN, line=e.line, field=e.field, value=e.value
                ) from None
            raise


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding (identity, gzip or deflate) without passing `limit` bytes."""
    enc = (encoding or "").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP_WBITS, enc, limit)
    if enc == "deflate":
        try:
            return _inflate(body, _ZLIB_WBITS, enc, limit)
        except InputError as e:
            if isinstance(e, TooLarge):
                raise
            return _inflate(body, _RAW_DEFLATE_WBITS, enc, limit)
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
                raise TooLarge(too_large(f"the {encoding} body, inflated,", limit))
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
        data = d.unused_data if wbits == _GZIP_WBITS else b""
    return b"".join(out)


def too_large(what: str, limit: int) -> str:
    return f"{what} is over the limit of {limit} bytes (max_request_bytes); send smaller batches"
