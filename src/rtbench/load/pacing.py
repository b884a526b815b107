"""Think time between turns, with a randomised start that does not line users up later."""

from __future__ import annotations

import random

from rtbench.config import ThinkTime

__all__ = ["Pacer"]


class Pacer:
    """Decides how long a user waits before its next turn.

    The first turn waits a random fraction of one think time, so users spread out. With pacing,
    later turns are scheduled from the start of the previous one, and the pacing clock starts at
    the end of that random first wait (not when the user was created), so staggered users stay
    staggered.
    """

    __slots__ = ("_think", "_rng", "_next_start")

    def __init__(self, think: ThinkTime, rng: random.Random | None = None) -> None:
        self._think = think
        self._rng = rng or random.Random()
        self._next_start: float | None = None

    def _draw(self) -> float:
        return self._rng.uniform(self._think.low, self._think.high)

    def initial_delay(self) -> float:
        """A random delay in [0, one think time) before the first turn."""
        return self._rng.uniform(0.0, self._think.high)

    def turn_started(self, now: float) -> None:
        """Note that a turn started at `now` (monotonic seconds)."""
        if self._think.pacing:
            self._next_start = now + self._draw()

    def wait_after_turn(self, now: float) -> float:
        """Seconds to wait, at `now` after a turn ended, before the next one."""
        if self._think.pacing and self._next_start is not None:
            return max(0.0, self._next_start - now)
        return self._draw()
