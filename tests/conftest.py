from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from costper.config import Config
from costper.store._store import Store, open_store

# Subprocess tests run `costper` by name: make it the one of this interpreter,
# even when the virtualenv is not activated (`.venv/bin/python -m pytest`).
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

# The real, anonymized FOCUS 1.0 sample of the FinOps Foundation (CC BY 4.0),
# copied from the project's shared data so the suite runs from any clone;
# provenance and checksum in tests/data/focus-samples/README.md.
FOCUS_SAMPLE = Path(__file__).parent / "data" / "focus-samples" / "FOCUS-1.0" / "focus_sample.csv"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "costper.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = open_store(db_path)
    yield s
    s.close()


@pytest.fixture
def cfg(db_path: Path) -> Config:
    return Config(db=str(db_path))
