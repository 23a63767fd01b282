"""One group's power sums from its session costs and outcomes, as the engine aggregates them."""

from __future__ import annotations

import numpy as np

from costper.engine._moments import Sums


def power_sums(c: np.ndarray, s: np.ndarray) -> Sums:
    return Sums(
        float(len(c)), float(c.sum()), float(s.sum()), float((c * c).sum()), float(s.sum()),
        float((c * s).sum()), float((c**3).sum()), float((c * c * s).sum()), float(c.max()),
    )  # fmt: skip
