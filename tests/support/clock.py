"""A clock for tests: it reads `now` and moves only when told (rich's `get_time=` idea)."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """A callable clock standing at `now` (seconds); set `now` or `advance` it."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds`; the new time."""
        self.now += seconds
        return self.now
