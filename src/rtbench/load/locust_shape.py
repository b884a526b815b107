"""The Locust adapter of `rtbench.shape`: a compiled `ShapeSpec` as Locust's `LoadTestShape`, so
Locust's own runner follows it. Only the adapter lives here (only load/ imports locust)."""

from __future__ import annotations

from locust import LoadTestShape

from rtbench.shape import ShapeSpec

__all__ = ["LocustShape"]


class LocustShape(LoadTestShape):
    """Ticks (users, spawn rate) from a `ShapeSpec`, then None when it is over."""

    def __init__(self, spec: ShapeSpec) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # locust is not annotated
        self.spec = spec

    def tick(self) -> tuple[int, float] | None:
        return self.spec.at(self.get_run_time())  # type: ignore[no-untyped-call]
