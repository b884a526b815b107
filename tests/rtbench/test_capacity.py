from __future__ import annotations

import pytest

from rtbench.capacity import CapacitySearch, Step


def search(knee: int, **kwargs: object) -> CapacitySearch:
    """Drive a search against a target that meets its SLOs up to `knee`."""
    s = CapacitySearch(**kwargs)  # type: ignore[arg-type]
    for _ in range(100):
        load = s.next_load()
        if load is None:
            return s
        s.record(Step(load, passed=load <= knee))
    raise AssertionError("the search did not end")


@pytest.mark.parametrize("knee", [7, 20, 33, 100, 999])
def test_finds_the_knee_within_the_resolution(knee: int) -> None:
    s = search(knee, start=5, maximum=10_000, resolution=0.1)
    assert s.answer is not None and s.answer <= knee
    assert knee - s.answer <= max(1, 0.1 * s.answer)
    assert len(s.steps) <= 2 + 2 * len(bin(knee))  # geometric up, then bisection


def test_steps_double_then_bisect() -> None:
    s = search(20, start=5, maximum=1000)
    assert [step.load for step in s.steps] == [5, 10, 20, 40, 30, 25, 22]
    assert s.answer == 20 and s.reason == "SLOs met at 20 and breached at 22"


def test_never_beyond_the_maximum() -> None:
    s = search(10_000, start=5, maximum=60)
    assert max(step.load for step in s.steps) == 60
    assert s.answer == 60 and "up to the maximum" in s.reason


def test_breach_at_the_start() -> None:
    s = search(2, start=5, maximum=100)
    assert s.answer is None and [step.load for step in s.steps] == [5]
    assert "smallest load" in s.reason


def test_saturated_client_ends_the_search() -> None:
    s = CapacitySearch(start=10, maximum=1000)
    s.record(Step(s.next_load() or 0, passed=True))
    s.record(Step(s.next_load() or 0, passed=True, saturated=True))
    assert s.next_load() is None
    assert s.answer == 10 and "saturated at 20" in s.reason


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CapacitySearch(start=0, maximum=10)
    with pytest.raises(ValueError):
        CapacitySearch(start=5, maximum=10, factor=1.0)
