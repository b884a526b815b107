"""The dead-target check, tick by tick on a fake clock: it fires only when no session is up, no
connection attempt succeeds and some fail for the whole window."""

from __future__ import annotations

from rtbench.load.liveness import RunStops, TargetDown, TargetLiveness
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.interval import Interval
from rtbench.metrics.phases import Phase


def _feed(liveness: TargetLiveness, ticks: list[tuple[float, int, int, int]]) -> list[TargetDown]:
    """Feed (time, sessions, connect_ok, connect_failed) ticks; the verdicts given."""
    fired = []
    for t, sessions, ok, failed in ticks:
        down = liveness.observe(t, sessions, {"connect_ok": ok, "connect_failed": failed})
        if down is not None:
            fired.append(down)
    return fired


def test_a_target_that_dies_is_down_after_the_window_once() -> None:
    liveness = TargetLiveness(5.0)
    up = [(float(t), 10, 10, 0) for t in range(5)]
    down = [(5.0 + t, 0, 10, 3 * t) for t in range(12)]
    fired = _feed(liveness, up + down)
    assert len(fired) == 1
    assert fired[0].since == 5.0 and fired[0].down_for_s == 5.0 and fired[0].failed_connects == 15
    assert fired[0].was_up and fired[0].reason == "target stopped answering"
    assert "no session connected for 5.0 s and 15 connection attempts failed" in fired[0].detail
    assert liveness.fired is fired[0]


def test_a_target_back_within_the_window_is_not_down() -> None:
    liveness = TargetLiveness(5.0)
    ticks = [(0.0, 10, 10, 0), *((1.0 + t, 0, 10, 2 * t) for t in range(4)), (5.0, 4, 14, 8), (6.0, 10, 20, 8)]
    ticks += [(7.0 + t, 0, 20, 8 + t) for t in range(4)]  # down again, 4 s only
    assert _feed(liveness, ticks) == []


def test_a_connection_that_succeeds_restarts_the_window_even_if_it_dropped_between_ticks() -> None:
    liveness = TargetLiveness(3.0)
    ticks = [(0.0, 1, 1, 0), (1.0, 0, 1, 1), (2.0, 0, 1, 2), (3.0, 0, 2, 3), (4.0, 0, 2, 4), (5.0, 0, 2, 5)]
    assert _feed(liveness, ticks) == []
    assert _feed(liveness, [(6.0, 0, 2, 6)]) != []  # 3 s since the last success was seen


def test_no_failed_attempt_means_no_verdict() -> None:
    """Sessions closed by a quiet server that nobody tries to reach again say nothing."""
    liveness = TargetLiveness(2.0)
    assert _feed(liveness, [(0.0, 3, 3, 0), *((1.0 + t, 0, 3, 0) for t in range(10))]) == []


def test_a_target_that_never_accepted_a_session_refused_every_connection() -> None:
    liveness = TargetLiveness(2.0)
    fired = _feed(liveness, [(float(t), 0, 0, 4 * t) for t in range(5)])
    assert [f.reason for f in fired] == ["target refused every connection"]
    assert "no session ever connected" in fired[0].detail


def test_zero_turns_it_off_and_reset_forgets_a_planned_outage() -> None:
    off = TargetLiveness(0.0)
    assert _feed(off, [(float(t), 0, 0, t) for t in range(30)]) == []
    liveness = TargetLiveness(3.0)
    _feed(liveness, [(0.0, 5, 5, 0), (1.0, 0, 5, 1), (2.0, 0, 5, 2)])
    liveness.reset()
    assert _feed(liveness, [(3.0, 0, 5, 3), (4.0, 0, 5, 4), (5.0, 0, 5, 5)]) == []
    assert _feed(liveness, [(6.0, 0, 5, 6)]) != []


def test_run_stops_reads_the_aggregator_and_spares_a_planned_outage() -> None:
    aggregator = Aggregator(lambda second: Phase.STEADY)
    aggregator.add(Interval(100, {}, {}, {"connect_ok": 4}))
    asked: list[Aggregator] = []

    def abort(seen: Aggregator) -> tuple[str, str] | None:
        asked.append(seen)
        return ("aborted: delivery breached", "delivery is 80%") if len(asked) == 3 else None

    aborting, dying, planned = RunStops(2.0, abort), RunStops(2.0), RunStops(2.0)
    for t in range(2):
        assert aborting.check(101.0 + t, 4, aggregator) is None  # sessions up, no breach yet
    assert aborting.check(103.0, 4, aggregator) == ("aborted: delivery breached", "aborted", "delivery is 80%")
    assert asked == [aggregator] * 3
    for t in range(3):  # every session down, reconnects refused (counted in open seconds too)
        aggregator.add(Interval(101 + t, {}, {}, {"connect_failed": 5}))
        assert planned.check(101.0 + t, 0, aggregator, planned_outage=True) is None
        stop = dying.check(101.0 + t, 0, aggregator)
        assert (stop is None) == (t < 2)
    assert stop is not None and stop[:2] == ("target stopped answering", "target_down")
    assert stop[2].endswith("no session connected for 2.0 s and 10 connection attempts failed")
