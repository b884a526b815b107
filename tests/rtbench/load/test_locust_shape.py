"""The Locust adapter follows its `ShapeSpec` by Locust's own run clock, and ends with it.

Importing locust monkey-patches the process (threads included), which would break the pytest-xdist
worker running this test, so the checks run in a Python process of their own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECKS = textwrap.dedent(
    """
    import time

    from locust import LoadTestShape

    from rtbench.load.locust_shape import LocustShape
    from rtbench.config import parse_duration
    from rtbench.shape import compile_shape


    def at(shape, elapsed_s):
        shape.start_time = time.perf_counter() - elapsed_s  # Locust's run clock, as if started then
        return shape.tick()


    spec = compile_shape(
        {"kind": "step", "start_users": 5, "step_users": 5, "step_every": "4s", "steps": 3}, 10.0, parse_duration
    )
    shape = LocustShape(spec)
    assert isinstance(shape, LoadTestShape) and shape.spec is spec
    ticks = [at(shape, t) for t in (0.5, 4.5, 8.5)]
    assert ticks == [(5, 10.0), (10, 10.0), (15, 10.0)], ticks
    assert at(shape, 12.5) is None
    print("ok")
    """
)


def test_ticks_follow_the_spec_then_stop() -> None:
    proc = subprocess.run([sys.executable, "-c", CHECKS], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
