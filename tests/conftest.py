from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from costper.config import Config
from costper.store import Store, open_store

# Subprocess tests run `costper` by name: make it the one of this interpreter,
# even when the virtualenv is not activated (`.venv/bin/python -m pytest`).
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

SHARED = Path(__file__).resolve().parents[2] / "shared"
FOCUS_SAMPLE = SHARED / "data" / "focus-samples" / "FOCUS-1.0" / "focus_sample.csv"


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
