"""Bundle -> frames: phase-split merges that match summary.json exactly, curves, buckets, partial
bundles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rtbench.errors import BundleError
from rtbench.metrics.histogram import LatencyHistogram, summarize_ms
from rtbench.report.frames import load_bundle, percentile_curve, phase_spans, timeseries_frame, value_counts


def test_merged_phases_equal_the_summary(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    by_phase = loaded.summary["metrics_by_phase"]
    for phase, metrics in by_phase.items():
        for metric, stats in metrics.items():
            assert summarize_ms(loaded.histograms[metric][phase]) == stats, (phase, metric)
    assert loaded.partial is False and loaded.partial_reason is None and loaded.missing == ()


def test_coverage_follows_the_summary(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert loaded.coverage("ttft") == ("steady",)
    assert loaded.coverage("connect") == ("ramp",)  # whole_run_metrics: every phase with data
    for metric in ("ttft", "itl", "connect"):
        histogram = loaded.histogram(metric)
        assert histogram is not None
        assert summarize_ms(histogram) == loaded.summary["metrics"][metric]
    assert loaded.histogram("persona_switch") is None


def test_include_ramp_covers_every_phase(bundle: Path) -> None:
    summary_path = bundle / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["include_ramp"] = True
    summary_path.write_text(json.dumps(summary))
    loaded = load_bundle(bundle)
    assert loaded.coverage("ttft") == ("ramp", "steady", "stop")
    total = sum(s["ttft"]["count"] for s in summary["metrics_by_phase"].values())
    histogram = loaded.histogram("ttft")
    assert histogram is not None and histogram.total_count == total


def test_timeseries_frame_and_phase_spans(bundle: Path) -> None:
    frame = load_bundle(bundle).timeseries
    assert frame is not None and len(frame) == 40
    assert frame["target_rss_mb"].dtype.kind == "f" and frame["phase"].iloc[0] == "ramp"
    assert phase_spans(frame) == [("ramp", 0.0, 5.0), ("steady", 5.0, 37.0), ("stop", 37.0, 40.0)]


def test_empty_cells_become_nan() -> None:
    frame = timeseries_frame(
        [{"second": 0, "phase": "ramp", "target_cpu": None}, {"second": 1, "phase": "ramp", "target_cpu": 3}]
    )
    assert frame is not None
    assert frame["target_cpu"].isna().tolist() == [True, False]
    assert timeseries_frame([]) is None


def test_percentile_curve_is_monotonic_and_matches_hdr() -> None:
    h = LatencyHistogram()
    for value in range(1, 10_001):
        h.record(value * 10)  # 10 us .. 100 ms, uniform
    curve = percentile_curve(h)
    assert curve["value_ms"].is_monotonic_increasing and curve["tail"].is_monotonic_increasing
    assert curve["tail"].iloc[0] == 1.0 and curve["tail"].iloc[-1] == pytest.approx(10_000)
    p50 = curve.iloc[(curve["percentile"] - 50).abs().argmin()]
    assert p50["percentile"] == pytest.approx(50, abs=1.0)
    assert p50["value_ms"] == pytest.approx(50.0, rel=0.03)
    assert curve["percentile"].iloc[-1] == pytest.approx(99.99)


def test_percentile_curve_of_an_empty_histogram() -> None:
    assert percentile_curve(LatencyHistogram()).empty


def test_value_counts_keep_every_count() -> None:
    h = LatencyHistogram()
    h.record(1_000, 5)
    h.record(2_000_000, 3)
    buckets = value_counts(h)
    assert buckets["count"].tolist() == [5, 3]
    assert np.allclose(buckets["value_ms"], [1.0, 2000.0], rtol=1e-3)


def test_no_summary_is_partial_and_phases_come_from_the_timeseries(bundle: Path) -> None:
    summary = json.loads((bundle / "summary.json").read_text())
    (bundle / "summary.json").unlink()
    with open(bundle / "timeseries.csv", "a") as f:
        f.write("1800000040,40,stop,100")  # a row cut short by kill -9
    loaded = load_bundle(bundle)
    assert loaded.partial and loaded.summary is None
    assert loaded.missing == ("summary.json",)
    assert "missing summary.json" in str(loaded.partial_reason)
    assert loaded.timeseries is not None and len(loaded.timeseries) == 40
    steady = loaded.histograms["ttft"]["steady"]
    assert summarize_ms(steady) == summary["metrics_by_phase"]["steady"]["ttft"]


def test_missing_hlog_and_partial_flag(bundle: Path) -> None:
    summary_path = bundle / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(partial=True, partial_reason="interrupted")
    summary_path.write_text(json.dumps(summary))
    (bundle / "itl.hlog").unlink()
    loaded = load_bundle(bundle)
    assert loaded.partial and loaded.missing == ("itl.hlog",)
    assert loaded.partial_reason == "interrupted; missing itl.hlog"
    assert "itl" not in loaded.metrics() and "ttft" in loaded.metrics()


@pytest.mark.parametrize("make", [lambda p: p / "nowhere", lambda p: p])
def test_not_a_bundle_is_a_one_line_error(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    with pytest.raises(BundleError, match="no result bundle at") as info:
        load_bundle(make(tmp_path))
    assert "\n" not in str(info.value)


def test_malformed_hlog_is_a_bundle_error(bundle: Path) -> None:
    (bundle / "ttft.hlog").write_text(
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n1800000000.0,1.0,1.0,notbase64!!\n'
    )
    with pytest.raises(BundleError, match="ttft.hlog"):
        load_bundle(bundle)
