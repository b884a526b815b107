"""Charts: valid PNGs of the expected size that decode, and None when there is no data."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from rtbench.metrics.histogram import LatencyHistogram
from rtbench.report import charts
from rtbench.report.frames import Bundle, load_bundle


def _decoded(png: bytes | None) -> np.ndarray:
    assert png is not None
    assert png.startswith(charts.PNG_SIGNATURE)
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.shape[1] == charts.WIDTH_IN * charts.DPI  # 1000 px wide
    assert pixels.shape[0] > 200
    assert float(pixels[..., :3].std()) > 0.05  # something is drawn, not a blank canvas
    return pixels


@pytest.fixture
def loaded(bundle: Path) -> Bundle:
    return load_bundle(bundle)


def _histograms(loaded: Bundle, metrics: tuple[str, ...]) -> dict[str, LatencyHistogram | None]:
    return {m: loaded.histogram(m) for m in metrics}


def test_time_series_charts(loaded: Bundle) -> None:
    frame = loaded.timeseries
    for png in (
        charts.latency_over_time(frame),
        charts.throughput_over_time(frame),
        charts.client_over_time(frame, 10.0, 85.0),
        charts.target_over_time(frame),
    ):
        _decoded(png)


def test_stacked_panels_grow_the_figure(loaded: Bundle) -> None:
    frame = loaded.timeseries
    assert frame is not None
    both = _decoded(charts.latency_over_time(frame))
    only_ttft = _decoded(charts.latency_over_time(frame.drop(columns=["e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms"])))
    assert both.shape[0] > only_ttft.shape[0]


def test_histogram_charts(loaded: Bundle) -> None:
    _decoded(charts.percentile_distribution(_histograms(loaded, ("ttft", "itl", "e2e")), {"ttft": "steady phase"}))
    _decoded(charts.latency_histograms(_histograms(loaded, ("ttft", "itl"))))
    _decoded(charts.baseline_percentiles(_histograms(loaded, ("ttft",)), _histograms(loaded, ("ttft",))))


def test_wide_ranges_get_a_log_histogram() -> None:
    h = LatencyHistogram()
    for value in (10, 100, 1_000, 10_000, 100_000):
        h.record(value, 50)
    _decoded(charts.latency_histograms({"itl": h}))
    single = LatencyHistogram()
    single.record(5_000, 7)  # one bucket: the bins must still have a width
    _decoded(charts.latency_histograms({"ttft": single}))


def test_no_data_gives_no_chart() -> None:
    empty = pd.DataFrame({"second": [0, 1], "phase": ["ramp", "steady"], "target_rss_mb": [np.nan, np.nan]})
    assert charts.target_over_time(empty) is None
    assert charts.target_over_time(None) is None
    assert charts.latency_over_time(empty) is None
    assert charts.throughput_over_time(None) is None
    assert charts.client_over_time(empty) is None
    assert charts.percentile_distribution({"ttft": None, "itl": LatencyHistogram()}, {}) is None
    assert charts.latency_histograms({"ttft": LatencyHistogram()}) is None


def test_percentile_axis_is_labelled_in_percent() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 100_000], [1, 2])
    charts._tail_axis(ax, 100_000.0)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["50%", "90%", "99%", "99.9%", "99.99%", "99.999%"]


def _near(pixels: np.ndarray, colour: str, tolerance: float = 0.12) -> int:
    """How many pixels are within `tolerance` (0..1 per channel) of `colour` (#rrggbb)."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
    return int((np.abs(pixels[..., :3] - rgb).max(axis=-1) < tolerance).sum())


def test_events_are_marked_on_every_time_chart(loaded: Bundle) -> None:
    frame = loaded.timeseries
    marks = [(12.0, "worker_crash"), (30.5, "target_crash")]
    makers = (
        charts.latency_over_time,
        charts.throughput_over_time,
        charts.target_over_time,
        lambda f, e=(): charts.client_over_time(f, 10.0, 85.0, e),
    )
    for make in makers:
        plain, marked = _decoded(make(frame)), _decoded(make(frame, marks))
        for _, kind in marks:
            colour = charts.EVENT_COLOURS[kind]
            assert _near(plain, colour) == 0, (make, kind)
            assert _near(marked, colour) > 100, (make, kind)  # a dashed line down each panel


def _grey(pixels: np.ndarray) -> int:
    """Mid-grey pixels: the hatched untrusted seconds (grids and text are few of them)."""
    rgb = pixels[..., :3]
    flat, mean = (rgb.max(axis=-1) - rgb.min(axis=-1)) < 0.04, rgb.mean(axis=-1)
    return int((flat & (mean > 0.3) & (mean < 0.85)).sum())


def test_untrusted_seconds_are_hatched_on_the_latency_and_client_charts(loaded: Bundle) -> None:
    frame = loaded.timeseries
    assert frame is not None
    frame = frame.assign(client_lag_max_ms=8.0, client_runq_delay_ms=0.3, machine_cpu=55.0)
    limits = {"lag_max_ms": 50.0, "runq_delay_ms": 1.0}
    makers = (
        lambda u: charts.latency_over_time(frame, (), u),
        lambda u: charts.client_over_time(frame, 10.0, 85.0, (), u, limits),
    )
    for make in makers:
        plain, three, eight = (_grey(_decoded(make(u))) for u in ([], [10, 11, 12], [10, 11, 12, 20, 21, 22, 23, 24]))
        assert plain + 10_000 < three < eight - 10_000, (plain, three, eight)  # each hatched second adds grey


def test_the_client_chart_shows_stalls_waits_and_the_machine(loaded: Bundle) -> None:
    frame = loaded.timeseries
    assert frame is not None
    old = _decoded(charts.client_over_time(frame, 10.0, 85.0))  # a bundle without the columns: 2 panels
    new = _decoded(
        charts.client_over_time(frame.assign(client_lag_max_ms=8.0, client_runq_delay_ms=0.3, machine_cpu=55.0))
    )
    assert new.shape[0] > 2 * old.shape[0]  # 5 panels


def test_the_target_chart_draws_an_llm_servers_own_metrics() -> None:
    """A target seen only through llama.cpp's or vLLM's metrics (no RSS or CPU) still gets a chart:
    its queue, KV-cache use and tokens/s, one panel each."""
    seconds = list(range(6))
    frame = pd.DataFrame(
        {
            "second": seconds,
            "phase": ["ramp", "steady", "steady", "steady", "steady", "stop"],
            "target_waiting": [0, 2, 3, 2, 2, 0],
            "target_running": [2, 4, 4, 4, 4, 1],
            "target_generation_tokens_per_s": [np.nan, 80.0, 82.0, 79.0, 81.0, 20.0],
        }
    )
    queue_and_tokens = _decoded(charts.target_over_time(frame))
    frame["target_kv_cache_pct"] = [5.0, 20.0, 30.0, 30.0, 31.0, 10.0]
    assert _decoded(charts.target_over_time(frame)).shape[0] > queue_and_tokens.shape[0]
