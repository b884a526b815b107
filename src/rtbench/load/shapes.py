"""A compiled `ShapeSpec` as Locust's `LoadTestShape`, so Locust's own runner follows it."""

from __future__ import annotations

from locust import LoadTestShape

from rtbench.shape import ShapeSpec

__all__ = ["SpecShape"]


class SpecShape(LoadTestShape):
    """Ticks (users, spawn rate) from a `ShapeSpec`, then None when it is over."""

    def __init__(self, spec: ShapeSpec) -> None:
        super().__init__()
        self.spec = spec

    def tick(self) -> tuple[int, float] | None:
        return self.spec.at(self.get_run_time())
