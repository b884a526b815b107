"""The Locust adapter follows its `ShapeSpec` by Locust's own run clock, and ends with it."""

from __future__ import annotations

import time

from locust import LoadTestShape

from rtbench.load.locust_shape import LocustShape
from rtbench.scenario import parse_duration
from rtbench.shape import compile_shape


def at(shape: LocustShape, elapsed_s: float) -> tuple[int, float] | None:
    shape.start_time = time.perf_counter() - elapsed_s  # Locust's run clock, as if started then
    return shape.tick()


def test_ticks_follow_the_spec_then_stop() -> None:
    spec = compile_shape(
        {"kind": "step", "start_users": 5, "step_users": 5, "step_every": "4s", "steps": 3}, 10.0, parse_duration
    )
    shape = LocustShape(spec)
    assert isinstance(shape, LoadTestShape) and shape.spec is spec
    assert [at(shape, t) for t in (0.5, 4.5, 8.5)] == [(5, 10.0), (10, 10.0), (15, 10.0)]
    assert at(shape, 12.5) is None
