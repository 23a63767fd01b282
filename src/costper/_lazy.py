"""Lazy public names for costper's packages.

Each package `__init__` lists its public names and the private module that
defines each; a name is imported on first use, so importing a package stays
cheap (the SDK inside an application loads no engine) and free of cycles.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` resolving `names` (name -> module, relative to `package`
    unless it starts with `costper.`)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if module.startswith("costper.") else f"{package}.{module}"
        return getattr(importlib.import_module(target), name)

    return __getattr__
