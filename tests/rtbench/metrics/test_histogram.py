from __future__ import annotations

import multiprocessing
import random

import pytest
from hdrh.histogram import HdrHistogram

from rtbench.metrics.histogram import (
    HIGHEST_US,
    LOWEST_US,
    SUMMARY_KEYS,
    HistogramConfigMismatch,
    LatencyHistogram,
    summarize_ms,
)

PERCENTILES = [0.0, 1.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0]


def _values(seed: int, n: int) -> list[float]:
    """Latencies over six decades, with a few out of range at both ends."""
    rng = random.Random(seed)
    values = [rng.lognormvariate(9.0, 2.0) for _ in range(n)]
    values += [0.0, 0.3, -5.0, -0.5, HIGHEST_US + 1.0, 1e12, 2e12]
    return values


def _out_of_range(values: list[float]) -> int:
    return sum(1 for v in values if not 0 <= v <= HIGHEST_US)


def _counts(h: LatencyHistogram) -> list[int]:
    return list(h.hdr.counts)


def _record_in_child(args: tuple[int, int]) -> tuple[bytes, int]:
    seed, n = args
    h = LatencyHistogram()
    for v in _values(seed, n):
        h.record(v)
    return h.encode(), h.clamped


def test_in_range_values_are_rounded_and_not_clamped() -> None:
    h = LatencyHistogram()
    h.record(1.0)
    h.record(1500.4)
    h.record(1500.6, count=3)
    h.record(HIGHEST_US)
    assert h.clamped == 0
    assert h.total_count == 6
    assert h.hdr.get_count_at_value(1500) == 1
    assert h.hdr.get_count_at_value(1501) == 3
    assert h.min_us == 1


def test_out_of_range_values_are_clamped_and_counted() -> None:
    h = LatencyHistogram()
    h.record(-20.0, count=2)
    h.record(HIGHEST_US + 10)
    h.record(float("inf"))
    assert h.clamped == 4
    assert h.total_count == 4  # nothing dropped
    assert h.hdr.get_count_at_value(0) == 2
    assert h.hdr.get_count_at_value(HIGHEST_US) == 2
    assert h.min_us == 0
    assert h.max_us is not None and h.max_us >= HIGHEST_US


def test_sub_microsecond_values_are_in_range() -> None:
    """A gap of 0 is real (two frames in one read): recorded as it rounds, never 'clamped'."""
    h = LatencyHistogram()
    h.record(0.0, count=3)
    h.record(0.4)
    h.record(0.6)
    assert h.clamped == 0 and h.total_count == 5
    assert h.hdr.get_count_at_value(0) == 4 and h.hdr.get_count_at_value(LOWEST_US) == 1


def test_record_matches_hdrh_record_value_at_every_bucket_edge() -> None:
    edges = {v for k in range(33) for v in (2**k - 1, 2**k, 2**k + 1, 3 * 2**k)}
    rng = random.Random(7)
    values = sorted(
        v for v in edges | {rng.randrange(1, HIGHEST_US) for _ in range(5000)} if LOWEST_US <= v <= HIGHEST_US
    ) + [HIGHEST_US]
    ours, theirs = LatencyHistogram(), HdrHistogram(LOWEST_US, HIGHEST_US, 3)
    for count, value in enumerate(values, 1):
        ours.record(value + 0.2, count)  # rounds down to `value`
        assert theirs.record_value(value, count)
    assert _counts(ours) == list(theirs.counts)
    assert (ours.hdr.total_count, ours.hdr.min_value, ours.hdr.max_value) == (
        theirs.total_count,
        theirs.min_value,
        theirs.max_value,
    )
    assert ours.encode() == theirs.encode()


def test_a_histogram_of_another_config_is_refused() -> None:
    with pytest.raises(HistogramConfigMismatch):
        LatencyHistogram(HdrHistogram(1, 60_000_000, 3))


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        LatencyHistogram().record(float("nan"))


def test_encode_decode_round_trip_keeps_every_count() -> None:
    h = LatencyHistogram()
    values = _values(1, 5000)
    for v in values:
        h.record(v)
    back = LatencyHistogram.decode(h.encode(), clamped=h.clamped)
    assert _counts(back) == _counts(h)
    assert (back.total_count, back.min_us, back.max_us) == (h.total_count, h.min_us, h.max_us)
    assert back.percentiles(PERCENTILES) == h.percentiles(PERCENTILES)
    assert back.clamped == h.clamped == _out_of_range(values) >= 5


@pytest.mark.parametrize(
    ("lowest", "highest", "figures"),
    [(1, 60_000_000, 3), (1, HIGHEST_US, 2), (1000, HIGHEST_US, 3)],
)
def test_decoding_another_config_is_refused(lowest: int, highest: int, figures: int) -> None:
    other = HdrHistogram(lowest, highest, figures)
    other.record_value(5000)
    data = other.encode()
    with pytest.raises(HistogramConfigMismatch):
        LatencyHistogram.decode(data)
    h = LatencyHistogram()
    with pytest.raises(HistogramConfigMismatch):
        h.add_encoded(data)
    assert h.total_count == 0


def test_adding_an_empty_histogram_keeps_min() -> None:
    h = LatencyHistogram()
    h.record(700)
    h.add(LatencyHistogram())
    h.add_encoded(LatencyHistogram().encode())
    assert h.min_us == 700
    assert h.total_count == 1


def test_time_stamps_of_a_fresh_histogram_follow_what_is_added() -> None:
    a = LatencyHistogram()
    a.record(10)
    a.start_ms, a.end_ms = 5_000.0, 6_000.0
    b = LatencyHistogram()
    b.record(20)
    b.start_ms, b.end_ms = 6_000.0, 7_000.0
    total = LatencyHistogram()
    total.add(b)
    total.add(a)
    assert (total.start_ms, total.end_ms) == (5_000.0, 7_000.0)


def test_merge_across_processes_equals_one_histogram_of_all_values() -> None:
    jobs = [(seed, 20_000) for seed in (11, 22, 33)]
    with multiprocessing.get_context("fork").Pool(3) as pool:
        encoded = pool.map(_record_in_child, jobs)

    merged = LatencyHistogram()
    for data, clamped in encoded:
        merged.add_encoded(data, clamped)

    single = LatencyHistogram()
    for seed, n in jobs:
        for v in _values(seed, n):
            single.record(v)

    assert merged.total_count == single.total_count == 3 * 20_007
    assert _counts(merged) == _counts(single)
    assert merged.percentiles(PERCENTILES) == single.percentiles(PERCENTILES)
    assert (merged.min_us, merged.max_us) == (single.min_us, single.max_us)
    assert merged.mean_us == single.mean_us
    expected_clamped = sum(_out_of_range(_values(seed, n)) for seed, n in jobs)
    assert merged.clamped == single.clamped == expected_clamped == 3 * 5


def test_percentiles_of_known_values() -> None:
    h = LatencyHistogram()
    for v in range(1, 1001):  # exact below 2048 at 3 significant figures
        h.record(v)
    expected = {50.0: 500, 90.0: 900, 99.0: 990, 100.0: 1000}
    assert h.percentiles([50.0, 90.0, 99.0, 100.0]) == expected
    assert LatencyHistogram().percentiles([50.0]) == {}


def test_summarize_ms() -> None:
    h = LatencyHistogram()
    for v in range(1, 1001):
        h.record(v)
    s = summarize_ms(h)
    assert list(s) == list(SUMMARY_KEYS)
    assert s == {
        "count": 1000,
        "min": 0.001,
        "mean": 0.5,
        "p50": 0.5,
        "p90": 0.9,
        "p95": 0.95,
        "p99": 0.99,
        "p99_9": 0.999,
        "max": 1.0,
    }
    assert isinstance(s["count"], int)


def test_summarize_empty_histogram() -> None:
    s = summarize_ms(LatencyHistogram())
    assert s["count"] == 0
    assert all(s[k] is None for k in SUMMARY_KEYS if k != "count")


def test_dropped_histograms_are_freed_without_the_cycle_collector() -> None:
    """hdrh's histogram and its encoder refer to each other; a run's per-second histograms must
    still go as soon as they are dropped, since the GC tuning makes full collections rare."""
    import gc
    import weakref

    source = LatencyHistogram()
    source.record(1500)
    data = source.encode()
    gc.disable()
    try:
        fresh, decoded = LatencyHistogram(), LatencyHistogram.decode(data)
        merged = LatencyHistogram()
        merged.add_encoded(data)
        refs = [weakref.ref(h.hdr) for h in (fresh, decoded, merged)]
        assert decoded.encode() == data  # the encoder still reaches its histogram
        del fresh, decoded, merged
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
