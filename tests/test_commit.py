"""`costper commit`: Microsoft's published PTU sizing examples, and the cheapest commitment
checked against a brute force written here, on a constructed demand series in a real store."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from costper._demo import generate
from costper.cli import main
from costper.planning._capacity import resolve_spec
from costper.planning._commitment import size
from costper.store._store import open_store

START = datetime(2026, 11, 2, 9, 0)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# Microsoft Learn, "Determine PTU sizing for a workload", worked example: 1,000 RPM,
# 200 prompt and 20 response tokens, gpt-5.2 Data Zone (3,400 TPM per PTU, ratio 8).
@pytest.mark.parametrize(
    ("cache", "normalized", "raw", "units"),
    [("0", 360_000, "105.88", 110), ("0.5", 260_000, "76.47", 80)],
)
def test_microsoft_worked_example(cache: str, normalized: int, raw: str, units: int) -> None:
    spec = resolve_spec("azure", "gpt-5.2", "data-zone", {}, {})
    s = size(spec, Decimal(1000), Decimal(200), Decimal(20), Decimal(cache))
    assert s.input_tpm == 200_000 and s.output_tpm == 20_000
    assert s.normalized_tpm == normalized
    assert round(s.raw_units, 2) == Decimal(raw)
    assert s.units == units


def test_calculator_form_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "commit", "--provider", "azure", "--model", "gpt-5.2", "--deployment",
        "data-zone", "--rpm", "1000", "--prompt-tokens", "200", "--output-tokens", "20",
        "--cache-rate", "0.5", "--unit-price", "260", "--price-per", "month", "--format", "json",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["normalized_tpm"] == 260_000 and doc["units"] == 80
    assert doc["cost_per_month"] == pytest.approx(80 * 260)
    # Regional gpt-4o: minimum 50, steps of 50 (Microsoft's "Previous models" table).
    code, out, _ = run(
        capsys, "commit", "--provider", "azure", "--model", "gpt-4o", "--deployment", "regional",
        "--rpm", "10", "--prompt-tokens", "10000", "--output-tokens", "500", "--format", "json",
    )  # fmt: skip
    doc = json.loads(out)
    assert doc["normalized_tpm"] == 10 * (10_000 + 4 * 500) and doc["raw_units"] == 48.0
    assert doc["units"] == 50
    code, out, _ = run(
        capsys, "commit", "--provider", "azure", "--model", "gpt-4o", "--deployment", "regional",
        "--rpm", "11", "--prompt-tokens", "10000", "--output-tokens", "500", "--format", "json",
    )  # fmt: skip
    assert json.loads(out)["units"] == 100


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--provider", "oracle", "--model", "gpt-4o"], "--provider: expected one of azure"),
        (["--provider", "azure", "--model", "gpt-4o", "--deployment", "edge"], "--deployment"),
        (["--provider", "vertex", "--model", "gemini-2.5-flash", "--rpm", "1",
          "--prompt-tokens", "1", "--output-tokens", "1"], "--tpm-per-unit"),
        (["--provider", "azure", "--model", "gpt-4o", "--rpm", "1"], "--rpm, --prompt-tokens"),
        (["--provider", "azure", "--model", "gpt-4o", "--rpm", "1", "--prompt-tokens", "1",
          "--output-tokens", "1", "--cache-rate", "2"], "--cache-rate: must be between 0 and 1"),
        (["--provider", "azure", "--model", "gpt-4o", "--min-units", "0.5", "--rpm", "1",
          "--prompt-tokens", "1", "--output-tokens", "1"], "--min-units: expected a whole"),
        (["--provider", "azure", "--model", "gpt-4o", "--unit-price", "1", "--price-per", "week",
          "--rpm", "1", "--prompt-tokens", "1", "--output-tokens", "1"], "--price-per: expected"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], says: str
) -> None:
    code, _, err = run(capsys, "commit", "--db", str(tmp_path / "none.duckdb"), *args)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


# A constructed series: 3 days of minutes, demand in normalized tokens set minute by minute.
CAP = 1000  # tokens a minute per unit (--tpm-per-unit)
PRICE_PER_HOUR = 0.05


def _series() -> list[tuple[int, int, int, float]]:
    """(input, cached, output, cost) per minute; some minutes idle, a daily peak."""
    rows = []
    for m in range(3 * 1440):
        hour = (m // 60) % 24
        if m % 7 == 3:
            rows.append((0, 0, 0, 0.0))
            continue
        base = 9_000 if 8 <= hour < 18 else 4_000
        spike = 15_000 if m % 97 == 0 else 0
        inp = base + spike + (m * 37) % 1_500
        cached = inp // 5
        out = 300 + (m * 13) % 200
        cost = (inp - cached) * 2e-6 + cached * 1e-6 + out * 8e-6
        rows.append((inp, cached, out, cost))
    return rows


def _brute_force(
    rows: list[tuple[int, int, int, float]], ratio: float, cached_weight: float = 0.0
) -> dict[int, float]:
    """Total over the window for every N, by plain loops: N units x price x hours, plus per
    minute the demand above N x CAP priced at that minute's pay-as-you-go cost per token."""
    minutes = len(rows)
    demand = [(i - c) + cached_weight * c + ratio * o for i, c, o, _ in rows]
    peak_units = math.ceil(max(demand) / CAP)
    totals = {}
    for n in range(0, peak_units + 1):
        total = n * PRICE_PER_HOUR * minutes / 60
        for d, (_, _, _, cost) in zip(demand, rows, strict=True):
            if d > n * CAP:
                total += cost * (d - n * CAP) / d
        totals[n] = total
    return totals


def _store_with(rows: list[tuple[int, int, int, float]], path: Path) -> None:
    n = len(rows)
    keep = [i for i, r in enumerate(rows) if r[0] > 0]
    t = pa.table(
        {
            "trace_id": [f"t{i:08d}" for i in keep], "span_id": [f"s{i:08d}" for i in keep],
            "session_id": [f"sess{i // 60}" for i in keep], "turn_id": [f"t{i:08d}" for i in keep],
            "feature": ["batch"] * len(keep), "provider": ["azure.ai.openai"] * len(keep),
            "model": ["gpt-4o-2024-08-06"] * len(keep),
            "start_time": [START + timedelta(minutes=i, seconds=17) for i in keep],
            "input_tokens": [rows[i][0] for i in keep], "cache_read_tokens": [rows[i][1] for i in keep],
            "output_tokens": [rows[i][2] for i in keep], "cost": [rows[i][3] for i in keep],
            "cost_source": ["config"] * len(keep), "failed": [False] * len(keep),
        }
    )  # fmt: skip
    assert n == 3 * 1440
    with open_store(path) as store:
        store.insert("calls", t)


def test_optimal_commitment_matches_a_brute_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _series()
    db = tmp_path / "c.duckdb"
    _store_with(rows, db)
    end = START + timedelta(minutes=len(rows))
    code, out, err = run(
        capsys, "commit", "--db", str(db), "--provider", "bedrock", "--model", "gpt-4o",
        "--tpm-per-unit", str(CAP), "--output-ratio", "3", "--cached-weight", "0",
        "--unit-price", str(PRICE_PER_HOUR),
        "--since", START.isoformat() + "Z", "--until", end.isoformat() + "Z", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    totals = _brute_force(rows, 3.0)
    best = min(totals, key=lambda n: (totals[n], n))
    options = {o["label"]: o for o in doc["options"]}
    assert options["optimal"]["units"] == best
    assert options["optimal"]["total"] == pytest.approx(totals[best], rel=1e-9)
    assert options["pay-as-you-go"]["total"] == pytest.approx(sum(r[3] for r in rows), rel=1e-9)
    for o in options.values():
        assert o["total"] == pytest.approx(totals[o["units"]], rel=1e-9)
    curve = {c["units"]: c["total"] for c in doc["curve"]}
    assert curve == pytest.approx({n: totals[n] for n in curve}, rel=1e-9)
    assert set(curve) == set(totals)  # model units: minimum 1, step 1 -> every N
    # p95/p99/peak sizing by nearest rank over all 4,320 minutes (idle ones as 0).
    demand = sorted((i - c) + 3 * o for i, c, o, _ in rows)
    for label, q in (("p95", 0.95), ("p99", 0.99), ("peak", 1.0)):
        want = demand[math.ceil(q * len(demand)) - 1]
        assert doc["demand_tpm"][label] == pytest.approx(want)
        assert options[label]["units"] == math.ceil(want / CAP)
    # Break-even utilisation: a unit-minute's price against CAP tokens at the average price.
    avg = sum(r[3] for r in rows) / sum(demand)
    assert doc["break_even_utilisation"] == pytest.approx(PRICE_PER_HOUR / 60 / (CAP * avg))
    served = sum(min(d, best * CAP) for d in demand)
    assert options["optimal"]["utilisation"] == pytest.approx(served / (best * CAP * len(rows)))


def test_config_supplies_capacity_and_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _series()
    db = tmp_path / "c.duckdb"
    _store_with(rows, db)
    cfg = tmp_path / "costper.toml"
    cfg.write_text(
        '[commitments."bedrock/gpt-4o"]\n'
        f"tpm_per_unit = {CAP}\noutput_ratio = 3\ncached_weight = 0.5\n"
        f"unit_price = {PRICE_PER_HOUR * 730}\n"
        'price_per = "month"\n'
    )
    code, out, err = run(
        capsys, "commit", "--db", str(db), "--config", str(cfg), "--provider", "bedrock",
        "--model", "gpt-4o", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    totals = _brute_force(rows[: doc["window"]["minutes"]], 3.0, 0.5)
    assert doc["price_per_hour"] == pytest.approx(PRICE_PER_HOUR)
    best = min(totals, key=lambda n: (totals[n], n))
    assert next(o for o in doc["options"] if o["label"] == "optimal")["units"] == best
    cfg.write_text('[commitments."bedrock/gpt-4o"]\ntpm_per_unit = "many"\n')
    code, _, err = run(
        capsys, "commit", "--db", str(db), "--config", str(cfg), "--provider", "bedrock",
        "--model", "gpt-4o",
    )  # fmt: skip
    assert code == 2 and 'commitments."bedrock/gpt-4o".tpm_per_unit: expected a number' in err
    code, _, err = run(
        capsys, "commit", "--db", str(db), "--provider", "azure", "--model", "gpt-4o"
    )
    assert code == 2 and "--unit-price" in err


def test_the_demo_plants_a_commitment_worth_buying(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    with open_store(db) as store:
        generate(store, sessions=20_000, seed=1, end=datetime(2026, 12, 1))
    out = subprocess.run(
        [sys.executable, "-m", "costper", "commit", "--db", str(db), "--provider", "azure",
         "--model", "gpt-4o", "--unit-price", "260", "--price-per", "month", "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    best = next(o for o in doc["options"] if o["label"] == "optimal")
    peak = next(o for o in doc["options"] if o["label"] == "peak")
    assert best["units"] >= 15 and best["saving"] > 0
    assert peak["units"] > best["units"] and peak["saving"] < 0


def test_vertex_gsus_by_googles_formula() -> None:
    # Google: throughput/s = (inputs + outputs burned down) x queries/s; gemini-2.0-flash
    # serves 3,360 tokens/s per GSU and burns an output token as 4. By hand: 10 QPS x
    # (1,000 + 4 x 300) = 22,000 tokens/s = 6.55 GSUs -> 7.
    spec = resolve_spec("vertex", "gemini-2.0-flash-001", "global", {}, {})
    s = size(spec, Decimal(600), Decimal(1000), Decimal(300))
    assert s.normalized_tpm == 22_000 * 60
    assert round(s.raw_units, 2) == Decimal("6.55") and s.units == 7
