"""The concurrency soak (bench/soak.py) in the suite: a short run by default,
a long one (>= 60 s of traffic, two kill -9 restarts) with the slow tests.

A watchdog fails the test if the soak does not finish in time: a hang is a
failure, not a stuck CI job.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

import soak  # noqa: E402


def _soak(tmp_path: Path, seconds: float, rounds: int, budget: float) -> soak.Result:
    servers: list[soak.Server] = []
    out: dict[str, object] = {}

    def go() -> None:
        try:
            out["result"] = soak.run(seconds, rounds, tmp_path, servers=servers)
        except BaseException as e:  # handed to the test's thread
            out["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(budget)
    if t.is_alive():
        for s in servers:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
        pytest.fail(f"the soak hung: not finished after {budget:.0f} s")
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    result = out["result"]
    assert isinstance(result, soak.Result)
    print(f"\nsoak: {result}")
    assert result.failures == []
    assert result.fivexx == 0
    assert (result.lost_spans, result.lost_outcomes, result.duplicated) == (0, 0, 0)
    assert result.unreported == 0
    assert result.acked_spans > 0 and result.acked_outcomes > 0 and result.reports > 0
    assert result.stored_calls >= result.acked_spans
    assert result.sigterm_seconds < 15
    return result


def test_soak_short(tmp_path: Path) -> None:
    _soak(tmp_path, seconds=5, rounds=2, budget=240)


@pytest.mark.slow
def test_soak_a_minute_with_two_kills(tmp_path: Path) -> None:
    result = _soak(tmp_path, seconds=20, rounds=3, budget=600)
    assert result.seconds >= 60
