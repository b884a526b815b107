from __future__ import annotations

import random
import statistics

import pytest

from rtbench.load.arrivals import ArrivalSchedule


def test_constant_arrivals_keep_their_grid_whatever_happens() -> None:
    schedule = ArrivalSchedule("constant", 4.0, random.Random(1), start=100.0)
    first = schedule.planned
    assert 100.0 <= first < 100.25
    assert schedule.wait(99.0) == pytest.approx(first - 99.0)
    planned = [schedule.take() for _ in range(5)]
    assert planned == pytest.approx([first + 0.25 * i for i in range(5)])
    # a late turn does not shift the plan: the next one is still on the grid
    assert schedule.wait(first + 10.0) == 0.0
    assert schedule.take() == pytest.approx(first + 1.25)


def test_constant_phases_spread_users_over_one_interval() -> None:
    rng = random.Random(2)
    phases = [ArrivalSchedule("constant", 2.0, rng, start=0.0).planned for _ in range(1000)]
    assert 0.0 <= min(phases) and max(phases) < 0.5
    assert statistics.mean(phases) == pytest.approx(0.25, abs=0.02)


def test_poisson_gaps_are_exponential_with_the_rate() -> None:
    schedule = ArrivalSchedule("poisson", 5.0, random.Random(3), start=0.0)
    times = [schedule.take() for _ in range(20_000)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.03)
    assert statistics.pstdev(gaps) == pytest.approx(0.2, rel=0.05)  # exponential: sd == mean


def test_bad_kind_or_rate() -> None:
    with pytest.raises(ValueError):
        ArrivalSchedule("closed", 1.0, random.Random(), 0.0)
    with pytest.raises(ValueError):
        ArrivalSchedule("poisson", 0.0, random.Random(), 0.0)
