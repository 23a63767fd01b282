"""A lean view of OTLP trace requests for the ingest hot path.

The generated OTLP classes make a Python object for every attribute, and an
LLM span carries dozens (most of them message content costper never reads).
This module declares a wire-compatible subset of the OTLP schema in which a
span's attributes stay serialized `KeyValue` bytes: protobuf still parses the
request in C, and the mapping looks at each attribute's key prefix without
decoding anything else. Only the few attributes costper reads are decoded,
by `kv_value` below. Fields not declared here (names, kinds, links, scope versions)
are skipped by the parser.

Every OTLP encoder writes a KeyValue's key before its value (canonical field
order), which is what the key-prefix test relies on.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from costper.errors import InputError

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "costper.otlp_lean"


def _schema() -> descriptor_pool.DescriptorPool:
    fd = descriptor_pb2.FileDescriptorProto(
        name="costper/otlp_lean.proto", package=_PACKAGE, syntax="proto3"
    )
    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        m = fd.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".{_PACKAGE}.{type_name}"

    msg, raw = _F.TYPE_MESSAGE, _F.TYPE_BYTES
    message("Status", [("code", 3, _F.TYPE_INT32, one, "")])
    message("Event", [("name", 2, _F.TYPE_STRING, one, ""), ("attributes", 3, raw, many, "")])
    message(
        "Span",
        [
            ("trace_id", 1, raw, one, ""),
            ("span_id", 2, raw, one, ""),
            ("parent_span_id", 4, raw, one, ""),
            ("start_time_unix_nano", 7, _F.TYPE_FIXED64, one, ""),
            ("end_time_unix_nano", 8, _F.TYPE_FIXED64, one, ""),
            ("attributes", 9, raw, many, ""),
            ("events", 11, msg, many, "Event"),
            ("status", 15, msg, one, "Status"),
        ],
    )
    message("Scope", [("name", 1, _F.TYPE_STRING, one, "")])
    message("ScopeSpans", [("scope", 1, msg, one, "Scope"), ("spans", 2, msg, many, "Span")])
    message("Resource", [("attributes", 1, raw, many, "")])
    message(
        "ResourceSpans",
        [("resource", 1, msg, one, "Resource"), ("scope_spans", 2, msg, many, "ScopeSpans")],
    )
    message("Request", [("resource_spans", 1, msg, many, "ResourceSpans")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return pool


_POOL = _schema()
LeanRequest: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.Request")
)
"""ExportTraceServiceRequest with attributes left as KeyValue bytes."""


def lean(request: Any) -> Any:
    """A LeanRequest for any request: lean ones as they are, generated ones re-read."""
    if isinstance(request, LeanRequest):
        return request
    return LeanRequest.FromString(request.SerializeToString())


def parse_lean(body: bytes) -> Any:
    """Parse protobuf bytes of an ExportTraceServiceRequest (raises DecodeError)."""
    return LeanRequest.FromString(body)


def key_prefixes(keys: Iterable[str]) -> dict[bytes, str]:
    """Serialized starts of KeyValues with these keys: tag 1, length, key."""
    out = {}
    for k in keys:
        b = k.encode()
        if len(b) > 127:
            raise ValueError(f"attribute key too long for the fast path: {k!r}")
        out[b"\x0a" + bytes([len(b)]) + b] = k
    return out


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def kv_value(kv: bytes, pos: int) -> Any:
    """The value of a serialized KeyValue whose key ends at `pos` (scalars; else None).

    Short strings and small ints, nearly every value read, take a few byte
    reads; anything else goes through the general decoder or the full one.
    """
    try:
        size = len(kv)
        if pos + 4 <= size and kv[pos] == 0x12 and pos + 2 + kv[pos + 1] == size:
            tag = kv[pos + 2]
            if tag == 0x0A and pos + 4 + kv[pos + 3] == size:
                return kv[pos + 4 :].decode("utf-8", "replace")
            if tag == 0x18 and kv[-1] < 0x80:
                v = _varint(kv, pos + 3)[0]
                return v - (1 << 64) if v >= 1 << 63 else v
        return _general_value(kv, pos)
    except IndexError:
        return _slow_value(kv)


def _general_value(kv: bytes, pos: int) -> Any:
    if pos >= len(kv):
        return None
    if kv[pos] != 0x12:
        return _slow_value(kv)
    size, pos = _varint(kv, pos + 1)
    end = pos + size
    if size == 0:
        return None
    if end != len(kv):
        return _slow_value(kv)
    tag = kv[pos]
    if tag == 0x0A:
        n, pos = _varint(kv, pos + 1)
        if pos + n != end:
            return _slow_value(kv)
        return kv[pos:end].decode("utf-8", "replace")
    if tag == 0x18:
        v, pos = _varint(kv, pos + 1)
        return v - (1 << 64) if v >= 1 << 63 else v
    if tag == 0x21 and end - pos == 9:
        return struct.unpack_from("<d", kv, pos + 1)[0]
    if tag == 0x10:
        return bool(_varint(kv, pos + 1)[0])
    return _slow_value(kv)


def _key_value(raw: bytes) -> KeyValue:
    """The full decoder, its DecodeError worded as costper's own: the lean parse
    leaves attributes as bytes, so a corrupt one is only found here."""
    try:
        kv: KeyValue = KeyValue.FromString(raw)
        return kv
    except DecodeError as e:
        raise InputError(
            f"a span attribute is not valid OTLP protobuf ({e})", value=raw[:40]
        ) from None


def _slow_value(kv: bytes) -> Any:
    v = _key_value(kv).value
    kind = v.WhichOneof("value")
    if kind is None or kind in ("array_value", "kvlist_value"):
        return None
    return getattr(v, kind)


def kv_pairs(attributes: Iterable[bytes]) -> dict[str, Any]:
    """Fully decode serialized KeyValues (slow path: events, odd encodings)."""
    out = {}
    for raw in attributes:
        kv = _key_value(raw)
        kind = kv.value.WhichOneof("value")
        out[kv.key] = (
            None if kind in (None, "array_value", "kvlist_value") else getattr(kv.value, kind)
        )
    return out
