"""Routes: see the module docstring once written."""

from __future__ import annotations
