from __future__ import annotations

import multiprocessing
import os
import random
import signal
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from rtbench.bundle.hlog import IntervalLogWriter, read_hlog
from rtbench.errors import BundleError
from rtbench.metrics.aggregate import Aggregator, ClosedSecond
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.interval import Bucket
from rtbench.metrics.phases import Phase, PhaseBoundaries

START = 1_764_290_000.37
PERCENTILES = [0.0, 50.0, 90.0, 99.0, 99.9, 100.0]


def _histograms(n_seconds: int) -> dict[int, LatencyHistogram]:
    rng = random.Random(3)
    out = {}
    for i in range(n_seconds):
        h = LatencyHistogram()
        for _ in range(500):
            h.record(rng.lognormvariate(9.5, 1.0))
        out[int(START) + i] = h
    return out


def _write(path: Path, histograms: dict[int, LatencyHistogram]) -> None:
    with IntervalLogWriter(path, START) as log:
        for second, h in histograms.items():
            log.write(second, h)


def test_header_lines(tmp_path: Path) -> None:
    path = tmp_path / "ttft.hlog"
    _write(path, {})
    lines = path.read_text().splitlines()
    assert lines[0] == "#[Histogram log format version 1.2]"
    assert lines[1].startswith("#[StartTime: 1764290000.000 (seconds since epoch), 2025-11-28T")
    assert lines[2].startswith("#[BaseTime: 0.0")
    assert lines[3].startswith('"StartTimestamp","Interval_Length","Interval_Max"')


def test_hdrh_reader_reads_back_exactly_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "ttft.hlog"
    written = _histograms(5)
    _write(path, written)

    # hdrh's own reader, with its default (relative) time range
    reader = HistogramLogReader(str(path), HdrHistogram(1, 3_600_000_000, 3))
    read: list[HdrHistogram] = []
    while (hdr := reader.get_next_interval_histogram()) is not None:
        read.append(hdr)
    assert reader.get_start_time_sec() == float(int(START))
    reader.close()

    assert len(read) == len(written)
    for hdr, (second, h) in zip(read, written.items(), strict=False):
        assert hdr.get_start_time_stamp() == second * 1000.0
        assert hdr.get_end_time_stamp() == (second + 1) * 1000.0
        assert list(hdr.counts) == list(h.hdr.counts)
        assert hdr.get_max_value() == h.hdr.get_max_value()

    assert [(t, list(h.hdr.counts)) for t, h in read_hlog(path)] == [
        (float(s), list(h.hdr.counts)) for s, h in written.items()
    ]


def test_merged_intervals_have_the_percentiles_of_the_total(tmp_path: Path) -> None:
    path = tmp_path / "e2e.hlog"
    written = _histograms(8)
    _write(path, written)
    total = LatencyHistogram()
    for h in written.values():
        total.add(h)
    merged = LatencyHistogram()
    for _, h in read_hlog(path):
        merged.add(h)
    assert merged.total_count == total.total_count == 8 * 500
    assert merged.percentiles(PERCENTILES) == total.percentiles(PERCENTILES)
    assert (merged.min_us, merged.max_us) == (total.min_us, total.max_us)


def test_logged_seconds_of_a_phase_add_up_to_the_aggregator_totals(tmp_path: Path) -> None:
    path = tmp_path / "ttft.hlog"
    bounds = PhaseBoundaries(ramp_end=START + 2.0, stop_start=START + 6.0)
    steady_seconds: list[int] = []
    with IntervalLogWriter(path, START) as log:

        def on_closed(closed: ClosedSecond) -> None:
            if closed.phase is Phase.STEADY:
                steady_seconds.append(closed.second)
            if "ttft" in closed.histograms:
                log.write(closed.second, closed.histograms["ttft"])

        agg = Aggregator(bounds, on_closed, grace_s=2)
        for worker in range(2):
            for second, h in _histograms(8).items():
                bucket = Bucket()
                bucket.histogram("ttft").add(h)
                bucket.histogram("ttft").record(worker + 1.0)
                agg.add(bucket.to_interval(second))
        agg.close_all()

    steady = LatencyHistogram()
    for start, h in read_hlog(path):
        if int(start) in steady_seconds:
            steady.add(h)
    total = agg.totals([Phase.STEADY])["ttft"]
    assert steady_seconds == [int(START) + i for i in (3, 4, 5)]  # 2 and 6 straddle
    assert steady.total_count == total.total_count == 3 * 2 * 501
    assert steady.percentiles(PERCENTILES) == total.percentiles(PERCENTILES)
    assert list(steady.hdr.counts) == list(total.hdr.counts)


def test_interval_max_is_reported_in_ms_not_floored_to_zero(tmp_path: Path) -> None:
    path = tmp_path / "itl.hlog"
    h = LatencyHistogram()
    h.record(12_345)  # 12.345 ms
    _write(path, {int(START) + 1: h})
    line = path.read_text().splitlines()[-1]
    start, length, interval_max, payload = line.split(",")
    assert float(start) == int(START) + 1
    assert float(length) == 1.0
    assert float(interval_max) == 12.0  # hdrh floors to whole units of the ratio (ms)
    assert payload.startswith("HIST")


def _write_then_hang(path: str, ready: multiprocessing.synchronize.Event) -> None:
    log = IntervalLogWriter(path, START)
    for second, h in _histograms(3).items():
        log.write(second, h)
    ready.set()
    signal.pause()


def test_a_killed_writer_leaves_every_written_second_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "ttft.hlog"
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_write_then_hang, args=(str(path), ready))
    child.start()
    try:
        assert ready.wait(30)
    finally:
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(10)
    assert child.exitcode == -signal.SIGKILL
    assert [t for t, _ in read_hlog(path)] == [float(s) for s in _histograms(3)]


def test_write_refuses_a_non_epoch_second(tmp_path: Path) -> None:
    with IntervalLogWriter(tmp_path / "x.hlog", START) as log, pytest.raises(ValueError):
        log.write(0, LatencyHistogram())


def test_missing_log_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read histogram log"):
        read_hlog(tmp_path / "nope.hlog")


def test_corrupt_payload_is_a_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.hlog"
    path.write_text("1764290000.000,1.000,1.0,HISTFAAAAnotbase64!!\n")
    with pytest.raises(BundleError, match="malformed histogram log"):
        read_hlog(path)


def test_log_of_another_config_is_a_bundle_error(tmp_path: Path) -> None:
    other = HdrHistogram(1, 60_000_000, 2)
    other.record_value(100)
    path = tmp_path / "other.hlog"
    path.write_text(f"1764290000.000,1.000,0.0,{other.encode().decode()}\n")
    with pytest.raises(BundleError, match="differs"):
        read_hlog(path)


def test_a_last_line_cut_anywhere_is_dropped(tmp_path: Path) -> None:
    """A run killed in the middle of writing a line leaves every earlier interval readable."""
    whole = tmp_path / "whole.hlog"
    written = _histograms(3)
    _write(whole, written)
    text = whole.read_text()
    last_start = text.rindex("\n", 0, len(text) - 1) + 1
    seconds = [float(s) for s in written]
    for cut in range(last_start + 1, len(text) - 1, 7):
        path = tmp_path / "cut.hlog"
        path.write_text(text[:cut])
        assert [t for t, _ in read_hlog(path)] == seconds[:2], cut


def test_a_bad_line_before_the_last_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.hlog"
    path.write_text("1764290000.000,1.000,1.0,HISTFAAAAnotbase64!!\n1764290001.000,1.000,1.0,HISTFAAAA")
    with pytest.raises(BundleError, match="malformed histogram log"):
        read_hlog(path)
