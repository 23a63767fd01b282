"""The public API resolves whatever was imported before it (issue 9: `costper.compare`
was a module, not the function, once anything had imported `costper.compare`)."""

from __future__ import annotations

import json
import os
import pkgutil
import random
import subprocess
import sys

import pytest

import costper

PACKAGES = ("engine", "pricing", "planning", "billing", "store", "telemetry")

CHECK = r"""
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
import costper
bad = []
def check(module, name):
    value = getattr(module, name, None)
    if not callable(value) or isinstance(value, type(costper)):
        bad.append(f"{module.__name__}.{name}: {type(value).__name__}")
for name in costper.__all__:
    check(costper, name)
for pkg in sys.argv[2].split(","):
    module = importlib.import_module(f"costper.{pkg}")
    for name in module.__all__:
        check(module, name)
out = costper.report, costper.compare
print(json.dumps({"bad": bad, "report": out[0].__module__, "compare": out[1].__module__}))
"""


def _submodules() -> list[str]:
    found = [
        m.name
        for m in pkgutil.walk_packages(costper.__path__, "costper.")
        if not m.name.endswith("__main__")
    ]
    assert "costper.engine._compare" in found and "costper.engine._report" in found
    return found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_public_name_resolves_after_any_import_order(seed: int) -> None:
    order = _submodules()
    random.Random(seed).shuffle(order)
    if seed == 0:  # the order that used to break: the module first, then the function
        order.sort(key=lambda m: m not in ("costper.engine._compare", "costper.engine._report"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(order), ",".join(PACKAGES)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "bad": [],
        "report": "costper.engine._report",
        "compare": "costper.engine._compare",
    }


def test_a_store_and_an_ibis_backend_are_sources(tmp_path) -> None:
    """`Source` (costper.store) is what report/compare/what_if take: a Store is one,
    a bare Ibis backend becomes one through `as_source` (the read paths call it)."""
    import ibis

    from costper.store import BackendSource, Source, as_source, open_store

    with open_store(tmp_path / "s.duckdb") as store:
        assert isinstance(store, Source) and as_source(store) is store
    wrapped = as_source(ibis.duckdb.connect())
    assert isinstance(wrapped, BackendSource) and isinstance(wrapped, Source)
    assert wrapped.read_only and wrapped.count("calls") == 0
    assert not isinstance("costper.duckdb", Source)
