"""JSON from outside: decoded with limits, walked with its shape checked.

Python's decoder recurses once per nesting level, so 5,000 `[` in a request
body raise RecursionError; a `\\ud800` escape decodes to a lone surrogate that
fails only later, wherever the text is encoded. Both are the sender's fault,
so both are an InputError here, naming what was being read.
"""

from __future__ import annotations

import re
from typing import Any

from costper.errors import InputError

MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_STR = re.compile(r"\\u[dD][89a-fA-F]")


def loads(data: bytes | str, what: str, *, field: str = "body") -> Any:
    """`json.loads`, with every failure an InputError naming `what`."""
    import json

    try:
        doc = json.loads(data)
    except RecursionError:
        raise InputError(
            f"{what}: JSON nested too deeply (more than {MAX_DEPTH} levels)", field=field
        ) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{what}: not valid JSON: {e}", field=field) from None
    pattern = _SURROGATE_ESCAPE if isinstance(data, bytes) else _SURROGATE_ESCAPE_STR
    if pattern.search(data):  # type: ignore[arg-type]
        check_text(doc, what)
    depth = _depth(doc)
    if depth > MAX_DEPTH:
        raise InputError(
            f"{what}: JSON nested too deeply ({depth} levels; at most {MAX_DEPTH})", field=field
        )
    return doc


def check_text(doc: Any, what: str) -> None:
    """Every string (and key) in `doc` is valid Unicode: no lone surrogates."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(
                    f"{what}: text with a lone surrogate {node[:40]!r} (not valid Unicode)",
                    field="body",
                    value=node[:40],
                ) from None


def _depth(doc: Any) -> int:
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in node if isinstance(v, dict | list))
    return deepest


def objects(parent: Any, key: str, where: str, *aliases: str) -> list[dict[str, Any]]:
    """`parent[key]` (or an alias) as a list of objects; absent or null is empty."""
    if not isinstance(parent, dict):
        raise InputError(f"{where}: expected an object, got {_short(parent)}", field=where)
    value = None
    for k in (key, *aliases):
        if parent.get(k) is not None:
            value = parent[k]
            break
    if value is None:
        return []
    name = f"{where}.{key}" if where else key
    if not isinstance(value, list):
        raise InputError(f"{name}: expected a list, got {_short(value)}", field=key)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(f"{name}[{i}]: expected an object, got {_short(item)}", field=key)
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
