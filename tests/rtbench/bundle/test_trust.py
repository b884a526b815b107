"""Untrusted seconds and the starved verdict, fed figures by hand."""

from __future__ import annotations

from rtbench.bundle.record import SecondSample
from rtbench.bundle.trust import (
    STALL_MS,
    STARVED_TURN_SHARE,
    UNTRUSTED_LAG_MAX_MS,
    UNTRUSTED_RUNQ_DELAY_MS,
    is_untrusted,
    judge_seconds,
    share_text,
)
from rtbench.metrics.phases import Phase

STEADY = Phase.STEADY


def _second(
    second: int, turns: int = 100, lag: float | None = 5.0, delay: float | None = 0.2, **more: float
) -> SecondSample:
    return SecondSample(
        STEADY, second=second, turns_completed=turns, client_lag_max_ms=lag, client_runq_delay_ms=delay, **more
    )


def test_a_second_is_untrusted_when_the_generator_was_late_by_either_measure() -> None:
    assert not is_untrusted(_second(1))
    assert not is_untrusted(_second(1, lag=UNTRUSTED_LAG_MAX_MS, delay=UNTRUSTED_RUNQ_DELAY_MS))  # at, not over
    assert is_untrusted(_second(1, lag=UNTRUSTED_LAG_MAX_MS + 0.001))
    assert is_untrusted(_second(1, delay=UNTRUSTED_RUNQ_DELAY_MS + 0.001))  # own CPU low, waiting for a core
    assert not is_untrusted(_second(1, lag=None, delay=None))  # nothing measured: nothing held against it


def test_low_own_cpu_with_long_waits_for_a_core_is_starved() -> None:
    """The issue's case: the client's own CPU was low while it waited for a core."""
    seconds = [_second(s, turns=50, client_cpu=7.0) for s in range(10, 20)]
    seconds[3] = _second(13, turns=50, delay=4.0, client_cpu=7.0, client_runq_ms=480.0, machine_cpu=100.0)
    seconds[7] = _second(17, turns=60, delay=2.5, client_cpu=6.0, client_runq_ms=300.0, machine_cpu=99.5)
    trust = judge_seconds(seconds)
    assert trust.untrusted_seconds == (13, 17) and trust.seconds == 10
    assert trust.turns == 510 and trust.untrusted_turns == 110
    assert trust.untrusted_turn_share == round(110 / 510, 6) and trust.starved and not trust.stalled
    assert trust.runq_delay_ms_max == 4.0 and trust.runq_ms_max == 480.0 and trust.runq_ms_mean == 390.0
    assert trust.machine_cpu_max == 100.0 and trust.machine_cpu_mean == 99.8
    assert share_text(trust) == "21.6% of turns measured in untrusted seconds (2 of 10 seconds)"


def test_a_few_late_seconds_below_the_share_are_not_starvation() -> None:
    seconds = [_second(s) for s in range(100)]  # 100 turns each
    seconds[40] = _second(40, lag=UNTRUSTED_LAG_MAX_MS + 10)
    trust = judge_seconds(seconds)
    assert trust.untrusted_seconds == (40,) and trust.untrusted_turn_share == 0.01
    assert trust.untrusted_turn_share < STARVED_TURN_SHARE and not trust.starved
    assert share_text(trust) == "1.0% of turns measured in untrusted seconds (1 of 100 seconds)"


def test_one_large_stall_is_starvation_whatever_the_share() -> None:
    seconds = [_second(s, turns=1000) for s in range(60)]
    seconds[30] = _second(30, turns=5, lag=STALL_MS + 326)  # the 526 ms stall
    trust = judge_seconds(seconds)
    assert trust.lag_max_ms == 526.0 and trust.stalled and trust.starved
    assert share_text(trust) == "<0.1% of turns measured in untrusted seconds (1 of 60 seconds)"


def test_no_turn_and_no_figures() -> None:
    trust = judge_seconds([_second(0, turns=0, lag=None, delay=None)])
    assert trust.untrusted_turn_share is None and not trust.starved and trust.lag_max_ms is None
    assert trust.runq_ms_mean is None and trust.machine_cpu_max is None
    assert share_text(trust) == "no turn measured; 0 of 1 seconds untrusted"
    empty = judge_seconds([])
    assert empty.seconds == 0 and empty.untrusted_seconds == () and not empty.starved


def test_a_sample_without_its_second_is_named_by_its_index() -> None:
    late = SecondSample(STEADY, turns_completed=3, client_lag_max_ms=UNTRUSTED_LAG_MAX_MS * 2)
    assert judge_seconds([_second(7), late]).untrusted_seconds == (1,)
