"""The reconnect backoff and the uptime ledger: pure, with draws and the clock passed in."""

from __future__ import annotations

import random

import pytest

from rtbench.config import RecoveryConfig, RunConfig
from rtbench.load.recovery import Backoff, UptimeLedger


class _Draws(random.Random):
    """A Random whose `random()` returns the given values in turn."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self._values = list(values)

    def random(self) -> float:
        return self._values.pop(0)


def test_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.1, max_s=1.0, multiplier=3.0, jitter=0.0)
    assert [round(backoff.cap(n), 6) for n in range(5)] == [0.1, 0.3, 0.9, 1.0, 1.0]
    assert backoff.delay(2, random.Random(1)) == pytest.approx(0.9)  # no jitter: exactly the cap
    assert backoff.cap(10_000) == 1.0  # no overflow however many attempts


def test_full_jitter_spreads_the_wait_over_zero_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.2, max_s=5.0, multiplier=2.0, jitter=1.0)
    draws = _Draws(0.0, 0.5, 0.999)
    assert [backoff.delay(1, draws) for _ in range(3)] == pytest.approx([0.4, 0.2, 0.0004])
    rng = random.Random(7)
    delays = [backoff.delay(0, rng) for _ in range(2000)]
    assert 0.0 <= min(delays) < 0.01 and 0.19 < max(delays) <= 0.2
    assert 0.09 < sum(delays) / len(delays) < 0.11  # uniform over 0..0.2


def test_partial_jitter_keeps_the_wait_in_its_upper_part() -> None:
    backoff = Backoff(initial_s=1.0, max_s=1.0, jitter=0.25)
    assert backoff.delay(0, _Draws(0.0)) == pytest.approx(1.0)
    assert backoff.delay(0, _Draws(1.0)) == pytest.approx(0.75)


def test_backoff_from_the_run_configuration() -> None:
    config = RunConfig(
        recovery=RecoveryConfig(
            backoff_initial=0.05, backoff_max=2.0, backoff_multiplier=1.5, jitter=0.5, max_retries=3
        )
    )
    assert Backoff.from_config(config) == Backoff(0.05, 2.0, 1.5, 0.5, 3)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ledger_integrates_held_and_down_sessions_over_time() -> None:
    counted: dict[str, int] = {}
    clock = _Clock()
    ledger = UptimeLedger(lambda name, n: counted.__setitem__(name, counted.get(name, 0) + n), clock)
    ledger.change(held=2)  # two sessions up at t=100
    clock.now = 101.0
    ledger.change(down=1)  # one drops at t=101
    clock.now = 101.25
    ledger.flush()
    clock.now = 101.5
    ledger.change(down=-1)  # back at t=101.5
    clock.now = 103.0
    ledger.change(held=-2)  # both end at t=103
    clock.now = 200.0
    ledger.flush()  # nothing held: nothing more counted
    assert counted == {"session_us": 6_000_000, "downtime_us": 500_000}
    assert (ledger.held, ledger.down) == (0, 0)


def test_ledger_carries_fractions_of_a_microsecond() -> None:
    counted: list[int] = []
    clock = _Clock()
    ledger = UptimeLedger(lambda name, n: counted.append(n), clock)
    ledger.change(held=1)
    for _ in range(10):
        clock.now += 0.4e-6
        ledger.flush()
    assert sum(counted) == 4  # 10 x 0.4 us, none lost to rounding
