from __future__ import annotations

import random

from support.clock import FakeClock

from rtbench.metrics.aggregate import Aggregator, ClosedSecond
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.phases import Phase, PhaseBoundaries
from rtbench.metrics.recorder import Interval, Recorder

PERCENTILES = [0.0, 50.0, 90.0, 99.0, 99.9, 100.0]


def _interval(second: int, metric: str, values: list[float], **counters: int) -> Interval:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return Interval(second, {metric: h.encode()}, {}, dict(counters))


def _two_workers_and_one_recorder() -> tuple[list[Interval], Recorder]:
    """Two worker recorders and one recorder that sees every value of both."""
    rng = random.Random(5)
    clocks = [FakeClock(0.0), FakeClock(0.0)]
    workers = [Recorder(clocks[0]), Recorder(clocks[1])]
    everything_clock = FakeClock(0.0)
    everything = Recorder(everything_clock)
    for step in range(3000):
        w = step % 2
        now = 100.0 + step * 0.002 + rng.random() * 0.01
        value = rng.expovariate(1 / 20_000)
        clocks[w].now = everything_clock.now = now
        for rec in (workers[w], everything):
            rec.record("ttft", value)
            rec.count("turns_sent")
    intervals = workers[0].take_closed() + workers[1].take_closed()
    return intervals, everything


def test_merging_two_workers_equals_recording_all_values_in_one() -> None:
    intervals, everything = _two_workers_and_one_recorder()
    closed: list[ClosedSecond] = []
    agg = Aggregator(lambda s: Phase.STEADY, closed.append)
    for interval in intervals:
        agg.add(interval)
    agg.close_all()

    reference = {i.second: i for i in everything.take_closed()}
    assert [c.second for c in closed] == sorted(reference)
    for c in closed:
        one = LatencyHistogram.decode(reference[c.second].histograms["ttft"])
        merged = c.histograms["ttft"]
        assert list(merged.hdr.counts) == list(one.hdr.counts)
        assert merged.percentiles(PERCENTILES) == one.percentiles(PERCENTILES)
        assert c.counters == reference[c.second].counters
        assert (merged.start_ms, merged.end_ms) == (c.second * 1000.0, (c.second + 1) * 1000.0)

    total = agg.totals([Phase.STEADY])["ttft"]
    whole = LatencyHistogram()
    for i in reference.values():
        whole.add_encoded(i.histograms["ttft"])
    assert list(total.hdr.counts) == list(whole.hdr.counts)
    assert (total.min_us, total.max_us) == (whole.min_us, whole.max_us)
    assert agg.counters([Phase.STEADY]) == {"turns_sent": 3000}
    assert total.start_ms == min(reference) * 1000.0


def test_seconds_close_after_the_grace_period_in_order_with_gaps() -> None:
    closed: list[ClosedSecond] = []
    agg = Aggregator(lambda s: Phase.STEADY, closed.append, grace_s=3)
    agg.add(_interval(12, "e2e", [5.0]))
    agg.add(_interval(10, "e2e", [1.0]))
    agg.close_through(12.9)  # closes <= 9: nothing with data yet
    assert closed == []
    agg.close_through(14.0)  # closes <= 11: 10 and the empty 11
    assert [c.second for c in closed] == [10, 11]
    assert closed[1].histograms == {} and closed[1].counters == {}
    assert agg.open_seconds == [12]
    agg.close_all()
    assert [c.second for c in closed] == [10, 11, 12]
    assert agg.closed_seconds == 3


def test_phase_assignment_uses_the_boundaries_at_closing_time() -> None:
    bounds = PhaseBoundaries()
    closed: list[ClosedSecond] = []
    agg = Aggregator(bounds, closed.append, grace_s=1)
    for second in range(100, 110):
        agg.add(_interval(second, "ttft", [float(second)], turns_sent=1))
    agg.close_through(102.0)  # 100, 101 while the ramp end is unknown
    bounds.ramp_end = 102.5
    bounds.stop_start = 107.2
    agg.close_all()
    phases = {c.second: c.phase for c in closed}
    assert phases == {
        100: Phase.RAMP,
        101: Phase.RAMP,
        102: Phase.RAMP,  # straddles the ramp end
        103: Phase.STEADY,
        104: Phase.STEADY,
        105: Phase.STEADY,
        106: Phase.STEADY,
        107: Phase.STOP,  # straddles the stop
        108: Phase.STOP,
        109: Phase.STOP,
    }
    assert agg.counters([Phase.STEADY]) == {"turns_sent": 4}
    assert agg.totals([Phase.STEADY])["ttft"].total_count == 4
    assert agg.totals([Phase.RAMP, Phase.STOP])["ttft"].total_count == 6
    assert agg.totals(list(Phase))["ttft"].total_count == 10


def test_late_intervals_are_folded_into_the_totals() -> None:
    closed: list[ClosedSecond] = []
    late: list[ClosedSecond] = []
    agg = Aggregator(lambda s: Phase.STEADY, closed.append, grace_s=0, on_late=late.append)
    agg.add(_interval(20, "itl", [100.0], tokens=1))
    agg.close_through(21.0)
    agg.add(_interval(20, "itl", [200.0, 300.0], tokens=2))  # a slow worker
    agg.add(_interval(19, "itl", [400.0], tokens=1))  # before anything closed
    assert agg.late_intervals == 2
    assert [c.second for c in closed] == [20, 21]
    assert [(c.second, c.histograms["itl"].total_count) for c in late] == [(20, 2), (19, 1)]
    assert agg.totals([Phase.STEADY])["itl"].total_count == 4
    assert agg.counters([Phase.STEADY]) == {"tokens": 4}


def test_clamped_counts_are_summed_per_phase() -> None:
    closed: list[ClosedSecond] = []
    agg = Aggregator(lambda s: Phase.RAMP if s < 2 else Phase.STEADY, closed.append, grace_s=0)
    h = LatencyHistogram()
    h.record(0.0)
    for second in (1, 2, 2):
        agg.add(Interval(second, {"connect": h.encode()}, {"connect": 1}, {}))
    agg.close_all()
    assert [c.clamped for c in closed] == [{"connect": 1}, {"connect": 2}]
    assert agg.clamped([Phase.STEADY]) == {"connect": 2}
    assert agg.clamped(list(Phase)) == {"connect": 3}
    assert agg.totals([Phase.STEADY])["connect"].clamped == 2
    assert agg.clamped([Phase.STOP]) == {}


def test_totals_are_copies() -> None:
    agg = Aggregator(lambda s: Phase.STEADY, grace_s=0)
    agg.add(_interval(1, "e2e", [10.0]))
    agg.close_all()
    agg.totals([Phase.STEADY])["e2e"].record(20.0)
    assert agg.totals([Phase.STEADY])["e2e"].total_count == 1


def test_running_counters_hold_closed_and_open_seconds_of_every_phase() -> None:
    agg = Aggregator(lambda s: Phase.RAMP if s < 12 else Phase.STEADY, grace_s=2)
    agg.add(_interval(10, "ttft", [], connect_ok=3, connect_failed=1))
    agg.add(_interval(12, "ttft", [], connect_failed=2))
    agg.close_through(14.5)  # closes 10..12
    agg.add(_interval(13, "ttft", [], connect_failed=4))  # still open
    assert agg.open_seconds == [13]
    assert agg.running_counters() == {"connect_ok": 3, "connect_failed": 7}
    assert agg.counters(list(Phase)) == {"connect_ok": 3, "connect_failed": 3}  # closed only
