"""API vs self-hosted: the article's rows, hand-computed break-evens, properties, the chart."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costper.cli.options import flag
from costper.errors import InputError
from costper.planning._breakeven import (
    Deployment,
    breakeven_compute,
    breakeven_json,
    breakeven_per_success,
    build_deployment,
    compare,
    gpus_needed,
    row,
)
from costper.planning._plot import write_plot


def test_the_articles_rows() -> None:
    d = Deployment()
    assert d.gpu_month == D("1460.00")  # 2.00/h x 730 h
    rows = {int(r.requests): r for r in compare(d).rows}
    small, mid, big = rows[100_000], rows[1_000_000], rows[10_000_000]
    assert small.api_compute == D("1000") and small.self_compute == D("1460")
    assert small.api_compute < small.self_compute  # self-hosting is more expensive
    assert mid.api_compute == D("10000") and mid.gpus == 1
    assert mid.self_compute < mid.api_compute  # self-hosting wins
    # 10B tokens / (800 tok/s x 0.7 x 730 h x 3600 s) = 6.8 -> 7 GPUs = 10,220: about 10x cheaper
    assert big.gpus == 7 and big.self_compute == D("10220")
    assert D(9) < big.compute_ratio < D(11)  # type: ignore[operator]


def test_compute_break_even_by_hand() -> None:
    b = breakeven_compute(Deployment())
    assert (b.requests, b.gpus) == (146_000, 1)  # 1,460 / (1,000 tokens x 10/1M)
    # With 20,000 of ops a month the first GPU never pays; on the second step
    # 2 x 1,460 + 20,000 = 22,920 = 0.01 x V -> V = 2,292,000 (<= 2 x 1,471,680).
    b = breakeven_compute(build_deployment({"ops": "20000"}))
    assert (b.requests, b.gpus) == (2_292_000, 2)


def test_break_even_is_where_self_hosting_stays_cheaper_not_the_first_crossing() -> None:
    # 36,000 tokens a request at 25/1M = 0.90 a request; one GPU serves
    # 10 tok/s x 100 h x 3600 s / 36,000 = 100 requests; a GPU costs 0.80 x 100 h = 80.
    d = build_deployment(
        {
            "api_price": "25",
            "tokens_per_request": "36000",
            "gpu_price": "0.80",
            "hours": "100",
            "throughput": "10",
            "utilisation": "1",
        }
    )
    assert (d.api_per_request, d.requests_per_gpu, d.gpu_month) == (D("0.9"), 100, 80)
    # One GPU beats the API from 89 requests (80 <= 0.9 V), but at 101 a second GPU is needed
    # (160 > 90.9). Step k is wholly cheaper iff 80k <= 0.9 x 100 (k-1), i.e. k >= 9; on step 8,
    # 640 <= 0.9 V from V = 711.1: the tail starts at 712.
    assert row(d, D(89)).self_compute <= row(d, D(89)).api_compute
    assert row(d, D(101)).self_compute > row(d, D(101)).api_compute
    b = breakeven_compute(d)
    assert (b.requests, b.gpus) == (712, 8)
    assert row(d, D(711)).self_compute > row(d, D(711)).api_compute
    for v in range(712, 2000):
        r = row(d, D(v))
        assert r.self_compute <= r.api_compute, v


def test_success_rates_priced_in() -> None:
    worse = breakeven_per_success(build_deployment({"self_success_rate": "0.90"}))
    assert worse.requests is None and "fails more often" in worse.why
    # Self-hosted 97% vs API 95%, 15.00 a failure: per request worth
    # 0.97 (0.01 + 0.05 x 15) / 0.95 - 0.03 x 15 = 0.776 - 0.45 = 0.326; 1,460 / 0.326 = 4,478.5.
    better = breakeven_per_success(build_deployment({"self_success_rate": "0.97"}))
    assert (better.requests, better.gpus) == (4479, 1)
    d = build_deployment({"self_success_rate": "0.97"})
    at, below = row(d, D(4479)), row(d, D(4478))
    assert at.self_per_success <= at.api_per_success
    assert below.self_per_success > below.api_per_success
    same = breakeven_per_success(Deployment())
    assert same.requests == breakeven_compute(Deployment()).requests


def test_gpus_needed() -> None:
    d = Deployment()
    assert gpus_needed(d, D(1)) == 1
    assert gpus_needed(d, D(1_471_680)) == 1
    assert gpus_needed(d, D(1_471_681)) == 2
    assert gpus_needed(build_deployment({"utilisation": "0.35"}), D(1_471_680)) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"utilisation": "1.5"}, "--utilisation: must be a rate above 0 and at most 1, got 1.5"),
        ({"gpu_price": "-2"}, "--gpu-price: must not be negative, got -2"),
        ({"hours": "800"}, "--hours: a month has at most 744 hours, got 800"),
        ({"throughput": "0"}, "--throughput: must be greater than 0, got 0"),
        ({"api_success_rate": "0"}, "--api-success-rate: must be a rate above 0 and at most 1"),
        ({"gpu": "1"}, "--gpu: unknown parameter"),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(InputError) as e:
        build_deployment(params)
    # The core names the parameter (gpu_price); the CLI words it as its flag.
    assert str(e.value).startswith(message.removeprefix("--").split(":")[0].replace("-", "_"))
    assert e.value.worded(flag).startswith(message)


def test_breakeven_json_adds_the_users_volume() -> None:
    doc = breakeven_json({"gpu_price": 2, "requests": [250_000]})
    assert [r["requests"] for r in doc["rows"]] == [100_000, 250_000, 1_000_000, 10_000_000]
    assert doc["gpu_month"] == 1460.0
    assert doc["rows"][0]["cheaper_on_compute"] == "api"
    assert doc["rows"][1]["cheaper_on_compute"] == "self-hosted"
    assert doc["breakeven"]["compute"]["requests"] == 146_000
    with pytest.raises(InputError, match="requests: must be greater than 0"):
        breakeven_json({"requests": [-5]})


prices = st.decimals(min_value=D("0.10"), max_value=20, places=2)
throughputs = st.decimals(min_value=10, max_value=5000, places=0)


def _be(gpu: D, tput: D, ops: D, api: D) -> float:
    d = build_deployment({"gpu_price": gpu, "throughput": tput, "ops": ops, "api_price": api})
    b = breakeven_compute(d)
    return float("inf") if b.requests is None else b.requests


@settings(max_examples=200, deadline=None)
@given(prices, prices, throughputs, st.decimals(min_value=0, max_value=50_000, places=0), prices)
def test_break_even_rises_with_gpu_price(g1: D, g2: D, tput: D, ops: D, api: D) -> None:
    lo, hi = sorted((g1, g2))
    assert _be(lo, tput, ops, api) <= _be(hi, tput, ops, api)


@settings(max_examples=200, deadline=None)
@given(
    prices, throughputs, throughputs, st.decimals(min_value=0, max_value=50_000, places=0), prices
)
def test_break_even_falls_with_throughput(g: D, t1: D, t2: D, ops: D, api: D) -> None:
    slow, fast = sorted((t1, t2))
    assert _be(g, fast, ops, api) <= _be(g, slow, ops, api)


@settings(max_examples=150, deadline=None)
@given(prices, throughputs, st.decimals(min_value=0, max_value=50_000, places=0), prices)
def test_break_even_is_where_self_hosting_stays_cheaper(g: D, t: D, ops: D, api: D) -> None:
    d = build_deployment({"gpu_price": g, "throughput": t, "ops": ops, "api_price": api})
    b = breakeven_compute(d)
    cap = d.requests_per_gpu
    if b.requests is None:
        # Far out, each added GPU costs at least what it saves: the API is cheaper on some step.
        k = 10**6
        r = row(d, (k * cap).to_integral_value() + 1)
        assert r.self_compute > r.api_compute or d.api_per_request * cap <= d.gpu_month
        return
    v = D(b.requests)
    checks = [v, v + 1, v * 2, v * 10] + [(k * cap).to_integral_value() + 1 for k in range(1, 40)]
    for x in checks:
        if x >= v:
            r = row(d, x)
            assert r.self_compute <= r.api_compute, x
    if v > 1:
        r = row(d, v - 1)
        assert r.self_compute > r.api_compute


def test_svg_chart(tmp_path: Path) -> None:
    c = compare(
        build_deployment({"self_success_rate": "0.97"}), [D(100_000), D(1_000_000), D(10**7)]
    )
    out = write_plot(c, tmp_path / "be.svg")
    root = ET.fromstring(out.read_text())
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert [p.find(f"{ns}title").text for p in lines] == [  # type: ignore[union-attr]
        "API, all-in",
        "self-hosted, all-in",
        "API, compute only",
        "self-hosted, compute only",
    ]
    api_all_in = [float(pt.split(",")[1]) for pt in lines[0].get("points", "").split()]
    assert max(api_all_in) - min(api_all_in) < 0.5  # flat: API cost per success does not move
    texts = [t.text or "" for t in root.iter(f"{ns}text")]
    assert "break-even (compute): 146,000" in texts
    assert "break-even (per success): 4,479" in texts
    assert "10k" in texts and "100M" in texts


def test_png_without_matplotlib_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = compare(Deployment())
    # matplotlib hidden from the import system: the one thing simulated here.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InputError, match=r"^plot: writing PNG needs matplotlib") as e:
        write_plot(c, tmp_path / "be.png")
    assert e.value.worded(flag).startswith("--plot: writing PNG needs matplotlib")
    assert not (tmp_path / "be.png").exists()
    with pytest.raises(InputError, match=r"^plot: expected a .svg or .png file"):
        write_plot(c, tmp_path / "be.gif")
    with pytest.raises(InputError, match=r"^plot: the folder .*nowhere does not exist"):
        write_plot(c, tmp_path / "nowhere" / "be.svg")


def test_png_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the optional 'plot' extra")
    out = write_plot(compare(Deployment()), tmp_path / "be.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_legend_leaves_the_lines_clear(tmp_path: Path) -> None:
    """In display coordinates the legend's box meets neither the plotted lines' extent
    nor any of their points (it used to sit on both all-in lines)."""
    pytest.importorskip("matplotlib", reason="the optional 'plot' extra")
    import numpy as np
    from matplotlib import pyplot as plt
    from matplotlib.transforms import Bbox

    from costper.planning._plot import figure

    for c in (
        compare(Deployment()),
        compare(build_deployment({"self_success_rate": "0.97"}), [D(10**5), D(10**7)]),
    ):
        fig = figure(c)
        try:
            fig.canvas.draw()
            ax = fig.axes[0]
            legend = ax.get_legend().get_window_extent()
            lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
            assert [ln.get_label() for ln in lines][:2] == ["API, all-in", "self-hosted, all-in"]
            points = np.vstack([ax.transData.transform(ln.get_xydata()) for ln in lines])
            extent = Bbox.from_extents(*points.min(axis=0), *points.max(axis=0))
            assert not legend.overlaps(extent), (legend, extent)
            assert not legend.count_contains(points)
        finally:
            plt.close(fig)


def test_svg_legend_below_the_plot(tmp_path: Path) -> None:
    from costper.planning._plot import BOTTOM, HEIGHT, TOP

    out = write_plot(compare(Deployment()), tmp_path / "be.svg")
    root = ET.fromstring(out.read_text())
    ns = "{http://www.w3.org/2000/svg}"
    plot_bottom = HEIGHT - BOTTOM
    ys = [
        float(pt.split(",")[1])
        for p in root.findall(f"{ns}polyline")
        for pt in p.get("points", "").split()
    ]
    assert TOP <= min(ys) and max(ys) <= plot_bottom
    legend = [e for e in root.iter() if e.get("class") == "legend"]
    assert len(legend) == 8
    assert all(float(e.get("y", e.get("y1", "0"))) > plot_bottom + 20 for e in legend)
    assert all(float(e.get("y", e.get("y1", "0"))) < HEIGHT for e in legend)
